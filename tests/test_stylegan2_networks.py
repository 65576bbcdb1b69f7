"""Tests for the StyleGAN2 networks (gan_jax.models.stylegan2 and its ops).

Each piece is checked against its definition, computed independently in NumPy
(loops and explicit formulas, float64), under jax.jit; tolerances are float32
(or bfloat16) rounding relative to the scale of the values, never one
machine's numbers. The networks are tiny (channel_base 256, channel_max 32,
w_dim 16, at most 16x16) so that XLA:CPU compiles them in seconds.
"""

import functools
import math

from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import layers
from gan_jax.models import stylegan2
from gan_jax.models import stylegan2_ops as ops

EPS32 = 2.0**-24  # Unit roundoff of float32.
KEY = jax.random.key(0, impl="rbg")  # Fast to compile; the models don't depend on it.
BATCH = 4
NUM_CLASSES = 3
SMALL = dict(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32)
SMALL_D = dict(channel_base=256, channel_max=32, mbstd_group_size=2, mapping_layers=2)


def _rng(seed):
    return np.random.default_rng(seed)


def _flat(tree):
    return traverse_util.flatten_dict(tree, sep="/")


def _count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


# --- NumPy references ------------------------------------------------------------


def _np_upfirdn2d(x, f, up, down, padding, gain=1.0):
    """The definition: zero insertion, pad (negative crops), true convolution
    with gain * f over the valid outputs, every `down`-th pixel. NHWC."""
    before, after = padding
    b, h, w, c = x.shape
    u = np.zeros((b, h * up, w * up, c))
    u[:, ::up, ::up, :] = x
    u = np.pad(u, [(0, 0), (max(before, 0), max(after, 0)),
                   (max(before, 0), max(after, 0)), (0, 0)])
    crop = lambda n: slice(max(-before, 0), n - max(-after, 0))
    u = u[:, crop(u.shape[1]), crop(u.shape[2]), :]
    kh, kw = f.shape
    out = np.zeros((b, u.shape[1] - kh + 1, u.shape[2] - kw + 1, c))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            for a in range(kh):
                for e in range(kw):
                    out[:, i, j, :] += u[:, i + a, j + e, :] * f[kh - 1 - a, kw - 1 - e]
    return gain * out[:, ::down, ::down, :]


def _np_correlate(x, kernel, pad):
    """Stride-1 correlation of NHWC x with an HWIO kernel, zero padding `pad`."""
    x = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    kh, kw = kernel.shape[:2]
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], h, w, kernel.shape[-1]))
    for a in range(kh):
        for e in range(kw):
            out += np.einsum("bhwi,io->bhwo", x[:, a:a + h, e:e + w, :], kernel[a, e])
    return out


def _np_modulated_conv(x, kernel, styles, demodulate, up):
    """Per sample b: w' = s_b * w over the input channels, w'' = w' /
    sqrt(sum_{kh, kw, in} w'^2 + 1e-8), then the convolution. With up=2, the
    reference's generic path: zero insertion and the [1,3,3,1] filter with gain
    4 (padding (3, 2) for a 3x3 kernel), then the true (flipped) convolution."""
    out = []
    for b in range(x.shape[0]):
        w = kernel * styles[b][None, None, :, None]
        if demodulate:
            w = w / np.sqrt(np.sum(w**2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        xb = x[b:b + 1]
        if up == 1:
            out.append(_np_correlate(xb, w, kernel.shape[0] // 2))
        else:
            k = kernel.shape[0]
            u = _np_upfirdn2d(xb, ops.RESAMPLE_FILTER.astype(np.float64), 2, 1,
                              (k // 2 + 2, k // 2 + 1), gain=4.0)
            out.append(_np_correlate(u, w[::-1, ::-1], 0))
    return np.concatenate(out)


def _np_minibatch_stddev(x, group_size, num_channels):
    """Loops over samples and channel blocks: sample i's group is every j with
    j = i mod (N / G); its statistic for block f is the mean over pixels and
    the block's channels of the standard deviation over the group."""
    n, h, w, c = x.shape
    g = min(group_size, n)
    groups, block = n // g, c // num_channels
    extra = np.zeros((n, h, w, num_channels))
    for i in range(n):
        members = x[[j for j in range(n) if j % groups == i % groups]]
        for f in range(num_channels):
            part = members[..., f * block:(f + 1) * block]
            extra[i, :, :, f] = np.mean(np.sqrt(np.var(part, axis=0) + 1e-8))
    return np.concatenate([x, extra], axis=-1)


# --- 1. upfirdn2d --------------------------------------------------------------


@pytest.mark.parametrize("up, down, padding, taps", [
    (2, 1, (2, 1), 4),    # upsample2d's padding
    (1, 2, (1, 1), 4),    # downsample2d's padding
    (1, 1, (2, 2), 4),    # the filter before a stride-2 conv
    (2, 2, (0, -1), 3),   # both, an odd filter, negative padding crops
    (1, 1, (-1, 2), 3),
])
def test_upfirdn2d_matches_its_definition(up, down, padding, taps):
    rng = _rng(0)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    # A filter without symmetry, so a missing flip would show.
    f = rng.uniform(0.1, 1.0, (taps, taps)).astype(np.float32)
    got = jax.jit(functools.partial(ops.upfirdn2d, up=up, down=down, padding=padding,
                                    gain=1.5))(x, f)
    want = _np_upfirdn2d(x.astype(np.float64), f.astype(np.float64), up, down, padding,
                         gain=1.5)
    assert got.shape == want.shape
    # Each output is a sum of taps^2 products: float32 error within a few
    # roundings of the sum of their absolute values.
    scale = 1.5 * np.abs(f).sum() * np.abs(x).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * taps**2 * EPS32 * scale)


def test_resampling_keeps_constant_images_and_halves_or_doubles_the_size():
    # The filter is normalised (unit DC gain) and upsampling multiplies it by 4:
    # away from the zero-padded border, a constant stays that constant.
    x = jnp.full((1, 8, 8, 2), 3.0)
    up, down = jax.jit(ops.upsample2d)(x), jax.jit(ops.downsample2d)(x)
    assert up.shape == (1, 16, 16, 2) and down.shape == (1, 4, 4, 2)
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], 3.0, rtol=4 * EPS32)
    np.testing.assert_allclose(down[:, 1:-1, 1:-1], 3.0, rtol=4 * EPS32)
    np.testing.assert_allclose(ops.RESAMPLE_FILTER,
                               np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0, rtol=1e-7)


# --- 2. Modulated convolution ------------------------------------------------------


@pytest.mark.parametrize("kernel_size, demodulate, up", [
    (3, True, 1), (3, True, 2), (1, False, 1), (3, False, 2)])
def test_modulated_conv_matches_per_sample_weights(kernel_size, demodulate, up):
    rng = _rng(1)
    x = rng.standard_normal((3, 5, 5, 4)).astype(np.float32)
    kernel = rng.standard_normal((kernel_size, kernel_size, 4, 6)).astype(np.float32)
    styles = rng.uniform(-2.0, 2.0, (3, 4)).astype(np.float32)
    got = jax.jit(functools.partial(ops.modulated_conv2d, demodulate=demodulate, up=up))(
        x, kernel, styles)
    want = _np_modulated_conv(x.astype(np.float64), kernel.astype(np.float64),
                              styles.astype(np.float64), demodulate, up)
    assert got.shape == (3, 5 * up, 5 * up, 6) == want.shape
    # Sums of 4 k^2 (times 16 filter taps when upsampling) products, each a
    # few roundings off: bound by that many roundings of the largest term.
    terms = 4 * kernel_size**2 * (16 if up == 2 else 1)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * terms * EPS32 * scale)


def test_demodulation_gives_unit_output_variance_for_unit_inputs():
    # Karras et al. 2020, Sec. 2.2: with i.i.d. unit-variance inputs, output
    # channel o has variance sum_i,k (s_i w_iko)^2, which demodulation divides
    # away. Check the coefficients, then the statistic on a large input.
    rng = _rng(2)
    kernel = rng.standard_normal((3, 3, 8, 5)).astype(np.float32)
    styles = rng.uniform(0.5, 2.0, (2, 8)).astype(np.float32)
    want = 1.0 / np.sqrt(np.einsum("bi,hwio->bo", styles.astype(np.float64)**2,
                                   kernel.astype(np.float64)**2) + 1e-8)
    np.testing.assert_allclose(ops.demodulation(kernel, styles), want, rtol=1e-6)
    x = rng.standard_normal((2, 64, 64, 8)).astype(np.float32)
    y = jax.jit(ops.modulated_conv2d)(x, kernel, styles)[:, 1:-1, 1:-1]
    # 62^2 nearly independent samples per (b, o) (neighbours share inputs):
    # the sample variance is within ~10 standard errors sqrt(2 / 62^2 * 9).
    np.testing.assert_allclose(np.var(np.asarray(y), axis=(1, 2)), 1.0,
                               atol=10 * math.sqrt(2 * 9 / 62**2))


def test_bias_act_is_lrelu_times_gain_then_clamp():
    # As the reference's bias_act: the gain defaults to sqrt(2) for lrelu and
    # an explicit gain replaces it (the layers pass sqrt(2) * their gain).
    x = jnp.asarray([-3.0, -0.5, 0.0, 0.5, 3.0])
    v = np.asarray([-2.75, -0.25, 0.25, 0.75, 3.25])
    lrelu = np.where(v >= 0, v, 0.2 * v)
    got = ops.bias_act(x, jnp.asarray(0.25), activation="lrelu")
    np.testing.assert_allclose(got, lrelu * math.sqrt(2), rtol=4 * EPS32)
    got = ops.bias_act(x, jnp.asarray(0.25), activation="lrelu", gain=2.0, clamp=1.5)
    np.testing.assert_allclose(got, np.clip(lrelu * 2.0, -1.5, 1.5), rtol=4 * EPS32)


# --- 3. Mapping, equalised learning rate, truncation, w_avg -----------------------


def test_fully_connected_uses_the_equalised_learning_rate():
    layer = stylegan2.FullyConnected(300, activation="lrelu", lr_multiplier=0.01,
                                     bias_init=0.5)
    x = _rng(3).standard_normal((2, 400)).astype(np.float32)
    variables = jax.jit(layer.init)(KEY, x)
    kernel = np.asarray(variables["params"]["kernel"], np.float64)
    bias = np.asarray(variables["params"]["bias"], np.float64)
    # Stored N(0, 1) / lr: std 100, estimated from 120,000 draws to within
    # 1/sqrt(2 n) relative (5 standard errors); the bias stored at bias_init.
    assert abs(kernel.std() / 100.0 - 1) < 5 / math.sqrt(2 * kernel.size)
    np.testing.assert_array_equal(bias, 0.5)
    got = jax.jit(layer.apply)(variables, x)
    v = x.astype(np.float64) @ (kernel * 0.01 / math.sqrt(400)) + 0.01 * bias
    want = np.where(v >= 0, v, 0.2 * v) * math.sqrt(2)
    np.testing.assert_allclose(got, want, rtol=0,
                               atol=8 * 400 * EPS32 * np.abs(want).max())


def test_mapping_input_is_normalised_by_its_second_moment():
    # No layers: the output is the mapping's input itself,
    # concat(z / rms(z), e / rms(e)) with e = one_hot(c) W / sqrt(c_dim) + b.
    mapping = stylegan2.MappingNetwork(z_dim=6, num_classes=NUM_CLASSES, w_dim=5,
                                       num_ws=None, num_layers=0, w_avg_beta=None)
    z = 3.0 * _rng(4).standard_normal((BATCH, 6)).astype(np.float32)
    c = np.eye(NUM_CLASSES, dtype=np.float32)[[0, 2, 1, 2]]
    variables = mapping.init(KEY, z, c)
    got = jax.jit(mapping.apply)(variables, z, c)
    embed = variables["params"]["embed"]
    e = (c @ np.asarray(embed["kernel"]) / math.sqrt(NUM_CLASSES)
         + np.asarray(embed["bias"]))
    rms = lambda v: np.sqrt(np.mean(np.square(v.astype(np.float64)), axis=1,
                                    keepdims=True) + 1e-8)
    want = np.concatenate([z / rms(z), e / rms(e)], axis=1)
    np.testing.assert_allclose(got, want, rtol=16 * EPS32, atol=16 * EPS32)


@functools.lru_cache(maxsize=None)
def _generator(num_classes=0, dtype=jnp.float32, style_mixing_prob=0.0):
    generator = stylegan2.StyleGAN2Generator((16, 16, 3), num_classes=num_classes,
                                             style_mixing_prob=style_mixing_prob,
                                             dtype=dtype, **SMALL)
    labels = jnp.zeros((1,), jnp.int32)
    variables = jax.jit(lambda key: generator.init(key, jnp.zeros((1, 16)), labels))(KEY)
    return generator, variables


def _latents(seed=5, batch=BATCH):
    return jnp.asarray(_rng(seed).standard_normal((batch, 16)), jnp.float32)


def _with_w_avg(variables, w_avg):
    return {**variables, "batch_stats": {"mapping": {"w_avg": jnp.asarray(w_avg)}}}


@functools.partial(jax.jit, static_argnames=("generator", "train", "truncation_psi",
                                             "truncation_cutoff", "mutable"))
def _map(generator, variables, z, train=False, truncation_psi=1.0,
         truncation_cutoff=None, mutable=False):
    return generator.apply(variables, z, None, train, method="map_latents",
                           truncation_psi=truncation_psi,
                           truncation_cutoff=truncation_cutoff, mutable=mutable)


def test_truncation_is_the_lerp_towards_w_avg_up_to_the_cutoff():
    generator, variables = _generator()
    w_avg = _rng(6).standard_normal(16).astype(np.float32)
    variables = _with_w_avg(variables, w_avg)
    z = _latents()
    ws = np.asarray(_map(generator, variables, z), np.float64)
    assert ws.shape == (BATCH, generator.num_ws, 16) == (BATCH, 6, 16)
    np.testing.assert_array_equal(ws, np.broadcast_to(ws[:, :1], ws.shape))
    truncated = w_avg + 0.7 * (ws - w_avg)
    tol = dict(rtol=0, atol=8 * EPS32 * np.abs(ws).max())
    got = _map(generator, variables, z, truncation_psi=0.7, truncation_cutoff=2)
    np.testing.assert_allclose(got[:, :2], truncated[:, :2], **tol)
    np.testing.assert_array_equal(got[:, 2:], ws[:, 2:])
    got_all = _map(generator, variables, z, truncation_psi=0.7)
    np.testing.assert_allclose(got_all, truncated, **tol)
    # psi = 0 gives w_avg itself.
    np.testing.assert_allclose(_map(generator, variables, z, truncation_psi=0.0),
                               np.broadcast_to(w_avg, ws.shape), **tol)


def test_w_avg_moves_only_in_training():
    generator, variables = _generator()
    np.testing.assert_array_equal(variables["batch_stats"]["mapping"]["w_avg"], 0.0)
    old = _rng(7).standard_normal(16).astype(np.float32)
    variables = _with_w_avg(variables, old)
    z = _latents()
    ws = np.asarray(_map(generator, variables, z), np.float64)
    _, state = _map(generator, variables, z, train=False, mutable=("batch_stats",))
    np.testing.assert_array_equal(state["batch_stats"]["mapping"]["w_avg"], old)
    _, state = _map(generator, variables, z, train=True, mutable=("batch_stats",))
    want = 0.995 * old + 0.005 * ws[:, 0].mean(axis=0)
    np.testing.assert_allclose(state["batch_stats"]["mapping"]["w_avg"], want,
                               rtol=0, atol=8 * EPS32 * np.abs(ws).max())


# --- 4. Minibatch standard deviation ----------------------------------------------


@pytest.mark.parametrize("batch, group_size, num_channels", [
    (8, 4, 1), (8, 2, 2), (6, 32, 3)])  # the last: group = whole batch (cifar's 32)
def test_minibatch_stddev_matches_the_reference_definition(batch, group_size,
                                                           num_channels):
    x = _rng(8).standard_normal((batch, 3, 3, 6)).astype(np.float32)
    got = jax.jit(functools.partial(ops.minibatch_stddev, group_size=group_size,
                                    num_channels=num_channels))(x)
    want = _np_minibatch_stddev(x.astype(np.float64), group_size, num_channels)
    np.testing.assert_allclose(got, want, rtol=64 * EPS32, atol=64 * EPS32)
    if num_channels == 1:  # Then it is ProGAN's layer on feature maps.
        np.testing.assert_allclose(got, layers.MinibatchStdDev(group_size).apply({}, x),
                                   rtol=64 * EPS32, atol=64 * EPS32)


def test_minibatch_stddev_refuses_a_batch_the_group_does_not_divide():
    with pytest.raises(ValueError, match="not divisible"):
        ops.minibatch_stddev(jnp.zeros((6, 4, 4, 2)), 4)


# --- 5. Parameter counts against the reference ------------------------------------

# Measured from NVlabs/stylegan2-ada-pytorch @ d72cc7d041b42ec8e806021a205ed9349f87c6a4
# (training/networks.py built with the G_kwargs / D_kwargs that train.py's
# cfg_specs give at 1 GPU, counted as sum(p.numel() for p in m.parameters());
# /work/scratch/refs/SUMMARY.md of the session that built them):
# (cfg, resolution, classes) -> (G params, D params).
REFERENCE_COUNTS = {
    ("cifar", 32, 10): (20_215_315, 23_089_664),
    ("cifar", 32, 0): (19_947_539, 20_720_641),
    ("auto", 64, 0): (22_243_608, 23_407_361),
    ("auto", 128, 0): (22_949_277, 23_882_369),
    ("auto", 256, 0): (23_191_522, 24_001_089),
}


@pytest.mark.parametrize("cfg, resolution, num_classes", sorted(REFERENCE_COUNTS))
def test_parameter_counts_equal_the_reference_implementation(cfg, resolution,
                                                             num_classes):
    """Our parameter counts equal stylegan2-ada-pytorch's for the same settings.

    The expected numbers are constants measured from an independent
    implementation (the PyTorch reference, commit and settings above), not
    from this code. train.py's settings: z_dim = w_dim = 512, channel_max 512,
    mapping 2 layers; cifar: channel_base 32768 (fmaps 1), D 'orig', mbstd
    group 32; auto below 512 px: channel_base 16384 (fmaps 0.5), D 'resnet',
    mbstd group 4; the conditional D's label mapping has the default 8 layers.
    The models are built with jax.eval_shape (no compute).
    """
    cifar = cfg == "cifar"
    shape = (resolution, resolution, 3)
    channel_base = 32768 if cifar else 16384
    generator = stylegan2.StyleGAN2Generator(
        shape, z_dim=512, w_dim=512, num_classes=num_classes, mapping_layers=2,
        channel_base=channel_base, channel_max=512)
    discriminator = stylegan2.StyleGAN2Discriminator(
        shape, num_classes=num_classes, channel_base=channel_base, channel_max=512,
        architecture="orig" if cifar else "resnet", mbstd_group_size=32 if cifar else 4)
    labels = jnp.zeros((2,), jnp.int32)
    g_vars = jax.eval_shape(functools.partial(generator.init, labels=labels), KEY,
                            jnp.zeros((2, 512)))
    d_vars = jax.eval_shape(functools.partial(discriminator.init, labels=labels), KEY,
                            jnp.zeros((2, *shape)))
    want_g, want_d = REFERENCE_COUNTS[(cfg, resolution, num_classes)]
    assert (_count(g_vars["params"]), _count(d_vars["params"])) == (want_g, want_d)
    # The reference's w_avg buffer is our only running statistic; D has none.
    assert _count(g_vars["batch_stats"]) == 512 and "batch_stats" not in d_vars


# --- 6. Shapes, noise, labels, dtype ------------------------------------------------


@pytest.mark.parametrize("g_architecture, d_architecture", [
    ("skip", "resnet"), ("orig", "orig"), ("resnet", "skip")])
def test_output_shapes_features_and_aux_head(g_architecture, d_architecture):
    generator = stylegan2.StyleGAN2Generator((16, 16, 3), num_classes=NUM_CLASSES,
                                             architecture=g_architecture, **SMALL)
    labels = jnp.arange(BATCH) % NUM_CLASSES
    g_vars = jax.eval_shape(functools.partial(generator.init, labels=labels), KEY,
                            _latents())
    images = jax.eval_shape(functools.partial(generator.apply, labels=labels), g_vars,
                            _latents())
    assert (images.shape, images.dtype) == ((BATCH, 16, 16, 3), jnp.float32)
    x = jnp.zeros((BATCH, 16, 16, 3))
    plain = stylegan2.StyleGAN2Discriminator((16, 16, 3), num_classes=NUM_CLASSES,
                                             architecture=d_architecture, **SMALL_D)
    with_aux = plain.clone(aux_outputs=5)
    d_vars = jax.eval_shape(functools.partial(with_aux.init, labels=labels), KEY, x)
    plain_vars = jax.eval_shape(functools.partial(plain.init, labels=labels), KEY, x)
    assert set(_flat(d_vars["params"])) - set(_flat(plain_vars["params"])) == {
        "aux_head/kernel", "aux_head/bias"}
    logits, state = jax.eval_shape(functools.partial(
        with_aux.apply, labels=labels, mutable=["intermediates"]), d_vars, x)
    assert (logits.shape, logits.dtype) == ((BATCH,), jnp.float32)
    assert state["intermediates"]["features"][0].shape == (BATCH, 32)
    assert state["intermediates"]["aux_logits"][0].shape == (BATCH, 5)


def _with_noise_strength(variables, value):
    params = _flat(variables["params"])
    params = {k: (jnp.full_like(v, value) if k.endswith("noise_strength") else v)
              for k, v in params.items()}
    return {**variables, "params": traverse_util.unflatten_dict(params, sep="/")}


@functools.partial(jax.jit, static_argnames=("generator", "noise_mode", "train"))
def _generate(generator, variables, z, labels=None, noise_key=None, noise_mode=None,
              train=False):
    rngs = {} if noise_key is None else {"noise": noise_key}
    mutable = ["batch_stats"] if train else False
    return generator.apply(variables, z, labels, train, noise_mode=noise_mode,
                           rngs=rngs, mutable=mutable)


def test_noise_modes():
    generator, variables = _generator()
    variables = _with_noise_strength(variables, 0.5)
    z = _latents()
    key_a, key_b = jax.random.key(1), jax.random.key(2)
    first = _generate(generator, variables, z, noise_key=key_a)
    assert first.shape == (BATCH, 16, 16, 3) and np.all(np.isfinite(first))
    again = _generate(generator, variables, z, noise_key=key_a)
    other = _generate(generator, variables, z, noise_key=key_b)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3
    # Without a "noise" rng the default is the fixed noise: deterministic, and
    # not the noiseless image.
    const = _generate(generator, variables, z)
    np.testing.assert_array_equal(const, _generate(generator, variables, z,
                                                   noise_mode="const"))
    np.testing.assert_array_equal(const, _generate(generator, variables, z,
                                                   noise_key=key_b, noise_mode="const"))
    none = _generate(generator, variables, z, noise_key=key_a, noise_mode="none")
    assert np.abs(const - none).max() > 1e-3
    with pytest.raises(ValueError, match="noise"):
        generator.apply(variables, z, noise_mode="random")
    with pytest.raises(ValueError, match="noise_mode"):
        generator.apply(variables, z, noise_mode="fixed")


def test_style_mixing_changes_images_in_training_only_and_not_w_avg():
    plain, variables = _generator()
    mixing, _ = _generator(style_mixing_prob=1.0)  # Same variables: mixing adds none.
    z, key = _latents(), jax.random.key(3)
    want, want_state = _generate(plain, variables, z, noise_key=key, noise_mode="none",
                                 train=True)
    got, state = _generate(mixing, variables, z, noise_key=key, noise_mode="none",
                           train=True)
    assert np.abs(got - want).max() > 1e-3
    # w_avg follows the first latents only, as the reference's second mapping
    # skips the update.
    np.testing.assert_array_equal(state["batch_stats"]["mapping"]["w_avg"],
                                  want_state["batch_stats"]["mapping"]["w_avg"])
    np.testing.assert_array_equal(
        _generate(mixing, variables, z, noise_key=key, noise_mode="none"),
        _generate(plain, variables, z, noise_key=key, noise_mode="none"))
    with pytest.raises(ValueError, match="noise"):
        mixing.apply(variables, z, train=True, noise_mode="none", mutable=["batch_stats"])


def test_conditional_networks_need_labels_and_use_them():
    generator, variables = _generator(num_classes=NUM_CLASSES)
    z = _latents()
    with pytest.raises(ValueError, match="conditional"):
        generator.apply(variables, z)
    a = _generate(generator, variables, z, jnp.zeros((BATCH,), jnp.int32))
    b = _generate(generator, variables, z, jnp.ones((BATCH,), jnp.int32))
    assert np.abs(a - b).max() > 1e-3
    discriminator = stylegan2.StyleGAN2Discriminator((16, 16, 3), num_classes=NUM_CLASSES,
                                                     **SMALL_D)
    with pytest.raises(ValueError, match="conditional"):
        discriminator.init(KEY, jnp.zeros((BATCH, 16, 16, 3)))
    # Unconditional networks ignore labels.
    plain, plain_vars = _generator()
    np.testing.assert_array_equal(_generate(plain, plain_vars, z),
                                  _generate(plain, plain_vars, z,
                                            jnp.ones((BATCH,), jnp.int32)))


def test_bfloat16_generator_is_close_to_float32():
    generator, variables = _generator()
    bf16, _ = _generator(dtype=jnp.bfloat16)
    variables = _with_noise_strength(variables, 0.5)
    z = _latents()
    want = np.asarray(_generate(generator, variables, z), np.float64)
    got = _generate(bf16, variables, z)
    assert got.dtype == jnp.float32
    # Every layer rounds its activations and kernel to bfloat16 (relative
    # 2^-9 each, epsilon 2^-8); errors relative to the signal add up over the
    # 6 modulated convolutions of the path to the output: allow epsilon per
    # layer times the output's scale.
    np.testing.assert_allclose(got, want, rtol=0, atol=6 * 2.0**-8 * np.abs(want).max())
    # And it is not trivially float32 (the convolutions do run in bfloat16).
    assert np.abs(np.asarray(got, np.float64) - want).max() > 0
