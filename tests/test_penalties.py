"""gan_jax.penalties on critics whose input gradients are known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import penalties

SHAPES = [(6, 2), (5, 4, 4, 3)]


def _linear_critic(w, keepdims=False):
    """D(x) = flatten(x) . w, whose input gradient is w everywhere."""
    def critic(x):
        logits = x.reshape(x.shape[0], w.shape[0]) @ w
        return logits[:, None] if keepdims else logits
    return critic


def _quadratic_critic(x):
    """D(x) = ||x||^2 / 2, whose input gradient is x."""
    return 0.5 * jnp.sum(jnp.square(x), axis=tuple(range(1, x.ndim)))


def _batch(seed, shape):
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def _weights(shape, norm):
    w = np.random.default_rng(0).normal(size=int(np.prod(shape[1:])))
    return jnp.asarray(norm * w / np.linalg.norm(w), jnp.float32)


def _row_norms(x):
    x = np.asarray(x, np.float64)
    return np.linalg.norm(x.reshape(x.shape[0], -1), axis=1)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_linear_critic(shape, keepdims):
    norm = 1.7
    critic = _linear_critic(_weights(shape, norm), keepdims)
    real, fake = _batch(0, shape), _batch(1, shape)
    key = jax.random.key(2)

    r1 = jax.jit(lambda x: penalties.r1_penalty(critic, x))(real)
    r2 = jax.jit(lambda x: penalties.r2_penalty(critic, x))(fake)
    np.testing.assert_allclose(r1, norm ** 2, rtol=1e-5)
    np.testing.assert_allclose(r2, norm ** 2, rtol=1e-5)
    for target in (1.0, 0.5):
        gp = jax.jit(lambda r, f, k, t=target: penalties.gradient_penalty(
            critic, r, f, k, target=t))(real, fake, key)
        np.testing.assert_allclose(gp, (norm - target) ** 2 / target ** 2,
                                   rtol=1e-5)
    dragan = jax.jit(lambda r, k: penalties.dragan_penalty(critic, r, k))(
        real, key)
    np.testing.assert_allclose(dragan, (norm - 1.0) ** 2, rtol=1e-5)


@pytest.mark.parametrize("norm", [0.4, 2.5])
@pytest.mark.parametrize("shape", SHAPES)
def test_one_sided_penalty_only_penalises_large_gradients(shape, norm):
    critic = _linear_critic(_weights(shape, norm))
    lp = jax.jit(lambda r, f, k: penalties.gradient_penalty(
        critic, r, f, k, one_sided=True))(
            _batch(0, shape), _batch(1, shape), jax.random.key(2))
    np.testing.assert_allclose(lp, max(norm - 1.0, 0.0) ** 2, rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_r1_on_quadratic_critic(shape):
    real = _batch(3, shape)
    r1 = jax.jit(lambda x: penalties.r1_penalty(_quadratic_critic, x))(real)
    np.testing.assert_allclose(r1, np.mean(_row_norms(real) ** 2), rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_penalty_interpolates(shape):
    real, fake = _batch(4, shape), _batch(5, shape)
    key = jax.random.key(6)
    gp = jax.jit(lambda r, f, k: penalties.gradient_penalty(
        _quadratic_critic, r, f, k))(real, fake, key)
    # The documented draw: one eps ~ U[0, 1] per sample, from `key`.
    eps = np.asarray(jax.random.uniform(
        key, (shape[0],) + (1,) * (len(shape) - 1), jnp.float32))
    interpolates = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    expected = np.mean((_row_norms(interpolates) - 1.0) ** 2)
    np.testing.assert_allclose(gp, expected, rtol=1e-5)
    # The interpolates are not real or fake themselves.
    for endpoint in (real, fake):
        assert not np.isclose(expected,
                              np.mean((_row_norms(endpoint) - 1.0) ** 2))


def test_gradient_penalty_with_equal_endpoints_ignores_eps():
    real = _batch(7, (6, 2))
    gp = jax.jit(lambda r, k: penalties.gradient_penalty(
        _quadratic_critic, r, r, k))
    expected = np.mean((_row_norms(real) - 1.0) ** 2)
    for seed in (0, 1):
        np.testing.assert_allclose(gp(real, jax.random.key(seed)), expected,
                                   rtol=1e-5)


def test_dragan_perturbation():
    dragan = jax.jit(lambda r, k, scale: penalties.dragan_penalty(
        _quadratic_critic, r, k, perturbation_scale=scale))
    key = jax.random.key(8)
    # Without perturbation the penalty is taken at the reals themselves.
    real = _batch(9, (6, 4, 4, 3))
    at_real = np.mean((_row_norms(real) - 1.0) ** 2)
    np.testing.assert_allclose(dragan(real, key, 0.0), at_real, rtol=1e-5)
    # The noise is scaled by std(real): a constant batch is not perturbed.
    constant = jnp.full((6, 4, 4, 3), 0.3, jnp.float32)
    np.testing.assert_allclose(
        dragan(constant, key, 0.5),
        np.mean((_row_norms(constant) - 1.0) ** 2), rtol=1e-5)
    # x_hat = real + (1 - alpha) * c * std * u with u in [0, 1]: for
    # non-negative reals whose norms exceed 1, the penalty lies between its
    # values at real and at real + c * std.
    positive = jnp.abs(real) + 0.5
    scale = 0.5
    shifted = np.asarray(positive) + scale * np.std(np.asarray(positive))
    low = np.mean((_row_norms(positive) - 1.0) ** 2)
    high = np.mean((_row_norms(shifted) - 1.0) ** 2)
    value = float(dragan(positive, key, scale))
    assert low < value < high


def test_dragan_perturbation_stays_in_its_box():
    # Each x_hat element lies in [real, real + c * std(real)]. A critic that
    # is flat inside that box and quadratic outside it has a zero input
    # gradient at every x_hat, so with target 0 the penalty is exactly 0.
    real = 0.3 * _batch(19, (6, 4, 4, 3))
    scale = 0.5
    upper = real + scale * jnp.std(real)

    def outside_box(x):
        below = jnp.minimum(x - real, 0.0)
        above = jnp.maximum(x - upper, 0.0)
        return 0.5 * jnp.sum(below ** 2 + above ** 2, axis=(1, 2, 3))

    for seed in range(3):
        value = jax.jit(lambda r, k: penalties.dragan_penalty(
            outside_box, r, k, perturbation_scale=scale, target=0.0))(
                real, jax.random.key(seed))
        assert float(value) == 0.0
    # The same critic does see points outside the box.
    assert float(penalties.r1_penalty(outside_box, upper + 0.1)) > 0.0


@pytest.mark.parametrize("name", ["gp", "lp", "dragan"])
def test_parameter_gradient_is_finite_where_input_gradient_vanishes(name):
    penalty = penalties.get(name)
    real, fake = _batch(10, (6, 2)), _batch(11, (6, 2))
    key = jax.random.key(12)

    def loss(params):
        w, b = params

        # At w = 0 this critic is the constant b: its input gradient is 0.
        def critic(x):
            return x @ w + b
        return penalty(critic, real, fake, key)

    params = (jnp.zeros((2,), jnp.float32), jnp.ones((), jnp.float32))
    value, grads = jax.jit(jax.value_and_grad(loss))(params)
    np.testing.assert_allclose(value, 0.0 if name == "lp" else 1.0)
    for g in grads:
        assert np.isfinite(g).all() and not np.any(g)
    # A plain sqrt norm would have given NaN here.
    naive = jax.grad(lambda w: (jnp.sqrt(jnp.sum(w ** 2)) - 1.0) ** 2)(
        params[0])
    assert np.isnan(naive).any()


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("name", sorted(penalties.PENALTIES))
def test_empty_batch_gives_zero(name, per_sample):
    empty = jnp.zeros((0, 4, 4, 3), jnp.float32)
    critic = _linear_critic(_weights(empty.shape, 2.0))
    penalty = penalties.get(name, per_sample_gradients=per_sample)
    value = jax.jit(lambda r, f, k: penalty(critic, r, f, k))(
        empty, empty, jax.random.key(0))
    assert value.dtype == jnp.float32
    np.testing.assert_array_equal(value, 0.0)


def test_registry_uniform_signature():
    assert sorted(penalties.PENALTIES) == sorted(
        ["none", "gp", "lp", "r1", "r2", "dragan"])
    w = _weights((6, 2), 2.0)
    critic = _linear_critic(w)
    real, fake = _batch(13, (6, 2)), _batch(14, (6, 2)) + 3.0
    key = jax.random.key(15)
    expected = {"none": 0.0, "gp": 1.0, "lp": 1.0, "r1": 4.0, "r2": 4.0,
                "dragan": 1.0}
    for name, value in expected.items():
        fn = jax.jit(lambda r, f, k, fn=penalties.get(name): fn(critic, r, f, k))
        out = fn(real, fake, key)
        assert out.shape == () and out.dtype == jnp.float32, name
        np.testing.assert_allclose(out, value, rtol=1e-5, err_msg=name)
    # R1 looks at the reals only, R2 at the fakes only.
    quadratic_r1 = penalties.get("r1")(_quadratic_critic, real, fake, key)
    quadratic_r2 = penalties.get("r2")(_quadratic_critic, real, fake, key)
    np.testing.assert_allclose(quadratic_r1, np.mean(_row_norms(real) ** 2),
                               rtol=1e-5)
    np.testing.assert_allclose(quadratic_r2, np.mean(_row_norms(fake) ** 2),
                               rtol=1e-5)


def test_registry_options():
    critic = _linear_critic(_weights((6, 2), 2.0))
    args = (critic, _batch(16, (6, 2)), _batch(17, (6, 2)), jax.random.key(0))
    np.testing.assert_allclose(penalties.get("gp", target=2.0)(*args), 0.0,
                               atol=1e-6)
    np.testing.assert_allclose(penalties.get("lp", target=3.0)(*args), 0.0)
    # (2 - 0.5)^2 / 0.5^2.
    np.testing.assert_allclose(
        penalties.get("dragan", target=0.5, perturbation_scale=1.0)(*args),
        9.0, rtol=1e-5)
    assert penalties.accepted_options("dragan") == ("perturbation_scale",
                                                    "target")
    assert penalties.accepted_options("r1") == ()


def test_registry_errors():
    with pytest.raises(ValueError) as error:
        penalties.get("wgan-gp")
    assert "'wgan-gp'" in str(error.value)
    assert ", ".join(sorted(penalties.PENALTIES)) in str(error.value)
    with pytest.raises(ValueError, match="takes no options"):
        penalties.get("r1", target=1.0)
    with pytest.raises(ValueError, match="accepts only target"):
        penalties.get("gp", perturbation_scale=0.5)
    with pytest.raises(ValueError, match="perturbation_scale, target"):
        penalties.get("dragan", gamma=10.0)
    for target in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="target"):
            penalties.get("gp", target=target)(
                _quadratic_critic, _batch(16, (6, 2)), _batch(17, (6, 2)),
                jax.random.key(0))


def test_bfloat16_inputs_give_float32():
    critic = _linear_critic(_weights((6, 2), 2.0).astype(jnp.bfloat16))
    real = _batch(18, (6, 2)).astype(jnp.bfloat16)
    value = jax.jit(lambda x: penalties.r1_penalty(critic, x))(real)
    assert value.dtype == jnp.float32


def test_clip_weights():
    params = {"dense": {"kernel": jnp.array([[-2.0, 0.005], [0.3, -0.01]]),
                        "bias": jnp.array([0.02, -0.5], jnp.bfloat16)},
              "scale": jnp.array(0.001)}
    clipped = jax.jit(lambda p: penalties.clip_weights(p, 0.01))(params)
    assert jax.tree.structure(clipped) == jax.tree.structure(params)
    np.testing.assert_allclose(clipped["dense"]["kernel"],
                               [[-0.01, 0.005], [0.01, -0.01]])
    np.testing.assert_allclose(clipped["dense"]["bias"].astype(jnp.float32),
                               np.asarray(jnp.array([0.01, -0.01],
                                                    jnp.bfloat16), np.float32))
    assert clipped["dense"]["bias"].dtype == jnp.bfloat16
    np.testing.assert_allclose(clipped["scale"], 0.001)
    for bad in (0.0, -0.01):
        with pytest.raises(ValueError, match="positive"):
            penalties.clip_weights(params, bad)


# --- Critics whose logits depend on other samples ---------------------------------

def _batch_mean_critic(a, b):
    """D(x)_i = a . x_i + b . mean_j x_j: sample i's own input gradient (the
    others held fixed) is a + b / B, while the gradient of the sum of the
    logits with respect to x_i is a + b."""
    def critic(x):
        flat = x.reshape(x.shape[0], a.shape[0])
        return flat @ a + jnp.mean(flat, axis=0) @ b
    return critic


@pytest.mark.parametrize("shape", SHAPES)
def test_per_sample_gradients_hold_the_other_samples_fixed(shape):
    features = int(np.prod(shape[1:]))
    rng = np.random.default_rng(20)
    a = jnp.asarray(rng.normal(size=features), jnp.float32)
    b = jnp.asarray(rng.normal(size=features), jnp.float32)
    critic = _batch_mean_critic(a, b)
    own = np.linalg.norm(np.asarray(a, np.float64) + np.asarray(b) / shape[0])
    summed = np.linalg.norm(np.asarray(a, np.float64) + np.asarray(b))
    real, fake = _batch(21, shape), _batch(22, shape)
    key = jax.random.key(23)
    for per_sample, norm in ((True, own), (False, summed)):
        for name, target, one_sided in (("r1", 0.0, False), ("r2", 0.0, False),
                                        ("gp", 1.0, False), ("lp", 1.0, True),
                                        ("dragan", 1.0, False)):
            excess = norm - target
            expected = max(excess, 0.0) ** 2 if one_sided else excess ** 2
            penalty = penalties.get(name, per_sample_gradients=per_sample)
            value = jax.jit(lambda r, f, k, fn=penalty: fn(critic, r, f, k))(
                real, fake, key)
            np.testing.assert_allclose(
                value, expected, rtol=0,
                atol=_square_tolerance(norm, excess, features, shape[0]),
                err_msg=f"{name}, per_sample_gradients={per_sample}")


def _square_tolerance(norm, excess, features, batch):
    """Float32 error of a batch mean of (norm - target)^2 with `excess` =
    norm - target: the norm is off by about (features + 4) roundings of its
    size (the gradient's sum a + b / B, the squares' sum, the square root),
    which the square scales by 2 |excess|; the batch mean adds `batch`
    roundings of the result."""
    norm_error = (features + 4) * 2.0**-24 * norm
    return (2 * abs(excess) * norm_error + norm_error ** 2
            + batch * 2.0**-24 * excess ** 2)


# --- The target norm: normalised as Progressive GAN and TF-GAN ---------------------

@pytest.mark.parametrize("target", [0.5, 1.0, 2.5, 750.0, 0.0])
def test_target_penalties_match_numpy(target):
    """E[(||g|| - t)^2] / t^2 (E[relu(.)^2] / t^2 one-sided), ||g||^2 at t = 0,
    on the quadratic critic, whose input gradient at x is x."""
    shape = (6, 4, 4, 3)
    features = int(np.prod(shape[1:]))
    # Gradient norms from about 0.6 to 1.4 times the target (or 1), on both
    # sides of it.
    spread = np.linspace(0.6, 1.4, shape[0]).reshape(-1, 1, 1, 1)
    scale = jnp.asarray((target or 1.0) * spread / np.sqrt(features), jnp.float32)
    real = scale * (1.0 + 0.1 * _batch(24, shape))
    fake = scale * (1.0 + 0.1 * _batch(25, shape))
    key = jax.random.key(26)
    eps = np.asarray(jax.random.uniform(
        key, (shape[0],) + (1,) * (len(shape) - 1), jnp.float32), np.float64)
    interpolates = eps * np.asarray(real, np.float64) + (1 - eps) * np.asarray(
        fake, np.float64)
    cases = {
        "gp": (lambda r, f, k: penalties.gradient_penalty(
            _quadratic_critic, r, f, k, target=target), interpolates, False),
        "lp": (lambda r, f, k: penalties.gradient_penalty(
            _quadratic_critic, r, f, k, target=target, one_sided=True),
               interpolates, True),
        # Without perturbation, DRAGAN's x_hat are the reals.
        "dragan": (lambda r, f, k: penalties.dragan_penalty(
            _quadratic_critic, r, k, perturbation_scale=0.0, target=target),
                   np.asarray(real, np.float64), False),
    }
    for name, (penalty, points, one_sided) in cases.items():
        norms = _row_norms(points)
        excess = norms - target
        if one_sided:
            excess = np.maximum(excess, 0.0)
        divisor = target ** 2 if target > 0 else 1.0
        expected = np.mean(excess ** 2) / divisor
        value = jax.jit(penalty)(real, fake, key)
        # Each float32 norm is off by about (features + 4) roundings of its
        # size (the interpolation, the squares' sum, the square root), which
        # the square scales by 2 |excess|; the mean adds a rounding per sample.
        norm_error = (features + 4) * 2.0**-24 * norms
        tolerance = (np.mean(2 * np.abs(excess) * norm_error + norm_error ** 2)
                     / divisor + shape[0] * 2.0**-24 * expected)
        np.testing.assert_allclose(value, expected, rtol=0, atol=tolerance,
                                   err_msg=name)
        if one_sided and target > 0:
            assert 0 < np.count_nonzero(excess) < shape[0], name
