"""The image-to-image objectives, term by term, against NumPy by hand."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.image_to_image import objectives


def _softplus(x):
    return np.logaddexp(0.0, x)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in [
        ("real_logits", (3, 2, 2)), ("fake_logits", (3, 2, 2)),
        ("fake", (3, 4, 4, 1)), ("target", (3, 4, 4, 1)),
        ("features_fake", (3, 2, 2, 5)), ("features_target", (3, 2, 2, 5))]}


def test_pix2pix_generator_is_cgan_plus_lambda_l1(arrays):
    total, terms = jax.jit(lambda a: objectives.pix2pix_generator_objective(
        losses.get("non_saturating"), a["real_logits"], a["fake_logits"],
        a["fake"], a["target"], l1_weight=100.0))(arrays)
    adversarial = np.mean(_softplus(-arrays["fake_logits"]))  # -log D(x, G(x)) per patch
    l1 = np.mean(np.abs(arrays["fake"] - arrays["target"]))
    np.testing.assert_allclose(terms["g_adversarial"], adversarial, rtol=1e-6)
    np.testing.assert_allclose(terms["g_l1"], l1, rtol=1e-6)
    np.testing.assert_allclose(total, adversarial + 100.0 * l1, rtol=1e-6)


def test_srgan_generator_is_content_plus_1e3_adversarial(arrays):
    total, terms = jax.jit(lambda a: objectives.srgan_generator_objective(
        losses.get("non_saturating"), a["real_logits"], a["fake_logits"],
        a["features_fake"], a["features_target"], adversarial_weight=1e-3))(arrays)
    content = np.mean((arrays["features_fake"] - arrays["features_target"]) ** 2)
    adversarial = np.mean(_softplus(-arrays["fake_logits"]))
    np.testing.assert_allclose(terms["g_content"], content, rtol=1e-6)
    np.testing.assert_allclose(total, content + 1e-3 * adversarial, rtol=1e-6)
    mse, pretrain_terms = objectives.srgan_pretrain_objective(arrays["fake"],
                                                              arrays["target"])
    np.testing.assert_allclose(mse, np.mean((arrays["fake"] - arrays["target"]) ** 2),
                               rtol=1e-6)
    assert set(pretrain_terms) == {"g_mse"}


def test_cyclegan_generator_terms_least_squares():
    rng = np.random.default_rng(1)
    images = {name: rng.uniform(-1, 1, (2, 4, 4, 3)).astype(np.float32) for name in (
        "real_a", "real_b", "fake_a", "fake_b", "reconstructed_a",
        "reconstructed_b", "identity_a", "identity_b")}
    logits = {name: rng.normal(size=(2, 3, 3)).astype(np.float32) for name in (
        "logits_real_a", "logits_fake_a", "logits_real_b", "logits_fake_b")}
    total, terms = jax.jit(lambda i, l: objectives.cyclegan_generator_objective(
        losses.get("least_squares"), **i, **l, cycle_weight=10.0,
        identity_weight=5.0))(images, logits)
    # LSGAN's generator (Mao et al. 2017, b = c = 1): 1/2 E(D(G(x)) - 1)^2,
    # averaged over every patch.
    adversarial_b = np.mean((logits["logits_fake_b"] - 1.0) ** 2) / 2
    adversarial_a = np.mean((logits["logits_fake_a"] - 1.0) ** 2) / 2
    l1 = lambda x, y: np.mean(np.abs(images[x] - images[y]))  # noqa: E731
    cycle = l1("reconstructed_a", "real_a") + l1("reconstructed_b", "real_b")
    identity = l1("identity_a", "real_a") + l1("identity_b", "real_b")
    np.testing.assert_allclose(terms["g_adversarial_ab"], adversarial_b, rtol=1e-6)
    np.testing.assert_allclose(terms["g_adversarial_ba"], adversarial_a, rtol=1e-6)
    np.testing.assert_allclose(terms["g_cycle"], cycle, rtol=1e-6)
    np.testing.assert_allclose(terms["g_identity"], identity, rtol=1e-6)
    np.testing.assert_allclose(
        total, adversarial_a + adversarial_b + 10.0 * cycle + 5.0 * identity, rtol=1e-6)
    total_without, _ = objectives.cyclegan_generator_objective(
        losses.get("least_squares"), **images, **logits, cycle_weight=10.0,
        identity_weight=0.0)
    np.testing.assert_allclose(total_without, adversarial_a + adversarial_b + 10.0 * cycle,
                               rtol=1e-6)


def test_discriminator_objective_scale_halves_the_loss(arrays):
    loss = losses.get("least_squares")
    full, _ = objectives.discriminator_objective(loss, arrays["real_logits"],
                                                 arrays["fake_logits"])
    half, terms = objectives.discriminator_objective(
        loss, arrays["real_logits"], arrays["fake_logits"], scale=0.5)
    np.testing.assert_allclose(half, 0.5 * full, rtol=1e-6)
    assert terms["d_loss"] == half


def test_psnr_by_hand_and_errors_of_empty_batches():
    target = np.zeros((2, 4, 4, 1), np.float32)
    images = target + np.array([0.2, 0.02], np.float32)[:, None, None, None]
    # range 2: 10 log10(4 / 0.04) = 20 dB and 10 log10(4 / 0.0004) = 40 dB.
    np.testing.assert_allclose(objectives.psnr(images, target), [20.0, 40.0], rtol=1e-5)
    empty = jnp.zeros((0, 4, 4, 1))
    assert float(objectives.mean_absolute_error(empty, empty)) == 0.0
    assert float(objectives.mean_squared_error(empty, empty)) == 0.0
