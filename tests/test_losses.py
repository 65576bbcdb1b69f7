"""gan_jax.losses against independent NumPy references, under jax.jit."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax.tricks import label_noise

NAMES = sorted(losses.LOSSES)
CROSS_ENTROPY = ["minimax", "non_saturating", "relativistic",
                 "relativistic_average"]


def _log_sigmoid(x):
    # The textbook form, fine on the moderate logits it is used on here.
    return np.log(1.0 / (1.0 + np.exp(-x)))


def _log_one_minus_sigmoid(x):
    return np.log(1.0 - 1.0 / (1.0 + np.exp(-x)))


def _relu(x):
    return np.maximum(x, 0.0)


def _reference(name, r, f):
    """(D, G) in float64, written from the papers' formulas."""
    r = np.asarray(r, np.float64).reshape(-1)
    f = np.asarray(f, np.float64).reshape(-1)
    mr, mf = r.mean(), f.mean()
    d_bce = -_log_sigmoid(r).mean() - _log_one_minus_sigmoid(f).mean()
    if name == "minimax":
        return d_bce, _log_one_minus_sigmoid(f).mean()
    if name == "non_saturating":
        return d_bce, -_log_sigmoid(f).mean()
    if name == "wasserstein":
        return f.mean() - r.mean(), -f.mean()
    if name == "hinge":
        return _relu(1 - r).mean() + _relu(1 + f).mean(), -f.mean()
    if name == "least_squares":
        return (0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
                0.5 * ((f - 1) ** 2).mean())
    if name == "relativistic":
        return -_log_sigmoid(r - f).mean(), -_log_sigmoid(f - r).mean()
    if name == "relativistic_average":
        return (-_log_sigmoid(r - mf).mean()
                - _log_one_minus_sigmoid(f - mr).mean(),
                -_log_sigmoid(f - mr).mean()
                - _log_one_minus_sigmoid(r - mf).mean())
    if name == "relativistic_average_hinge":
        return (_relu(1 - (r - mf)).mean() + _relu(1 + (f - mr)).mean(),
                _relu(1 - (f - mr)).mean() + _relu(1 + (r - mf)).mean())
    if name == "relativistic_average_least_squares":
        return (((r - mf - 1) ** 2).mean() + ((f - mr + 1) ** 2).mean(),
                ((f - mr - 1) ** 2).mean() + ((r - mf + 1) ** 2).mean())
    if name == "began":  # Energies; k = 0 by default.
        return r.mean(), f.mean()
    raise AssertionError(f"no reference for {name}")


def _logits(seed, shape):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-3, 3, shape).astype(np.float32),
            rng.uniform(-3, 3, shape).astype(np.float32))


def test_label_smoothing_is_taken_by_exactly_the_losses_the_messages_name():
    """The losses that accept a non-zero smoothing are the ones the rejection
    hint names, and the ones `loss.label_noise` is allowed with (its term
    assumes the smoothed cross-entropy's real term, `label_noise_term`)."""
    takes, hints = set(), set()
    for name in NAMES:
        try:
            losses.get(name, label_smoothing=0.1)
            takes.add(name)
        except ValueError as error:
            hints.add(str(error).split("Label smoothing applies to ")[-1])
    assert len(hints) == 1, hints
    hint = hints.pop()
    named = {name for name in NAMES if re.search(rf"\b{name}\b", hint)}
    assert takes == named == set(label_noise.CROSS_ENTROPY_LOSSES)


def test_began_balances_fake_energy_by_k():
    r, f = _logits(2, (8,))
    k = jnp.float32(0.3)
    loss = jax.jit(lambda r, f, k: losses.began(k).discriminator(r, f))
    np.testing.assert_allclose(loss(r, f, k), r.mean() - 0.3 * f.mean(), rtol=1e-5)
    np.testing.assert_allclose(losses.began(k).generator(r, f), f.mean(), rtol=1e-5)


def test_label_noise_term_is_the_cross_entropy_of_noisy_targets():
    r, f = _logits(3, (64,))
    key, noise, smoothing = jax.random.key(0), 0.2, 0.1
    u = np.asarray(jax.random.uniform(key, (64,), jnp.float32))
    targets = 1.0 - smoothing - noise * u
    expected = (-(targets * _log_sigmoid(r) + (1 - targets) * _log_one_minus_sigmoid(r)
                  ).mean() - _log_one_minus_sigmoid(f).mean())
    loss = losses.non_saturating(label_smoothing=smoothing)
    got = jax.jit(lambda r, f: loss.discriminator(r, f)
                  + losses.label_noise_term(r, key, noise))(r, f)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("shape", [(8,), (8, 1)])
@pytest.mark.parametrize("name", NAMES)
def test_values_match_numpy(name, shape):
    r, f = _logits(0, shape)
    loss = losses.get(name)
    d = jax.jit(loss.discriminator)(r, f)
    g = jax.jit(loss.generator)(r, f)
    d_ref, g_ref = _reference(name, r, f)
    assert d.shape == () and g.shape == ()
    assert d.dtype == jnp.float32 and g.dtype == jnp.float32
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-6)


def _central_differences(fn, r, f, eps=1e-3):
    """d fn / d r and d fn / d f, differenced in float64."""
    grads = []
    for which in range(2):
        args = [np.array(r, np.float64), np.array(f, np.float64)]
        grad = np.zeros_like(args[which])
        for i in range(args[which].size):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[which].flat[i] += eps
            minus[which].flat[i] -= eps
            up = np.float64(fn(*[a.astype(np.float32) for a in plus]))
            down = np.float64(fn(*[a.astype(np.float32) for a in minus]))
            grad.flat[i] = (up - down) / (2 * eps)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("player", ["discriminator", "generator"])
@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences(name, player):
    r, f = _logits(1, (8,))
    fn = jax.jit(getattr(losses.get(name), player))
    grad_r, grad_f = jax.jit(jax.grad(fn, argnums=(0, 1)))(r, f)
    fd_r, fd_f = _central_differences(fn, r, f)
    # Float32 rounding of the loss, divided by 2 eps, bounds the FD noise.
    np.testing.assert_allclose(grad_r, fd_r, rtol=1e-2, atol=5e-4)
    np.testing.assert_allclose(grad_f, fd_f, rtol=1e-2, atol=5e-4)


@pytest.mark.parametrize("scale", [1e4, 1e30])
@pytest.mark.parametrize("name", CROSS_ENTROPY)
def test_extreme_logits_are_finite(name, scale):
    loss = losses.get(name)
    both = jax.jit(lambda r, f: (loss.discriminator(r, f),
                                 loss.generator(r, f)))
    grads = jax.jit(jax.grad(lambda r, f: sum(both(r, f)), argnums=(0, 1)))
    for sign in (1.0, -1.0):
        # Confident and completely wrong discriminators, in one batch.
        r = jnp.array([sign * scale, -sign * scale, sign * scale], jnp.float32)
        f = -r
        values = both(r, f)
        assert all(np.isfinite(v) for v in values), values
        assert all(np.isfinite(g).all() for g in grads(r, f))


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_extreme_logits_have_the_asymptotic_value(name):
    # softplus(x) -> x for large x: a wrong discriminator pays its logits.
    loss = losses.get(name)
    r = jnp.full((4,), -1e4, jnp.float32)
    f = jnp.full((4,), 1e4, jnp.float32)
    np.testing.assert_allclose(jax.jit(loss.discriminator)(r, f), 2e4,
                               rtol=1e-6)
    np.testing.assert_allclose(jax.jit(loss.discriminator)(-r, -f), 0.0,
                               atol=1e-6)


@pytest.mark.parametrize("shape", [(0,), (0, 1)])
@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_finite(name, shape):
    loss = losses.get(name)
    empty = jnp.zeros(shape, jnp.float32)
    assert np.isfinite(jax.jit(loss.discriminator)(empty, empty))
    assert np.isfinite(jax.jit(loss.generator)(empty, empty))


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_logits_give_float32_losses(name):
    r, f = _logits(2, (8,))
    loss = losses.get(name)
    r16, f16 = jnp.asarray(r, jnp.bfloat16), jnp.asarray(f, jnp.bfloat16)
    d = jax.jit(loss.discriminator)(r16, f16)
    assert d.dtype == jnp.float32
    assert jax.jit(loss.generator)(r16, f16).dtype == jnp.float32
    # The bf16 logits themselves, promoted, are what the loss sees.
    d_ref, _ = _reference(name, np.asarray(r16, np.float32),
                          np.asarray(f16, np.float32))
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("s", [0.1, 0.3])
@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_label_smoothing_value(name, s):
    r, f = _logits(3, (8,))
    smoothed = losses.get(name, label_smoothing=s)
    plain = losses.get(name)
    expected = (-((1 - s) * _log_sigmoid(r.astype(np.float64))
                  + s * _log_one_minus_sigmoid(r.astype(np.float64))).mean()
                - _log_one_minus_sigmoid(f.astype(np.float64)).mean())
    np.testing.assert_allclose(jax.jit(smoothed.discriminator)(r, f),
                               expected, rtol=1e-5)
    # One-sided: the generator is untouched.
    np.testing.assert_allclose(jax.jit(smoothed.generator)(r, f),
                               jax.jit(plain.generator)(r, f), rtol=1e-6)


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_zero_label_smoothing_is_the_plain_loss(name):
    r, f = _logits(4, (8,))
    np.testing.assert_array_equal(
        losses.get(name, label_smoothing=0.0).discriminator(r, f),
        losses.get(name).discriminator(r, f))


@pytest.mark.parametrize("s", [0.1, 0.25])
def test_label_smoothing_moves_the_real_optimum(s):
    optimum = np.log((1 - s) / s)
    f = jnp.zeros((4,), jnp.float32)

    def grad_at(loss, real_logit):
        r = jnp.full((4,), real_logit, jnp.float32)
        return jax.jit(jax.grad(loss.discriminator))(r, f)

    smoothed = losses.get("non_saturating", label_smoothing=s)
    np.testing.assert_allclose(grad_at(smoothed, optimum), 0.0, atol=1e-6)
    # A stationary point that is a minimum: pushed back from either side.
    assert (grad_at(smoothed, optimum + 1.0) > 0).all()
    assert (grad_at(smoothed, optimum - 1.0) < 0).all()
    # Unsmoothed, the real logit is still pushed towards +inf there.
    assert (grad_at(losses.get("non_saturating"), optimum) < 0).all()


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as error:
        losses.get("foo")
    message = str(error.value)
    assert "'foo'" in message
    assert ", ".join(sorted(losses.LOSSES)) in message


@pytest.mark.parametrize("name", NAMES)
def test_zero_label_smoothing_is_accepted_everywhere(name):
    assert isinstance(losses.get(name, label_smoothing=0.0), losses.GANLoss)


def test_unsupported_options_are_rejected():
    with pytest.raises(ValueError, match="takes no options"):
        losses.get("hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match="accepts only label_smoothing"):
        losses.get("minimax", smoothing=0.1)
    with pytest.raises(ValueError, match="target"):
        losses.get("wasserstein", target=1.0)


@pytest.mark.parametrize("s", [-0.1, 1.0, 1.5, float("nan")])
def test_label_smoothing_out_of_range(s):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        losses.get("non_saturating", label_smoothing=s)


def test_wasserstein_discriminator_is_antisymmetric():
    r, f = _logits(5, (8,))
    d = jax.jit(losses.get("wasserstein").discriminator)
    np.testing.assert_allclose(d(r, f), -d(f, r), rtol=1e-6)
    assert abs(float(d(r, f))) > 1e-3  # Not trivially zero.


def test_least_squares_discriminator_optimum():
    loss = losses.get("least_squares")
    d = jax.jit(loss.discriminator)
    assert d(jnp.ones((8,)), jnp.zeros((8,))) == 0.0
    assert d(jnp.ones((8,)), jnp.full((8,), 0.5)) > 0.0
