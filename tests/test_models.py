"""Tests for the model registry and the image GANs (DCGAN, SNGAN).

XLA compiles slowly on a small CPU, so networks are narrow, each
network is initialised once (`_build` caches), shape-only checks use
`jax.eval_shape`, which traces without compiling, test inputs come from NumPy,
and initialisation uses the "rbg" PRNG, whose random bits compile several
times faster than threefry's; the models do not depend on the PRNG.
"""

import functools

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import defaults
from gan_jax import models
from gan_jax.models import dcgan
from gan_jax.models import layers
from gan_jax.models import strided_conv

LATENT_DIM = 16
BATCH = 4
NUM_CLASSES = 3
INIT_LABELS = jnp.zeros((1,), jnp.int32)  # What state.py passes at init.
INIT_KEY = jax.random.key(0, impl="rbg")


def _config(name, **overrides):
    config = defaults.base_config().model
    config.name = name
    config.latent_dim = LATENT_DIM
    config.g_channels = 8
    config.d_channels = 8
    config.update(overrides)
    return models.read_options(config, "config.model")


def _init(module, example):
    init = jax.jit(lambda key: module.init(key, example, labels=INIT_LABELS,
                                           train=False))
    return init(INIT_KEY)


@functools.lru_cache(maxsize=None)
def _build(network, name, sample_shape, **overrides):
    """`(module, variables)` of the "generator" or "discriminator", built once."""
    generator, discriminator = models.create(_config(name, **overrides),
                                             sample_shape)
    if network == "generator":
        return generator, _init(generator, jnp.zeros((1, LATENT_DIM), jnp.float32))
    return discriminator, _init(discriminator,
                                jnp.zeros((1, *sample_shape), jnp.float32))


@functools.partial(jax.jit, static_argnames=("module", "train"))
def _apply(module, variables, inputs, labels=None, train=False):
    """Outputs, plus the new `batch_stats` in training mode."""
    if train:
        return module.apply(variables, inputs, labels=labels, train=True,
                            mutable=["batch_stats"])
    return module.apply(variables, inputs, labels=labels, train=False)


def _latents(seed=1, batch=BATCH):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal((batch, LATENT_DIM)), jnp.float32)


def _images(sample_shape, seed=2, batch=BATCH):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.uniform(-1.0, 1.0, (batch, *sample_shape)), jnp.float32)


def _flat(tree):
    return traverse_util.flatten_dict(tree, sep="/")


# --- Registry, shapes and validation -----------------------------------------

SHAPES = [("dcgan", (28, 28, 1)), ("dcgan", (28, 28, 3)), ("dcgan", (32, 32, 1)),
          ("dcgan", (32, 32, 3)), ("dcgan", (64, 64, 1)), ("dcgan", (64, 64, 3)),
          ("sngan", (32, 32, 1)), ("sngan", (32, 32, 3))]


@pytest.mark.parametrize("name, sample_shape", SHAPES)
@pytest.mark.parametrize("num_classes, d_conditioning", [
    (0, "projection"), (NUM_CLASSES, "concat"), (NUM_CLASSES, "projection")])
def test_output_shapes_and_dtypes(name, sample_shape, num_classes, d_conditioning):
    generator, discriminator = models.create(
        _config(name, num_classes=num_classes, d_conditioning=d_conditioning),
        sample_shape)
    g_vars = jax.eval_shape(functools.partial(
        generator.init, labels=INIT_LABELS, train=False),
        INIT_KEY, jnp.zeros((1, LATENT_DIM)))
    d_vars = jax.eval_shape(functools.partial(
        discriminator.init, labels=INIT_LABELS, train=False),
        INIT_KEY, jnp.zeros((1, *sample_shape)))
    labels = jnp.arange(BATCH, dtype=jnp.int32) % NUM_CLASSES
    for train in (False, True):
        images = jax.eval_shape(functools.partial(_apply, generator, train=train),
                                g_vars, _latents(), labels)
        logits = jax.eval_shape(functools.partial(_apply, discriminator, train=train),
                                d_vars, _images(sample_shape), labels)
        if train:
            images, logits = images[0], logits[0]
        assert (images.shape, images.dtype) == ((BATCH, *sample_shape), jnp.float32)
        assert (logits.shape, logits.dtype) == ((BATCH,), jnp.float32)


@pytest.mark.parametrize("name, sample_shape, num_classes", [
    ("dcgan", (28, 28, 1), 0), ("sngan", (32, 32, 3), NUM_CLASSES)])
def test_generator_in_tanh_range_and_logits_finite(name, sample_shape, num_classes):
    generator, g_vars = _build("generator", name, sample_shape,
                               num_classes=num_classes)
    discriminator, d_vars = _build("discriminator", name, sample_shape,
                                   num_classes=num_classes)
    labels = jnp.arange(BATCH, dtype=jnp.int32) % NUM_CLASSES
    images, _ = _apply(generator, g_vars, 5.0 * _latents(), labels, train=True)
    assert np.all(np.abs(images) <= 1.0)
    assert np.std(images) > 0.01  # Not a constant image.
    logits = _apply(discriminator, d_vars, images, labels)
    assert logits.shape == (BATCH,) and np.all(np.isfinite(logits))


@pytest.mark.parametrize("name, sample_shape, supported", [
    ("dcgan", (48, 48, 3), "28, 32, 64"),
    ("dcgan", (32, 16, 3), "square"),
    ("dcgan", (32, 32), "square"),
    ("sngan", (64, 64, 3), "32"),
])
def test_unsupported_image_shape_raises(name, sample_shape, supported):
    with pytest.raises(ValueError, match=supported):
        models.create(_config(name), sample_shape)


@pytest.mark.parametrize("overrides, valid", [
    ({"name": "stylegan"}, "dcgan, mlp, progressive, sngan"),
    ({"name": "dcgan", "d_norm": "spectral"}, "batch, layer, none"),
    ({"name": "dcgan", "d_conditioning": "film"}, "concat, projection"),
    ({"name": "sngan", "d_conditioning": "film"}, "concat, projection"),
])
def test_unknown_names_raise_with_valid_list(overrides, valid):
    with pytest.raises(ValueError, match=valid):
        models.create(_config(**overrides), (32, 32, 3))


def test_mlp_accepts_and_ignores_labels_but_refuses_conditional_configs():
    generator, discriminator = models.create(_config("mlp", num_classes=0), (2,))
    g_vars = _init(generator, jnp.zeros((1, LATENT_DIM)))
    z = _latents()
    np.testing.assert_array_equal(
        generator.apply(g_vars, z, labels=jnp.ones((BATCH,), jnp.int32)),
        generator.apply(g_vars, z))
    d_vars = _init(discriminator, jnp.zeros((1, 2)))
    assert discriminator.apply(d_vars, jnp.zeros((BATCH, 2))).shape == (BATCH,)
    with pytest.raises(ValueError, match="unconditional"):
        models.create(_config("mlp", num_classes=NUM_CLASSES), (2,))


def _mlp_by_hand(params, x, hidden):
    """The MLP's forward pass in NumPy from its parameters, layer by layer."""
    layers_ = [params[f"Dense_{i}"] for i in range(len(params))]
    x = np.asarray(x, np.float64)
    for layer in layers_[:-1]:
        x = hidden(x @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"]))
    return x @ np.asarray(layers_[-1]["kernel"]) + np.asarray(layers_[-1]["bias"])


@pytest.mark.parametrize("activation, g_hidden, d_hidden", [
    ("relu", lambda x: np.maximum(x, 0.0), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("tanh", np.tanh, np.tanh)])
def test_mlp_hidden_activation_matches_a_hand_forward_pass(activation, g_hidden,
                                                           d_hidden):
    generator, discriminator = models.create(
        _config("mlp", num_layers=2, hidden_dim=8, mlp_activation=activation), (2,))
    z = _latents()
    g_vars = _init(generator, jnp.zeros((1, LATENT_DIM)))
    np.testing.assert_allclose(generator.apply(g_vars, z),
                               _mlp_by_hand(g_vars["params"], z, g_hidden),
                               rtol=1e-5, atol=1e-6)
    x = _images((2,))
    d_vars = _init(discriminator, jnp.zeros((1, 2)))
    np.testing.assert_allclose(discriminator.apply(d_vars, x),
                               _mlp_by_hand(d_vars["params"], x, d_hidden)[:, 0],
                               rtol=1e-5, atol=1e-6)


def test_mlp_orthogonal_init_has_the_requested_gain():
    gain = 1.4
    generator, discriminator = models.create(
        _config("mlp", num_layers=2, hidden_dim=8, mlp_orthogonal_gain=gain), (2,))
    for module, example in ((generator, jnp.zeros((1, LATENT_DIM))),
                            (discriminator, jnp.zeros((1, 2)))):
        for name, kernel in _flat(_init(module, example)["params"]).items():
            if not name.endswith("kernel"):
                continue
            kernel = np.asarray(kernel, np.float64)
            # Orthonormal columns or rows (whichever are fewer), times the gain.
            gram = kernel.T @ kernel if kernel.shape[0] >= kernel.shape[1] else kernel @ kernel.T
            np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-5,
                                       err_msg=name)


def test_unknown_mlp_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="relu, tanh.*mlp_activation"):
        models.create(_config("mlp", mlp_activation="gelu"), (2,))


# --- DCGAN specifics -----------------------------------------------------------


def test_dcgan_64_generator_has_pytorch_example_parameter_count():
    ngf, nz, nc = 64, 100, 3
    generator, _ = models.create(_config("dcgan", g_channels=ngf), (64, 64, nc))
    variables = jax.eval_shape(functools.partial(
        generator.init, labels=INIT_LABELS, train=False),
        INIT_KEY, jnp.zeros((1, nz)))
    # pytorch/examples/dcgan netG: bias-free 4x4 transposed convolutions
    # nz -> 8ngf -> 4ngf -> 2ngf -> ngf -> nc, BatchNorm (scale and bias)
    # after all but the last.
    widths = [nz, 8 * ngf, 4 * ngf, 2 * ngf, ngf, nc]
    conv_weights = sum(16 * c_in * c_out for c_in, c_out in zip(widths, widths[1:]))
    batch_norm_weights = sum(2 * c for c in widths[1:-1])
    num_params = sum(np.prod(p.shape) for p in jax.tree.leaves(variables["params"]))
    assert num_params == conv_weights + batch_norm_weights
    # Running mean and variance are state, not parameters.
    assert sum(np.prod(s.shape) for s in jax.tree.leaves(
        variables["batch_stats"])) == batch_norm_weights


def test_dcgan_init_is_normal_with_std_002():
    wide = dict(g_channels=16, d_channels=16)
    _, g_vars = _build("generator", "dcgan", (32, 32, 3), **wide)
    _, d_vars = _build("discriminator", "dcgan", (32, 32, 3), **wide)
    kernels = {f"{net}/{path}": np.asarray(value)
               for net, variables in (("G", g_vars), ("D", d_vars))
               for path, value in _flat(variables["params"]).items()
               if path.endswith("kernel")}
    assert len(kernels) == 8  # 4 transposed convolutions in G, 4 convolutions in D.
    for path, kernel in kernels.items():
        assert kernel.size >= 700, path  # Enough entries for a tight estimate.
        assert abs(kernel.std() - 0.02) < 0.002, path
        assert abs(kernel.mean()) < 0.002, path
    scales = [np.asarray(v) for k, v in _flat(g_vars["params"]).items()
              if k.endswith("scale")]
    assert np.all(np.abs(np.concatenate(scales) - 1.0) < 0.1)
    assert not np.all(np.concatenate(scales) == 1.0)


def test_batch_norm_updates_statistics_in_training_only():
    generator, g_vars = _build("generator", "dcgan", (32, 32, 3), g_channels=16,
                               d_channels=16)
    z = _latents()
    train_images, new_stats = _apply(generator, g_vars, z, train=True)
    old, new = _flat(g_vars["batch_stats"]), _flat(new_stats["batch_stats"])
    assert len(old) == 6  # mean and var of 3 BatchNorm layers.
    for path in old:
        assert not np.allclose(old[path], new[path]), path
    # Training normalises with the batch's statistics, so a sample depends on
    # its batch companions.
    train_first, _ = _apply(generator, g_vars, z[:2], train=True)
    assert not np.allclose(train_images[:2], train_first, atol=1e-4)

    # Evaluation uses the running averages (and needs no mutable collection):
    # deterministic and independent of the rest of the batch.
    eval_images = _apply(generator, g_vars, z)
    np.testing.assert_array_equal(eval_images, _apply(generator, g_vars, z))
    np.testing.assert_allclose(eval_images[:2], _apply(generator, g_vars, z[:2]),
                               atol=1e-6)


@pytest.mark.parametrize("d_norm", ["layer", "none"])
def test_critic_without_batch_norm_treats_samples_independently(d_norm):
    # Gradient penalties (WGAN-GP) need a critic whose output for one sample
    # does not depend on the others, and no running statistics.
    discriminator, d_vars = _build("discriminator", "dcgan", (28, 28, 1),
                                   d_norm=d_norm)
    assert "batch_stats" not in d_vars
    x = _images((28, 28, 1))
    logits, _ = _apply(discriminator, d_vars, x, train=True)
    first_alone, _ = _apply(discriminator, d_vars, x[:1], train=True)
    # Batches of 4 and 1 may take convolution kernels that sum in other
    # orders: up to n 2^-24 of the logits' size, n = 7 * 7 * 16 = 784 the
    # largest reduction (the layer norm's and the 7 x 7 output convolution's);
    # a sample that saw the others would be off by the logits' own size.
    np.testing.assert_allclose(logits[:1], first_alone, rtol=0,
                               atol=7 * 7 * 16 * 2.0**-24 * np.abs(logits).max())


# --- Conditioning --------------------------------------------------------------


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_conditional_generator_depends_on_labels(name):
    generator, g_vars = _build("generator", name, (32, 32, 3),
                               num_classes=NUM_CLASSES)
    z = _latents()
    zeros, ones = jnp.zeros((BATCH,), jnp.int32), jnp.ones((BATCH,), jnp.int32)
    first = _apply(generator, g_vars, z, zeros)
    np.testing.assert_array_equal(first, _apply(generator, g_vars, z, zeros))
    # Relative: at init, evaluation-mode DCGAN outputs are tiny, since the
    # running variance starts at 1 while the N(0, 0.02) layers shrink the signal.
    scale = np.abs(first).max(axis=(1, 2, 3))
    differences = np.abs(first - _apply(generator, g_vars, z, ones)).max(axis=(1, 2, 3))
    assert np.all(differences > 0.05 * scale)  # Every sample moves.


def test_concat_discriminator_depends_on_labels():
    # Both models join labels with layers.concat_label_maps; one suffices here.
    discriminator, d_vars = _build("discriminator", "dcgan", (32, 32, 3),
                                   num_classes=NUM_CLASSES, d_conditioning="concat")
    x = _images((32, 32, 3))
    zeros, ones = jnp.zeros((BATCH,), jnp.int32), jnp.ones((BATCH,), jnp.int32)
    assert np.all(np.abs(_apply(discriminator, d_vars, x, zeros)
                         - _apply(discriminator, d_vars, x, ones)) > 1e-5)


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_projection_discriminator_label_term_is_inner_product(name):
    # Miyato & Koyama 2018: logit = psi(h) + <embed(y), h>, so changing only the
    # label changes the logit by exactly <embed(y1) - embed(y2), h>.
    discriminator, d_vars = _build("discriminator", name, (32, 32, 3),
                                   num_classes=NUM_CLASSES)
    x = _images((32, 32, 3))

    @jax.jit
    def run(labels):
        logits, captured = discriminator.apply(
            d_vars, x, labels=jnp.full((BATCH,), labels, jnp.int32), train=False,
            capture_intermediates=True, mutable=["intermediates"])
        captured = captured["intermediates"]
        # The embedding module's output: for SNGAN it is the spectrally
        # normalised row, not the raw parameter.
        embedded = captured["projection"]["class_embedding"]["__call__"][0]
        return logits, captured["features"][0], embedded

    logits_a, h_a, embed_a = run(jnp.int32(0))
    logits_b, h_b, embed_b = run(jnp.int32(2))
    np.testing.assert_array_equal(h_a, h_b)  # h does not see the label.
    expected = np.sum((np.asarray(embed_a, np.float64) - embed_b) * h_a, axis=-1)
    assert np.all(np.abs(expected) > 1e-4)  # The check below is not vacuous.
    np.testing.assert_allclose(logits_a - logits_b, expected, rtol=1e-4, atol=1e-5)
    if name == "dcgan":
        table = d_vars["params"]["projection"]["class_embedding"]["embedding"]
        np.testing.assert_allclose(embed_a, np.broadcast_to(table[0], embed_a.shape))


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
@pytest.mark.parametrize("d_conditioning", ["concat", "projection"])
def test_conditional_models_require_labels(name, d_conditioning):
    generator, discriminator = models.create(
        _config(name, num_classes=NUM_CLASSES, d_conditioning=d_conditioning),
        (32, 32, 3))
    with pytest.raises(ValueError, match="labels"):
        generator.init(INIT_KEY, jnp.zeros((1, LATENT_DIM)), train=False)
    with pytest.raises(ValueError, match="labels"):
        discriminator.init(INIT_KEY, jnp.zeros((1, 32, 32, 3)),
                           train=False)


# --- Spectral normalisation ------------------------------------------------------


def _spectral_norms(matrix_shaped):
    """Top singular value of a kernel seen as (fan_in, out), as Flax does."""
    matrix = np.asarray(matrix_shaped, np.float64)
    return np.linalg.svd(matrix.reshape(-1, matrix.shape[-1]), compute_uv=False)[0]


@pytest.mark.slow
def test_sngan_discriminator_weights_have_unit_spectral_norm_after_training():
    discriminator, d_vars = _build("discriminator", "sngan", (32, 32, 3),
                                   num_classes=NUM_CLASSES)
    x = _images((32, 32, 3))
    labels = jnp.arange(BATCH, dtype=jnp.int32) % NUM_CLASSES
    optimizer = optax.adam(0.1)

    def loss_fn(params, batch_stats):
        logits, updates = discriminator.apply(
            {"params": params, "batch_stats": batch_stats}, x, labels=labels,
            train=True, mutable=["batch_stats"])
        # Maximising the logits and the raw weight norms inflates the raw
        # weights; only the normalisation keeps the effective ones in check.
        growth = sum(jnp.sum(w**2) for w in jax.tree.leaves(params))
        return -jnp.mean(logits) - growth, updates["batch_stats"]

    @jax.jit
    def step(params, batch_stats, opt_state):
        grads, batch_stats = jax.grad(loss_fn, has_aux=True)(params, batch_stats)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), batch_stats, opt_state

    params, batch_stats = d_vars["params"], d_vars["batch_stats"]
    opt_state = optimizer.init(params)
    for _ in range(20):
        params, batch_stats, opt_state = step(params, batch_stats, opt_state)
    # One more forward pass so that sigma belongs to the final weights.
    _, batch_stats = loss_fn(params, batch_stats)

    flat_params = _flat(params)
    normalised = 0
    for path, sigma in _flat(batch_stats).items():
        if not path.endswith("/sigma"):
            continue
        # batch_stats/<scope>/SpectralNorm_k/<layer>/<param>/sigma names
        # params/<scope>/<layer>/<param>.
        scope = path.split("/")[:-1]
        weight = flat_params["/".join(scope[:-3] + scope[-2:])]
        raw = _spectral_norms(weight)
        assert raw > 1.5, path  # Training did inflate the raw weight...
        assert abs(_spectral_norms(weight / sigma) - 1.0) < 0.05, path  # ...not this.
        normalised += 1
    # 3 + 3 + 2 + 2 block convolutions (the down blocks have a 1x1 shortcut),
    # psi and the class embedding: every weight of D.
    num_weights = sum(1 for path in flat_params if not path.endswith("bias"))
    assert normalised == num_weights == 12


@pytest.mark.slow
@pytest.mark.parametrize("in_channels,out_channels", [(3, 2), (8, 5)])
def test_every_upsampling_implementation_equals_the_transposed_convolution(
        in_channels, out_channels):
    """Values and gradients of every implementation match flax's ConvTranspose
    with PyTorch's padding, for the same kernel."""
    x = jax.random.normal(jax.random.key(0), (2, 5, 6, in_channels))
    reference = nn.ConvTranspose(out_channels, (4, 4), strides=(2, 2),
                                 padding=((2, 2), (2, 2)), use_bias=True)
    variables = reference.init(jax.random.key(1), x)
    variables = jax.tree.map(  # A non-zero bias, so it is checked too.
        lambda v: v + 0.1, variables)
    expected = reference.apply(variables, x)
    assert expected.shape == (2, 10, 12, out_channels)

    def loss(module, params, x):
        return jnp.sum(jnp.sin(module.apply({"params": params}, x)))

    expected_grads = jax.grad(functools.partial(loss, reference), (0, 1))(
        variables["params"], x)
    for implementation in strided_conv.UPSAMPLE_IMPLEMENTATIONS:
        layer = layers.DoublingConvTranspose(out_channels, use_bias=True,
                                             implementation=implementation)
        np.testing.assert_allclose(layer.apply(variables, x), expected,
                                   rtol=1e-5, atol=1e-5)
        grads = jax.grad(functools.partial(loss, layer), (0, 1))(
            variables["params"], x)
        for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(expected_grads)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("implementation", ["s2d_vjp", "matmul_vjp"])
# Cotangents of 4x5 and 3x4 take the phase form of the input gradient, 9x10
# the blocks form.
@pytest.mark.parametrize("height,in_channels,out_channels",
                         [(8, 3, 4), (6, 5, 2), (18, 2, 3)])
def test_custom_vjp_downsampling_equals_the_strided_convolution(
        implementation, height, in_channels, out_channels):
    """Values, first and second derivatives (a gradient penalty's) of the
    custom-VJP strided convolution match lax's."""
    x = jax.random.normal(jax.random.key(0), (3, height, height + 2, in_channels))
    kernel = jax.random.normal(jax.random.key(1), (4, 4, in_channels, out_channels))

    def critic(implementation, kernel, x):
        return jnp.sum(jnp.sin(strided_conv.halving_conv(x, kernel, implementation)),
                       axis=(1, 2, 3))

    def penalty(implementation, kernel, x):
        input_grads = jax.grad(lambda x: jnp.sum(critic(implementation, kernel, x)))(x)
        return jnp.mean(jnp.sum(input_grads ** 2, axis=(1, 2, 3)))

    for fn in (critic, penalty):
        want = fn("conv", kernel, x)
        np.testing.assert_allclose(fn(implementation, kernel, x), want, rtol=1e-5,
                                   atol=1e-5)
        grad = jax.grad(lambda k, x, impl: jnp.sum(fn(impl, k, x)), (0, 1))
        for got, expected in zip(grad(kernel, x, implementation),
                                 grad(kernel, x, "conv")):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("height,width", [(4, 6), (8, 8), (16, 18), (18, 16)])
def test_both_adjoint_forms_are_the_strided_convolutions_input_gradient(
        height, width):
    """The blocks and the phase forms of C_K^T, which `halving_conv` picks by
    the cotangent's size (both sides of the switch here), each equal lax's
    transpose of the strided convolution."""
    in_channels, out_channels = 3, 5
    kernel = jax.random.normal(jax.random.key(1), (4, 4, in_channels, out_channels))
    dy = jax.random.normal(jax.random.key(2), (2, height // 2, width // 2, out_channels))
    input_shape = jax.ShapeDtypeStruct((2, height, width, in_channels), jnp.float32)
    want = jax.linear_transpose(
        lambda x: jax.lax.conv_general_dilated(
            x, kernel, (2, 2), ((1, 1), (1, 1)),
            dimension_numbers=("NHWC", "HWIO", "NHWC")), input_shape)(dy)[0]
    for adjoint in (strided_conv._strided_conv_adjoint_by_blocks,
                    strided_conv._strided_conv_adjoint_by_phases,
                    strided_conv._strided_conv_adjoint):
        np.testing.assert_allclose(jax.jit(adjoint)(dy, kernel), want,
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_dcgan_discriminator_is_the_same_function_for_every_downsampling():
    """Same parameter tree (nn.Conv names) and outputs; other convolutions
    (the VALID psi) pass through to lax unchanged."""
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    outputs, trees = [], []
    for implementation in strided_conv.DOWNSAMPLE_IMPLEMENTATIONS[1:]:
        d = dcgan.DCGANDiscriminator(sample_shape=(32, 32, 3), base_channels=4,
                                     norm="layer", downsample=implementation)
        variables = jax.jit(d.init)(jax.random.key(1), x)
        trees.append(jax.tree.structure(variables))
        grads = jax.jit(jax.grad(lambda p: jnp.sum(d.apply({"params": p}, x) ** 2)))(
            variables["params"])
        outputs.append((jax.jit(d.apply)(variables, x), grads))
    assert all(tree == trees[0] for tree in trees)
    for other in outputs[1:]:
        for got, want in zip(jax.tree.leaves(other), jax.tree.leaves(outputs[0])):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_unknown_downsampling_implementation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="auto, conv, s2d_vjp, matmul_vjp. Set --config.model.downsample"):
        strided_conv.flax_conv_general_dilated("im2col")


def test_unknown_upsampling_implementation_lists_the_valid_ones():
    layer = layers.DoublingConvTranspose(2, implementation="pixelshuffle")
    with pytest.raises(ValueError, match="auto, transpose, s2d, conv_vjp, subpixel"):
        layer.init(jax.random.key(0), jnp.zeros((1, 2, 2, 1)))
