"""Tests for the optional stabilisation layers of the models: minibatch
standard deviation, minibatch discrimination, the auxiliary head, spectral
normalisation of the generator and BEGAN's auto-encoder discriminator.

As in test_models.py the networks are tiny, inputs come from NumPy and
initialisation uses the "rbg" PRNG, which compiles quickly on a small CPU.
"""

import functools
import re

from flax import traverse_util
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax import models
from gan_jax.models import layers
from gan_jax.models import mlp

LATENT_DIM = 6
BATCH = 4
INIT_LABELS = jnp.zeros((1,), jnp.int32)  # What state.py passes at init.
INIT_KEY = jax.random.key(0, impl="rbg")
MLP_SHAPE = (5,)
IMAGE_SHAPE = (28, 28, 1)


def _config(name, **overrides):
    config = defaults.base_config().model
    config.name = name
    config.latent_dim = LATENT_DIM
    config.hidden_dim = 8
    config.num_layers = 2
    config.g_channels = 4
    config.d_channels = 4
    config.update(overrides)
    return models.read_options(config, "config.model")


@functools.lru_cache(maxsize=None)
def _variables(module, example_shape):
    """`module`'s variables for INIT_KEY, initialised once per distinct module:
    compiling the initialisers is the slowest part of these tests."""
    return jax.jit(lambda key: module.init(key, jnp.zeros(example_shape),
                                           labels=INIT_LABELS, train=False))(INIT_KEY)


def _flat(tree):
    return traverse_util.flatten_dict(tree, sep="/")


def _latents(seed=1, batch=BATCH):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal((batch, LATENT_DIM)), jnp.float32)


def _samples(shape, seed=2, batch=BATCH):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.uniform(-1.0, 1.0, (batch, *shape)), jnp.float32)


def _apply(module, variables, inputs, train=False):
    """`(outputs, mutated)`: what `module` sows, plus new `batch_stats` when
    training."""
    mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
    return module.apply(variables, inputs, labels=None, train=train,
                        mutable=mutable)


_run = jax.jit(_apply, static_argnames=("module", "train"))


# --- Off by default: the plain networks, unchanged -----------------------------
# Frozen copies of the networks as they were before the options existed. The
# parameters and outputs of models.create under the default config must match
# them exactly.


class _PlainMLPGenerator(nn.Module):
    sample_shape: tuple
    hidden_dim: int
    num_layers: int

    @nn.compact
    def __call__(self, z, labels=None, train=False):
        x = jnp.asarray(z, jnp.float32)
        for _ in range(self.num_layers):
            x = nn.relu(nn.Dense(self.hidden_dim)(x))
        x = nn.Dense(int(np.prod(self.sample_shape)))(x)
        return x.reshape((x.shape[0], *self.sample_shape))


class _PlainMLPDiscriminator(nn.Module):
    hidden_dim: int
    num_layers: int

    @nn.compact
    def __call__(self, x, labels=None, train=False):
        x = jnp.asarray(x, jnp.float32).reshape((x.shape[0], -1))
        for _ in range(self.num_layers):
            x = nn.leaky_relu(nn.Dense(self.hidden_dim)(x), 0.2)
        return nn.Dense(1)(x)[:, 0]


def _plain_batch_norm(train):
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        scale_init=layers.dcgan_bn_scale_init)


class _PlainDCGAN28Generator(nn.Module):
    base_channels: int

    @nn.compact
    def __call__(self, z, labels=None, train=False):
        x = jnp.asarray(z, jnp.float32)[:, None, None, :]
        width = 2 * self.base_channels
        x = nn.ConvTranspose(width, (7, 7), padding="VALID", use_bias=False,
                             kernel_init=layers.dcgan_kernel_init)(x)
        x = nn.relu(_plain_batch_norm(train)(x))
        x = layers.DoublingConvTranspose(width // 2)(x)
        x = nn.relu(_plain_batch_norm(train)(x))
        return jnp.tanh(layers.DoublingConvTranspose(1)(x))


class _PlainDCGAN28Discriminator(nn.Module):
    base_channels: int

    @nn.compact
    def __call__(self, x, labels=None, train=False):
        conv = dict(kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                    kernel_init=layers.dcgan_kernel_init)
        x = nn.leaky_relu(nn.Conv(self.base_channels, **conv)(x), 0.2)
        x = nn.Conv(2 * self.base_channels, use_bias=False, **conv)(x)
        x = nn.leaky_relu(_plain_batch_norm(train)(x), 0.2)
        self.sow("intermediates", "features", x.reshape((x.shape[0], -1)))
        return nn.Conv(1, (7, 7), padding="VALID", kernel_init=layers.dcgan_kernel_init,
                       name="psi")(x).reshape((x.shape[0],))


def _plain_pair(name, config):
    if name == "mlp":
        return (_PlainMLPGenerator(MLP_SHAPE, config.hidden_dim, config.num_layers),
                _PlainMLPDiscriminator(config.hidden_dim, config.num_layers))
    return (_PlainDCGAN28Generator(config.g_channels),
            _PlainDCGAN28Discriminator(config.d_channels))


@functools.partial(jax.jit, static_argnames="module")
def _both_modes(module, variables, x):
    """`_apply` in evaluation and in training mode, compiled as one program."""
    return [_apply(module, variables, x, train=train) for train in (False, True)]


@pytest.mark.parametrize("name, sample_shape", [("mlp", MLP_SHAPE),
                                                ("dcgan", IMAGE_SHAPE)])
def test_defaults_give_the_plain_networks(name, sample_shape):
    config = _config(name)
    created = models.create(config, sample_shape)
    plain = _plain_pair(name, config)
    inputs = (_latents(), _samples(sample_shape))
    examples = ((1, LATENT_DIM), (1, *sample_shape))
    for module, reference, x, example in zip(created, plain, inputs, examples):
        variables = _variables(module, example)
        expected_variables = _variables(reference, example)
        runs, expected_runs = _both_modes(module, variables, x), _both_modes(
            reference, variables, x)
        got, want = _flat(variables), _flat(expected_variables)
        assert sorted(got) == sorted(want)  # Same collections, names, nothing new.
        for path in want:
            np.testing.assert_array_equal(got[path], want[path], err_msg=path)
        # Evaluation and training mode: outputs, new BatchNorm statistics and,
        # for dcgan's discriminator, the sown features; the plain MLP sowed
        # nothing, and nothing but the features (no aux_logits) is sown now.
        for (outputs, mutated), (expected, expected_mutated) in zip(runs,
                                                                    expected_runs):
            assert outputs.dtype == jnp.float32
            np.testing.assert_array_equal(outputs, expected)
            jax.tree.map(np.testing.assert_array_equal,
                         mutated.get("batch_stats"),
                         expected_mutated.get("batch_stats"))
            if module is created[1]:
                assert set(mutated["intermediates"]) == {"features"}
                if name == "dcgan":
                    np.testing.assert_array_equal(
                        mutated["intermediates"]["features"][0],
                        expected_mutated["intermediates"]["features"][0])


def test_mlp_discriminator_sows_its_last_hidden_layer():
    config = _config("mlp")
    _, discriminator = models.create(config, MLP_SHAPE)
    x = _samples(MLP_SHAPE)
    variables = _variables(discriminator, (1, *MLP_SHAPE))
    logits, mutated = _run(discriminator, variables, x)
    (features,) = mutated["intermediates"]["features"]
    params = variables["params"]
    h = np.asarray(x, np.float64)
    for i in range(config.num_layers):
        h = h @ params[f"Dense_{i}"]["kernel"] + params[f"Dense_{i}"]["bias"]
        h = np.where(h > 0, h, 0.2 * h)
    np.testing.assert_allclose(features, h, rtol=1e-5, atol=1e-6)
    last = params[f"Dense_{config.num_layers}"]
    np.testing.assert_allclose(logits, (h @ last["kernel"] + last["bias"])[:, 0],
                               rtol=1e-5, atol=1e-6)


# --- Minibatch standard deviation -----------------------------------------------


def _numpy_stddev_feature(x, group_size):
    """Per sample: the std over its group (the samples j with j = i mod
    batch / G), per feature, averaged over the features."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    group = min(group_size, len(x))
    num_groups = len(x) // group
    result = np.empty(len(x))
    for i in range(len(x)):
        members = x[[j for j in range(len(x)) if j % num_groups == i % num_groups]]
        assert len(members) == group
        result[i] = np.mean(np.sqrt(members.var(axis=0) + 1e-8))
    return result


@pytest.mark.parametrize("shape, group_size", [
    ((8, 3, 3, 2), 4), ((8, 5), 2), ((6, 5), 6), ((4, 2, 2, 3), 16)])
def test_minibatch_stddev_matches_numpy(shape, group_size):
    rng = np.random.default_rng(0)
    # A different spread per group (sample i is in group i mod batch / G), so
    # the groups' statistics differ, and differ from contiguous groups'.
    num_groups = shape[0] // min(group_size, shape[0])
    spreads = 1.0 + np.arange(shape[0]) % num_groups
    spreads = spreads.reshape((shape[0],) + (1,) * (len(shape) - 1))
    x = jnp.asarray(rng.standard_normal(shape) * spreads, jnp.float32)
    out = layers.MinibatchStdDev(group_size).apply({}, x)
    assert out.shape == (*shape[:-1], shape[-1] + 1) and out.dtype == jnp.float32
    np.testing.assert_array_equal(out[..., :-1], x)
    expected = _numpy_stddev_feature(x, group_size)
    extra = np.asarray(out[..., -1]).reshape(shape[0], -1)
    # A constant map (or a single column) per sample.
    np.testing.assert_allclose(extra, np.broadcast_to(expected[:, None], extra.shape),
                               rtol=1e-5)
    if num_groups > 1:
        assert np.ptp(expected) > 0.5  # The groups really differ.


def test_minibatch_stddev_needs_a_divisible_batch():
    with pytest.raises(ValueError, match="d_minibatch_stddev_group"):
        layers.MinibatchStdDev(3).apply({}, jnp.zeros((4, 2)))
    # Smaller batches use one group of the whole batch.
    assert layers.MinibatchStdDev(3).apply({}, jnp.zeros((2, 2))).shape == (2, 3)


# --- Minibatch discrimination ---------------------------------------------------


def test_minibatch_discrimination_matches_the_formula():
    num_kernels, kernel_dim = 3, 4
    rng = np.random.default_rng(3)
    f = jnp.asarray(rng.standard_normal((5, 7)), jnp.float32)
    layer = layers.MinibatchDiscrimination(num_kernels, kernel_dim)
    variables = layer.init(INIT_KEY, f)
    out = layer.apply(variables, f)
    assert out.shape == (5, 7 + num_kernels) and out.dtype == jnp.float32

    t = np.asarray(variables["params"]["kernel"], np.float64)
    assert t.shape == (7, num_kernels * kernel_dim)
    m = (np.asarray(f, np.float64) @ t).reshape(5, num_kernels, kernel_dim)
    expected = np.zeros((5, num_kernels))
    for i in range(5):
        for b in range(num_kernels):
            for j in range(5):
                if j != i:  # The paper's code leaves out the sample itself.
                    expected[i, b] += np.exp(-np.abs(m[i, b] - m[j, b]).sum())
    assert 0.05 < expected.min() and expected.max() < 3.95  # Not saturated.
    np.testing.assert_array_equal(out[:, :7], f)
    np.testing.assert_allclose(out[:, 7:], expected, rtol=1e-5)


# --- Batch coupling: only with a minibatch layer ----------------------------------

COUPLING_CASES = [
    ("mlp", MLP_SHAPE, {}, False),
    ("mlp", MLP_SHAPE, {"d_minibatch_stddev_group": 2}, True),
    ("mlp", MLP_SHAPE, {"d_minibatch_kernels": 3}, True),
    ("dcgan", IMAGE_SHAPE, {}, False),
    ("dcgan", IMAGE_SHAPE, {"d_minibatch_stddev_group": 4}, True),
    ("dcgan", IMAGE_SHAPE, {"d_minibatch_kernels": 3}, True),
]


@pytest.mark.parametrize("name, sample_shape, overrides, coupled", COUPLING_CASES)
def test_other_samples_matter_only_with_a_minibatch_layer(name, sample_shape,
                                                          overrides, coupled):
    _, discriminator = models.create(_config(name, **overrides), sample_shape)
    x = _samples(sample_shape)
    others_changed = x.at[1:].set(_samples(sample_shape, seed=5)[1:])
    # Evaluation mode: BatchNorm then uses running averages, so any coupling
    # comes from the minibatch layers.
    variables = _variables(discriminator, (1, *sample_shape))
    logits, mutated = _run(discriminator, variables, x)
    changed_logits, changed_mutated = _run(discriminator, variables, others_changed)
    assert logits.shape == (BATCH,)
    difference = abs(float(logits[0] - changed_logits[0]))
    if coupled:
        assert difference > 1e-6
    else:
        assert difference == 0.0
    # The sown features stay per-sample either way (feature matching).
    np.testing.assert_array_equal(mutated["intermediates"]["features"][0][0],
                                  changed_mutated["intermediates"]["features"][0][0])


def test_dcgan_minibatch_layers_sit_before_psi():
    config = _config("dcgan", d_minibatch_stddev_group=2, d_minibatch_kernels=3,
                     d_minibatch_kernel_dim=2)
    _, discriminator = models.create(config, IMAGE_SHAPE)
    params = jax.eval_shape(discriminator.init, INIT_KEY,
                            jnp.zeros((1, *IMAGE_SHAPE)))["params"]
    # Last map: 7x7x8, plus one stddev channel -> 7 * 7 * 9 flat features.
    assert params["minibatch_discrimination"]["kernel"].shape == (7 * 7 * 9, 6)
    assert params["psi"]["kernel"].shape == (7 * 7 * 9 + 3, 1)
    only_stddev = models.create(_config("dcgan", d_minibatch_stddev_group=2),
                                IMAGE_SHAPE)[1]
    params = jax.eval_shape(only_stddev.init, INIT_KEY,
                            jnp.zeros((1, *IMAGE_SHAPE)))["params"]
    assert params["psi"]["kernel"].shape == (7, 7, 9, 1)


def test_sngan_minibatch_layers_act_on_the_pooled_features():
    config = _config("sngan", d_minibatch_stddev_group=2, d_minibatch_kernels=3,
                     d_minibatch_kernel_dim=2)
    _, discriminator = models.create(config, (32, 32, 3))
    variables = jax.eval_shape(discriminator.init, INIT_KEY,
                               jnp.zeros((1, 32, 32, 3)))
    params = _flat(variables["params"])
    assert params["minibatch_discrimination/kernel"].shape == (4 + 1, 6)
    assert params["psi/kernel"].shape == (4 + 1 + 3, 1)
    # T is spectrally normalised like every other weight of SNGAN's D.
    assert any("minibatch_discrimination/kernel/sigma" in path
               for path in _flat(variables["batch_stats"]))


# --- Auxiliary head ---------------------------------------------------------------


@pytest.mark.parametrize("name, sample_shape", [("mlp", MLP_SHAPE),
                                                ("dcgan", IMAGE_SHAPE)])
def test_aux_head_reads_the_features_and_is_sown_only_when_requested(name,
                                                                    sample_shape):
    x = _samples(sample_shape)
    config = _config(name)
    _, plain = models.create(config, sample_shape)
    _, with_aux = models.create(config, sample_shape, aux_outputs=3)
    example = (1, *sample_shape)
    plain_vars, aux_vars = _variables(plain, example), _variables(with_aux, example)
    plain_logits, plain_mutated = _run(plain, plain_vars, x)
    logits, mutated = _run(with_aux, aux_vars, x)
    assert "aux_head" not in plain_vars["params"]
    head = aux_vars["params"]["aux_head"]
    # The head is the only addition; everything else is as before.
    assert sorted(_flat(plain_vars)) == sorted(
        p for p in _flat(aux_vars) if not p.startswith("params/aux_head/"))
    assert "aux_logits" not in plain_mutated["intermediates"]
    assert logits.shape == (BATCH,)
    np.testing.assert_array_equal(logits, plain_logits)  # Same shared params.
    (aux_logits,) = mutated["intermediates"]["aux_logits"]
    (features,) = mutated["intermediates"]["features"]
    assert aux_logits.shape == (BATCH, 3) and aux_logits.dtype == jnp.float32
    np.testing.assert_allclose(
        aux_logits, np.asarray(features, np.float64) @ head["kernel"] + head["bias"],
        rtol=1e-4, atol=1e-6)


def test_sngan_aux_head_shape():
    _, discriminator = models.create(_config("sngan"), (32, 32, 3), aux_outputs=5)
    x = jnp.zeros((BATCH, 32, 32, 3))
    variables = jax.eval_shape(discriminator.init, INIT_KEY, x)
    logits, mutated = jax.eval_shape(functools.partial(
        discriminator.apply, train=False, mutable=["intermediates"]), variables, x)
    assert logits.shape == (BATCH,)
    assert mutated["intermediates"]["aux_logits"][0].shape == (BATCH, 5)
    assert "params/aux_head/kernel" in _flat(variables)


# --- Spectral normalisation of the generator --------------------------------------


def _top_singular_value(kernel):
    matrix = np.asarray(kernel, np.float64)
    return np.linalg.svd(matrix.reshape(-1, matrix.shape[-1]), compute_uv=False)[0]


def test_mlp_generator_spectral_norm_converges_and_is_what_the_layers_use():
    config = _config("mlp", g_spectral_norm=True)
    generator, _ = models.create(config, MLP_SHAPE)
    plain, _ = models.create(_config("mlp"), MLP_SHAPE)
    example = (1, LATENT_DIM)
    variables, plain_vars = _variables(generator, example), _variables(plain, example)
    # The same parameters as without, up to scale: Flax's SpectralNorm stores
    # the kernels its init call normalised with the random u. The
    # power-iteration state is extra.
    assert jax.tree.map(np.shape, variables["params"]) == jax.tree.map(
        np.shape, plain_vars["params"])
    assert "batch_stats" not in plain_vars
    plain_params = _flat(plain_vars["params"])
    for path, value in _flat(variables["params"]).items():
        value, plain_value = np.asarray(value), np.asarray(plain_params[path])
        if path.endswith("bias"):
            np.testing.assert_array_equal(value, plain_value, err_msg=path)
        else:
            # One scale for the whole kernel; 1e-4 leaves room for float32
            # rounding in the compiled init (seen at 1.8e-5 with XLA:CPU's
            # unoptimised code generation, tests/conftest.py).
            ratio = value / plain_value
            np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4, err_msg=path)

    # Kernels far from unit norm, so that normalising matters.
    params = {name: dict(layer, kernel=scale * layer["kernel"]) for (name, layer), scale
              in zip(sorted(variables["params"].items()), (3.0, 0.3, 5.0))}
    z = _latents()

    @jax.jit
    def power_iterations(batch_stats):
        def step(_, carry):
            _, batch_stats = carry
            samples, mutated = _apply(generator, {"params": params,
                                                  "batch_stats": batch_stats},
                                      z, train=True)
            return samples, mutated["batch_stats"]
        return jax.lax.fori_loop(0, 30, step, (jnp.zeros((BATCH, *MLP_SHAPE)),
                                               batch_stats))

    samples, batch_stats = power_iterations(variables["batch_stats"])
    sigmas = {path.split("/")[-3]: value for path, value in _flat(batch_stats).items()
              if path.endswith("/sigma")}
    assert sorted(sigmas) == [f"Dense_{i}" for i in range(config.num_layers + 1)]
    h = np.asarray(z, np.float64)
    for i in range(config.num_layers + 1):
        kernel = params[f"Dense_{i}"]["kernel"]
        assert abs(_top_singular_value(kernel) - 1.0) > 0.1  # Normalising matters.
        effective = np.asarray(kernel, np.float64) / float(sigmas[f"Dense_{i}"])
        assert abs(_top_singular_value(effective) - 1.0) < 1e-3
        h = h @ effective + params[f"Dense_{i}"]["bias"]
        if i < config.num_layers:
            h = np.maximum(h, 0.0)
    # The last train-mode call used exactly W / sigma with the stored sigma.
    np.testing.assert_allclose(samples, h, rtol=1e-4, atol=1e-6)


def test_mlp_generator_spectral_norm_makes_outputs_invariant_to_kernel_scale():
    # W / sigma(W) does not change when W is scaled (sigma comes from the same
    # stored u), so with every layer normalised the output cannot either.
    z = _latents()
    for spectral_norm in (False, True):
        generator, _ = models.create(_config("mlp", g_spectral_norm=spectral_norm),
                                     MLP_SHAPE)
        variables = _variables(generator, (1, LATENT_DIM))
        scaled = {name: dict(layer, kernel=scale * layer["kernel"])
                  for (name, layer), scale in zip(
                      sorted(variables["params"].items()), (7.0, 0.2, 3.0))}
        outputs, _ = _run(generator, variables, z)
        scaled_outputs, _ = _run(generator, dict(variables, params=scaled), z)
        assert np.abs(outputs).max() > 1e-2  # Not a vacuous comparison.
        if spectral_norm:
            np.testing.assert_allclose(scaled_outputs, outputs, rtol=1e-4, atol=1e-5)
        else:
            assert np.abs(scaled_outputs - outputs).max() > 0.1


def test_dcgan_generator_spectral_norm_wraps_every_convolution():
    # Shapes only (no compilation): one power-iteration state per kernel,
    # including both DoublingConvTranspose layers, and the parameters of the
    # plain generator.
    def variables(**overrides):
        generator, _ = models.create(_config("dcgan", **overrides), IMAGE_SHAPE)
        return jax.eval_shape(functools.partial(generator.init, train=False),
                              INIT_KEY, jnp.zeros((1, LATENT_DIM)))

    normalised, plain = variables(g_spectral_norm=True), variables()
    assert jax.tree.map(np.shape, normalised["params"]) == jax.tree.map(
        np.shape, plain["params"])
    kernels = {p.split("/")[-2] for p in _flat(normalised["params"])
               if p.endswith("kernel")}
    sigmas = {p.split("/")[-3] for p in _flat(normalised["batch_stats"])
              if p.endswith("/sigma")}
    assert kernels == sigmas == {"ConvTranspose_0", "DoublingConvTranspose_0",
                                 "DoublingConvTranspose_1"}


class _NormalisedUpsample(nn.Module):
    """A DoublingConvTranspose wrapped the way DCGANGenerator wraps it."""

    implementation: str
    enabled: bool

    @nn.compact
    def __call__(self, x, train=False):
        layer = layers.DoublingConvTranspose(3, implementation=self.implementation)
        return layers.maybe_spectral_norm(layer, x, train=train, enabled=self.enabled)


@pytest.mark.parametrize("implementation", ["transpose", "subpixel"])
def test_spectral_norm_normalises_the_doubling_conv_transpose_kernel(implementation):
    x = _samples((3, 3, 4), batch=2)
    normalised = _NormalisedUpsample(implementation, enabled=True)
    variables = normalised.init(INIT_KEY, x)
    kernel = 5.0 * variables["params"]["DoublingConvTranspose_0"]["kernel"]
    variables = dict(variables, params={"DoublingConvTranspose_0": {"kernel": kernel}})
    y, mutated = normalised.apply(variables, x, train=True, mutable=["batch_stats"])
    (sigma,) = [v for p, v in _flat(mutated["batch_stats"]).items()
                if p.endswith("/sigma")]
    # The power-iteration estimate, never above the top singular value.
    assert 1.5 < float(sigma) <= _top_singular_value(kernel) * (1 + 1e-5)
    plain = layers.DoublingConvTranspose(3, implementation=implementation)
    expected = plain.apply({"params": {"kernel": kernel / sigma}}, x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    unnormalised = _NormalisedUpsample(implementation, enabled=False)
    assert "batch_stats" not in unnormalised.init(INIT_KEY, x)
    np.testing.assert_allclose(
        unnormalised.apply(variables, x),
        plain.apply({"params": variables["params"]["DoublingConvTranspose_0"]}, x),
        rtol=1e-6)


# --- BEGAN's auto-encoder discriminator -------------------------------------------


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def test_autoencoder_energy_is_the_l1_reconstruction_error():
    config = _config("mlp", d_autoencoder=True)
    _, discriminator = models.create(config, MLP_SHAPE, aux_outputs=2)
    assert isinstance(discriminator, mlp.MLPAutoencoderDiscriminator)
    assert discriminator.code_dim == LATENT_DIM
    x = _samples(MLP_SHAPE)
    variables = _variables(discriminator, (1, *MLP_SHAPE))
    energy, mutated = _run(discriminator, variables, x)
    assert energy.shape == (BATCH,) and energy.dtype == jnp.float32

    params = variables["params"]

    def dense(name, h):
        return h @ np.asarray(params[name]["kernel"], np.float64) + params[name]["bias"]

    inputs = np.asarray(x, np.float64)
    h = inputs
    for i in range(config.num_layers):
        h = _elu(dense(f"encoder_{i}", h))
    code = dense("code", h)
    h = code
    for i in range(config.num_layers):
        h = _elu(dense(f"decoder_{i}", h))
    expected = np.mean(np.abs(inputs - dense("reconstruction", h)), axis=-1)
    assert np.all(expected > 0.1)
    np.testing.assert_allclose(energy, expected, rtol=1e-5)
    np.testing.assert_allclose(mutated["intermediates"]["features"][0], code,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mutated["intermediates"]["aux_logits"][0],
                               dense("aux_head", code), rtol=1e-4, atol=1e-6)


def test_autoencoder_energy_is_zero_for_a_perfect_reconstruction():
    # Identity weights with a +2 / -2 bias shift: inputs in [-1, 1] keep every
    # ELU in its identity range, so the decoder returns the input exactly.
    width = MLP_SHAPE[0]
    discriminator = mlp.MLPAutoencoderDiscriminator(hidden_dim=width, num_layers=1,
                                                    code_dim=width)
    identity = np.eye(width, dtype=np.float32)

    def layer(shift):
        return {"kernel": identity, "bias": np.full((width,), shift, np.float32)}

    params = {"encoder_0": layer(2.0), "code": layer(-2.0), "decoder_0": layer(2.0),
              "reconstruction": layer(-2.0)}
    shapes = jax.eval_shape(discriminator.init, INIT_KEY, jnp.zeros((1, width)))
    assert jax.tree.map(np.shape, shapes["params"]) == jax.tree.map(np.shape, params)
    x = _samples(MLP_SHAPE)
    energy = discriminator.apply({"params": params}, x)
    np.testing.assert_allclose(energy, np.zeros(BATCH), atol=1e-6)
    # A changed input layer breaks the reconstruction: the check can fail.
    params["encoder_0"] = layer(0.0)  # ELU now bends the negative inputs.
    assert np.all(discriminator.apply({"params": params}, x) > 1e-3)


# --- Invalid combinations ---------------------------------------------------------


@pytest.mark.parametrize("name, overrides, aux_outputs, match", [
    ("dcgan", {"d_autoencoder": True}, 0, "name=mlp"),
    ("sngan", {"d_autoencoder": True}, 0, "d_autoencoder=False"),
    ("sngan", {"g_spectral_norm": True}, 0, "g_spectral_norm=False"),
    ("mlp", {"d_autoencoder": True, "d_minibatch_kernels": 4}, 0,
     "d_minibatch_kernels=0"),
    ("mlp", {"d_autoencoder": True, "d_minibatch_stddev_group": 2}, 0,
     "d_minibatch_stddev_group=0"),
    ("mlp", {"d_minibatch_stddev_group": -1}, 0, "d_minibatch_stddev_group"),
    ("dcgan", {"d_minibatch_kernels": -2}, 0, "d_minibatch_kernels"),
    ("sngan", {"d_minibatch_kernels": 4, "d_minibatch_kernel_dim": 0}, 0,
     "d_minibatch_kernel_dim"),
    ("mlp", {}, -1, "aux_outputs"),
    ("mlp", {"d_autoencoder": True, "latent_dim": 0}, 0, "latent_dim"),
])
def test_bad_combinations_raise_saying_what_to_set(name, overrides, aux_outputs,
                                                   match):
    sample_shape = MLP_SHAPE if name == "mlp" else (32, 32, 3)
    with pytest.raises(ValueError, match=match) as error:
        models.create(_config(name, **overrides), sample_shape,
                      aux_outputs=aux_outputs)
    # Flags are written as they are set on the command line.
    assert not re.search(r"(?<!--)config\.", str(error.value)), str(error.value)


def test_indivisible_batch_raises_naming_the_group_option():
    _, discriminator = models.create(_config("mlp", d_minibatch_stddev_group=4),
                                     MLP_SHAPE)
    # Shapes only: the check happens while tracing.
    variables = jax.eval_shape(discriminator.init, INIT_KEY,
                               jnp.zeros((4, *MLP_SHAPE)))
    with pytest.raises(ValueError, match="d_minibatch_stddev_group"):
        jax.eval_shape(discriminator.apply, variables, jnp.zeros((6, *MLP_SHAPE)))
