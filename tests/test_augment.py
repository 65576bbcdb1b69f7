"""gan_jax.tricks.augment against NumPy references of DiffAugment and ADA."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.tricks import augment

IMAGE_OPS = ("color", "translation", "cutout", "flip")
SHAPE = (16, 8, 8, 3)
POINTS = (4096, 2)
POLICY = ("color", "translation", "cutout", "flip", "jitter")

# Shared compiled functions: jit caches by shape and static policy, so tests
# that use the same shapes reuse one compilation.
_apply = jax.jit(augment.apply, static_argnums=2)


def _images(seed, shape=SHAPE, low=-1.0, high=1.0):
    # NumPy, not jax.random: eager JAX ops on the inputs would each compile.
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, shape).astype(np.float32)


@functools.cache
def _op(name):
    return jax.jit(augment.OPS[name])


@functools.cache
def _grad_of_weighted_sum(name):
    """x -> d/dx sum(op(x, key) * w)."""
    op = augment.OPS[name]
    return jax.jit(jax.grad(lambda x, w, key: jnp.sum(op(x, key) * w)))


def _np_shift(image, dh, dw):
    """image[i - dh, j - dw] where that exists, else 0: a zero-filled roll."""
    out = np.roll(image, (dh, dw), axis=(0, 1))
    if dh > 0:
        out[:dh] = 0
    elif dh < 0:
        out[dh:] = 0
    if dw > 0:
        out[:, :dw] = 0
    elif dw < 0:
        out[:, dw:] = 0
    return out


def _np_rectangle(shape_hw, top, left, height, width):
    mask = np.zeros(shape_hw, bool)
    rows = slice(max(top, 0), max(top + height, 0))
    cols = slice(max(left, 0), max(left + width, 0))
    mask[rows, cols] = True
    return mask


def _np_color(x, b, s, c):
    b, s, c = (np.asarray(f, np.float64)[:, None, None, None]
               for f in (b, s, c))
    x = np.asarray(x, np.float64) + b
    m = x.mean(axis=3, keepdims=True)
    x = (x - m) * s + m
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - m) * c + m


def _found_shifts(x, out, max_shift):
    """The (dh, dw) of each sample: the unique zero-filled shift giving out."""
    x, out = np.asarray(x), np.asarray(out)
    shifts = []
    for image, shifted in zip(x, out):
        matches = [(dh, dw)
                   for dh in range(-max_shift[0] - 2, max_shift[0] + 3)
                   for dw in range(-max_shift[1] - 2, max_shift[1] + 3)
                   if np.array_equal(_np_shift(image, dh, dw), shifted)]
        assert len(matches) == 1, matches
        shifts.append(matches[0])
    return np.array(shifts)


def test_registry_names():
    assert sorted(augment.OPS) == ["color", "cutout", "flip", "jitter",
                                   "translation"]


@pytest.mark.parametrize("name", sorted(augment.OPS))
def test_ops_keep_shape_and_dtype_and_change_the_batch(name):
    x = _images(0)
    out = _op(name)(x, jax.random.key(1))
    assert out.shape == x.shape and out.dtype == jnp.float32
    assert np.isfinite(out).all()
    assert not np.array_equal(out, x)


def test_jitter_works_on_points():
    points = _images(2, POINTS)
    key = jax.random.key(3)
    out = _op("jitter")(points, key)
    assert out.shape == points.shape and out.dtype == jnp.float32
    noise = np.asarray(out, np.float64) - np.asarray(points, np.float64)
    # 8192 N(0, 0.05^2) draws: the sample std is within 3% with overwhelming
    # probability, the mean within 4 standard errors of 0.
    np.testing.assert_allclose(noise.std(), 0.05, rtol=0.03)
    assert abs(noise.mean()) < 4 * 0.05 / np.sqrt(noise.size)


def test_probability_zero_is_exactly_the_identity_and_one_every_op():
    x = _images(4)
    key = jax.random.key(5)
    policy = augment.parse_policy("color,translation,cutout,flip,jitter")
    assert policy == POLICY
    # Every op of the policy is skipped for every sample: bit-exact x. p is
    # traced, so one compilation serves every p.
    np.testing.assert_array_equal(_apply(x, key, POLICY, 0.0), x)
    out = _apply(x, key, POLICY, 0.5)
    assert out.shape == x.shape and out.dtype == jnp.float32
    # p = 1 is DiffAugment: the ops in order, op k with fold_in(key, k). Two
    # compilations may fuse the arithmetic differently: allow rounding.
    expected = x
    for index, name in enumerate(POLICY):
        expected = _op(name)(expected, jax.random.fold_in(key, index))
    np.testing.assert_allclose(_apply(x, key, POLICY, 1.0), expected,
                               rtol=1e-6, atol=1e-6)
    assert augment.apply(x, key, ()) is x
    assert augment.apply(x, key, augment.parse_policy("")) is x


def _over_keys(fn, x, keys):
    """fn(x, key) for several keys, concatenated: many draws, one compile."""
    outs = [np.asarray(fn(x, jax.random.key(k))) for k in keys]
    return np.concatenate([np.asarray(x)] * len(keys)), np.concatenate(outs)


@pytest.mark.parametrize("shape", [SHAPE, (16, 12, 6, 1)])
def test_translation_is_a_zero_filled_integer_shift(shape):
    # Values in [0.5, 1] are never 0, so every shift gives a distinct output.
    x, out = _over_keys(_op("translation"), _images(8, shape, 0.5, 1.0),
                        range(4))
    # DiffAugment's range: up to int(size / 8 + 0.5) pixels each way (2 and
    # 1 for 12 x 6, where flooring would give 1 and 0).
    max_shift = (int(shape[1] / 8 + 0.5), int(shape[2] / 8 + 0.5))
    shifts = _found_shifts(x, out, max_shift)
    for axis, limit in enumerate(max_shift):
        # Every allowed shift is drawn, and none outside the range.
        assert set(shifts[:, axis]) == set(range(-limit, limit + 1))


def test_translate_matches_numpy_for_explicit_shifts():
    x = _images(10, (5, 6, 7, 2))
    shift_h = np.array([0, 2, -3, 6, -1])
    shift_w = np.array([1, -2, 0, 0, 9])
    out = np.asarray(jax.jit(augment.translate)(x, shift_h, shift_w))
    expected = [_np_shift(np.asarray(image), dh, dw)
                for image, dh, dw in zip(x, shift_h, shift_w)]
    np.testing.assert_array_equal(out, np.stack(expected))
    # Shifting by the whole height or width leaves only zeros.
    np.testing.assert_array_equal(out[3], 0.0)
    np.testing.assert_array_equal(out[4], 0.0)


def test_translation_gradient_is_the_transposed_shift():
    x = _images(11, SHAPE, 0.5, 1.0)
    w = _images(12)
    key = jax.random.key(13)
    grad = _grad_of_weighted_sum("translation")(x, w, key)
    shifts = _found_shifts(x, _op("translation")(x, key), (1, 1))
    # d/dx sum(shift(x) * w) = w shifted back: grad[i, j] = w[i + dh, j + dw].
    expected = [_np_shift(np.asarray(wi), -dh, -dw)
                for wi, (dh, dw) in zip(w, shifts)]
    np.testing.assert_array_equal(grad, np.stack(expected))
    assert (shifts != 0).any()


@pytest.mark.parametrize("hw", [(8, 8), (7, 10)])
def test_cutout_zeroes_exactly_one_clipped_rectangle(hw):
    height, width = hw
    x, out = _over_keys(_op("cutout"),
                        _images(14, (16, height, width, 3), 0.5, 1.0),
                        range(15, 19))
    cut_h, cut_w = int(height / 2 + 0.5), int(width / 2 + 0.5)
    areas, centres = [], []
    for image, erased in zip(x, out):
        zero = erased == 0
        # Whole pixels are erased, all channels at once; the rest is kept.
        assert (zero.all(axis=-1) == zero.any(axis=-1)).all()
        mask = zero[..., 0]
        np.testing.assert_array_equal(erased[~mask], image[~mask])
        # DiffAugment's centres o in {0, ..., size - cut % 2}, the rectangle
        # covering [o - cut // 2, o - cut // 2 + cut), clipped to the image.
        matches = [
            (oh, ow)
            for oh in range(height + 1 - cut_h % 2)
            for ow in range(width + 1 - cut_w % 2)
            if np.array_equal(mask, _np_rectangle(
                hw, oh - cut_h // 2, ow - cut_w // 2, cut_h, cut_w))]
        assert len(matches) == 1, mask.astype(int)
        areas.append(mask.sum())
        centres.append(matches[0])
    # Some squares are whole, and some are clipped at the border.
    assert max(areas) == cut_h * cut_w
    assert min(areas) < cut_h * cut_w
    # Both ends of each centre range are drawn (64 draws of 8 to 10 values).
    centres = np.array(centres)
    assert centres[:, 0].min() == 0 and centres[:, 1].min() == 0
    assert centres[:, 0].max() == height - cut_h % 2
    assert centres[:, 1].max() == width - cut_w % 2


def test_cutout_at_matches_numpy():
    x = _images(16, (4, 6, 7, 2))
    top, left = np.array([-2, 0, 3, 5]), np.array([1, -3, 4, 6])
    out = np.asarray(jax.jit(augment.cutout_at, static_argnums=(3, 4))(
        x, top, left, 3, 4))
    for b in range(4):
        mask = _np_rectangle((6, 7), top[b], left[b], 3, 4)
        expected = np.where(mask[..., None], 0.0, np.asarray(x[b]))
        np.testing.assert_array_equal(out[b], expected)


def test_adjust_color_matches_numpy():
    x = _images(17)
    rng = np.random.default_rng(0)
    b = rng.uniform(-0.5, 0.5, 16).astype(np.float32)
    s = rng.uniform(0.0, 2.0, 16).astype(np.float32)
    c = rng.uniform(0.5, 1.5, 16).astype(np.float32)
    adjust = jax.jit(augment.adjust_color)
    np.testing.assert_allclose(adjust(x, b, s, c), _np_color(x, b, s, c),
                               rtol=1e-5, atol=1e-6)
    ones, zeros = np.ones(16, np.float32), np.zeros(16, np.float32)
    np.testing.assert_allclose(adjust(x, zeros, ones, ones), x, rtol=1e-6,
                               atol=1e-6)


def test_color_uses_the_documented_draws():
    x = _images(18)
    key = jax.random.key(19)
    out = _op("color")(x, key)
    # The documented draw, mapped to DiffAugment's ranges b ~ U(-0.5, 0.5),
    # s ~ U(0, 2), c ~ U(0.5, 1.5).
    u = np.asarray(jax.random.uniform(key, (3, 16), jnp.float32), np.float64)
    b, s, c = u[0] - 0.5, 2.0 * u[1], u[2] + 0.5
    np.testing.assert_allclose(out, _np_color(x, b, s, c), rtol=1e-5,
                               atol=1e-6)


def test_color_factor_ranges_on_grey_images():
    # A grey image (equal channels) has no saturation to change, so
    # mean(color(x)) = mean(x) + b and color(x) - mean(color(x)) =
    # c * (x - mean(x)): recover b and c per sample and check their ranges.
    grey, out = _over_keys(
        _op("color"), np.repeat(_images(20, SHAPE[:3] + (1,)), 3, axis=3),
        range(21, 37))
    grey, out = np.asarray(grey, np.float64), np.asarray(out, np.float64)
    mean_in, mean_out = grey.mean(axis=(1, 2, 3)), out.mean(axis=(1, 2, 3))
    b = mean_out - mean_in
    dev_in = grey - mean_in[:, None, None, None]
    dev_out = out - mean_out[:, None, None, None]
    c = (dev_out * dev_in).sum(axis=(1, 2, 3)) / (dev_in ** 2).sum(
        axis=(1, 2, 3))
    np.testing.assert_allclose(dev_out, c[:, None, None, None] * dev_in,
                               atol=1e-5)
    assert b.min() >= -0.5 - 1e-5 and b.max() <= 0.5 + 1e-5
    assert c.min() >= 0.5 - 1e-5 and c.max() <= 1.5 + 1e-5
    # 256 uniform draws reach within 0.05 of both ends of each range.
    assert b.min() < -0.45 and b.max() > 0.45
    assert c.min() < 0.55 and c.max() > 1.45


def test_flip_flips_or_keeps_each_sample():
    x = _images(22)
    out = np.asarray(_op("flip")(x, jax.random.key(23)))
    x = np.asarray(x)
    flipped = np.array([np.array_equal(o, xi[:, ::-1])
                        for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert (flipped ^ kept).all()
    assert flipped.any() and kept.any()


@pytest.mark.parametrize("name", ["translation", "cutout", "flip"])
def test_linear_ops_gradient_is_their_adjoint(name):
    # Given the key these ops are linear maps T of x, so the gradient of
    # sum(T(x) * w) is T^T w, and <T^T w, v> = <w, T v> for any v.
    key = jax.random.key(24)
    x, w, v = _images(25), _images(26), _images(27)
    grad = _grad_of_weighted_sum(name)(x, w, key)
    assert np.isfinite(grad).all()
    lhs = np.sum(np.asarray(grad, np.float64) * np.asarray(v, np.float64))
    rhs = np.sum(np.asarray(w, np.float64)
                 * np.asarray(_op(name)(v, key), np.float64))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-5)


def test_apply_gradient_matches_finite_differences():
    # Given the key, every op (and so their composition) is affine in x, so a
    # central difference equals the directional derivative up to rounding.
    key = jax.random.key(28)
    x, w, v = _images(29), _images(30), _images(31)
    gradient = jax.jit(jax.grad(
        lambda y, p: jnp.sum(augment.apply(y, key, POLICY, p) * w)))

    def objective(y, p):
        out = np.asarray(_apply(y, key, POLICY, p), np.float64)
        return np.sum(out * np.asarray(w, np.float64))

    for p in (1.0, 0.5):
        grad = np.asarray(gradient(x, p), np.float64)
        assert np.isfinite(grad).all() and np.any(grad)
        eps = 0.25
        fd = (objective(x + eps * v, p) - objective(x - eps * v, p)) / (2 * eps)
        np.testing.assert_allclose(np.sum(grad * np.asarray(v)), fd,
                                   rtol=1e-4, atol=1e-4)


def test_same_key_same_output():
    x = _images(32)
    first = _apply(x, jax.random.key(33), POLICY, 0.7)
    np.testing.assert_array_equal(_apply(x, jax.random.key(33), POLICY, 0.7),
                                  first)
    assert not np.array_equal(_apply(x, jax.random.key(34), POLICY, 0.7),
                              first)


def test_appending_an_op_keeps_earlier_draws_and_gates_each_sample():
    # With p < 1 each sample of ("flip", "jitter")'s output is ("flip",)'s
    # output, either jittered (with the documented fold_in(key, 1)) or not:
    # appending an op changes neither the earlier op's draws nor its gates.
    x = _images(35)
    for p in (0.25, 0.75):
        applied = []
        for seed in range(16):
            key = jax.random.key(seed)
            short = np.asarray(_apply(x, key, ("flip",), p))
            longer = np.asarray(_apply(x, key, ("flip", "jitter"), p))
            jittered = np.asarray(_op("jitter")(jnp.asarray(short),
                                                jax.random.fold_in(key, 1)))
            # The jitter (std 0.05) dwarfs the rounding of two compilations.
            hit = np.isclose(longer, jittered, rtol=0, atol=1e-5).all(
                axis=(1, 2, 3))
            kept = (longer == short).all(axis=(1, 2, 3))
            assert (hit ^ kept).all()
            applied.append(hit)
        # 256 Binomial(1, p) gates: within 5 standard deviations of p.
        applied = np.concatenate(applied)
        assert abs(applied.mean() - p) < 5 * np.sqrt(p * (1 - p) / applied.size)


def test_parse_policy():
    assert augment.parse_policy("color,translation") == ("color",
                                                         "translation")
    assert augment.parse_policy(" cutout , flip ") == ("cutout", "flip")
    assert augment.parse_policy("") == ()
    with pytest.raises(ValueError) as error:
        augment.parse_policy("color,rotate", field="tricks.augment")
    message = str(error.value)
    assert "'rotate'" in message and "tricks.augment" in message
    assert "color, cutout, flip, jitter, translation" in message


def test_apply_rejects_bad_arguments():
    x = _images(39)
    key = jax.random.key(40)
    with pytest.raises(TypeError, match="parse_policy"):
        augment.apply(x, key, "color")
    with pytest.raises(ValueError, match="color, cutout, flip, jitter"):
        augment.apply(x, key, ("rotate",))
    with pytest.raises(ValueError, match="probability"):
        augment.apply(x, key, ("color",), 1.5)


@pytest.mark.parametrize("name", IMAGE_OPS)
def test_image_ops_reject_points(name):
    points = _images(41, (6, 2))
    key = jax.random.key(42)
    for call in (lambda: augment.OPS[name](points, key),
                 lambda: _apply(points, key, ("jitter", name), 1.0)):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        assert repr(name) in message and "NHWC" in message
        assert "(6, 2)" in message


# target and kimg are traced, so one compilation per interval and batch size.
_ada_update = jax.jit(augment.ada_update,
                      static_argnames=("interval", "batch_size"))


def _np_ada(logit_batches, p, target, interval, batch_size, kimg):
    """The heuristic step by step: (p, r_t) after each batch."""
    sign_sum, count, history = 0.0, 0, []
    for logits in logit_batches:
        sign_sum += float(np.mean(np.sign(logits)))
        count += 1
        r_t = sign_sum / count
        if count == interval:
            speed = batch_size * interval / (kimg * 1000)
            p = min(max(p + np.sign(r_t - target) * speed, 0.0), 1.0)
            sign_sum, count = 0.0, 0
        history.append((p, r_t))
    return history


def test_ada_init():
    state = augment.ada_init()
    assert sorted(state) == ["count", "p", "sign_sum"]
    for value in state.values():
        assert value.shape == () and value.dtype == jnp.float32
        assert float(value) == 0.0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_ada_moves_p_after_the_interval(sign):
    # A step of 8 * 4 / (0.32 * 1000) = 0.1.
    update = functools.partial(_ada_update, target=0.6, interval=4,
                               batch_size=8, kimg=0.32)
    state = dict(augment.ada_init(), p=jnp.float32(0.5))
    logits = sign * (jnp.arange(8, dtype=jnp.float32) + 1.0)
    for step in range(1, 4):
        state, r_t = update(state, logits)
        # Before the interval p does not move; r_t is the running mean.
        assert float(state["p"]) == 0.5
        assert float(state["count"]) == step
        np.testing.assert_allclose(r_t, sign)
    state, r_t = update(state, logits)
    # All-positive reals: r_t = 1 > 0.6, D overfits, p rises; all-negative
    # reals: r_t = -1 < 0.6, p falls.
    np.testing.assert_allclose(state["p"], 0.5 + sign * 0.1, rtol=1e-6)
    np.testing.assert_allclose(r_t, sign)
    assert float(state["count"]) == 0.0 and float(state["sign_sum"]) == 0.0
    for value in (*state.values(), r_t):
        assert value.shape == () and value.dtype == jnp.float32


@pytest.mark.parametrize("start, sign, end", [(0.95, 1.0, 1.0),
                                              (0.05, -1.0, 0.0),
                                              (0.0, -1.0, 0.0)])
def test_ada_p_is_clipped(start, sign, end):
    # A step of 8 * 4 / (0.32 * 1000) = 0.1.
    update = functools.partial(_ada_update, target=0.6, interval=4,
                               batch_size=8, kimg=0.32)
    state = dict(augment.ada_init(), p=jnp.float32(start))
    for _ in range(4):
        state, _ = update(state, jnp.full((8,), sign, jnp.float32))
    assert float(state["p"]) == end


def test_ada_matches_numpy_heuristic():
    rng = np.random.default_rng(1)
    # Batches whose fraction of positive logits varies around the target,
    # with some exact zeros (sign 0).
    batches = [np.round(rng.normal(loc, 1.0, 8)).astype(np.float32)
               for loc in rng.uniform(-1.0, 2.0, 20)]
    options = dict(target=0.3, interval=4, batch_size=8, kimg=0.64)  # Step 0.05.
    expected = _np_ada(batches, 0.2, **options)
    update = functools.partial(_ada_update, **options)
    state = dict(augment.ada_init(), p=jnp.float32(0.2))
    ps = []
    for logits, (p, r_t) in zip(batches, expected):
        state, got_r_t = update(state, logits)
        np.testing.assert_allclose(state["p"], p, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_r_t, r_t, rtol=1e-5, atol=1e-6)
        ps.append(p)
    # The sequence adjusts p both ways, so both branches were exercised.
    steps = np.diff([0.2] + ps)
    assert (steps > 0).any() and (steps < 0).any()
