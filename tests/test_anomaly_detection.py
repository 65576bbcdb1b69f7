"""AnoGAN / f-AnoGAN (`gan_jax.anomaly_detection`): the score formulas, the
izi_f loss, the latent search, the feature check and the files written."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.anomaly_detection import detector
from gan_jax.anomaly_detection import encoder_training
from gan_jax.anomaly_detection import frozen_gan
from gan_jax.anomaly_detection import latent_search
from gan_jax.anomaly_detection import scores
from gan_jax.data import image_files
from gan_jax.game.state import NetworkState
from gan_jax.models import encoder as encoder_lib

EPS32 = float(np.finfo(np.float32).eps)
SHAPE = (28, 28, 1)  # The smallest the encoder takes.
PIXELS = 28 * 28
LATENT_DIM = 8


class LinearGenerator(nn.Module):
    """G(z) = z @ kernel, reshaped to an image: linear, so conditioning is known."""

    @nn.compact
    def __call__(self, z, labels=None, train=False):
        del labels, train
        return nn.Dense(PIXELS, use_bias=False)(z).reshape((-1, *SHAPE))


class FeatureDiscriminator(nn.Module):
    """Sows f(x) = tanh(x W) as "features"; the logit is their sum."""
    sow_features: bool = True

    @nn.compact
    def __call__(self, x, labels=None, train=False):
        del labels, train
        h = jnp.tanh(nn.Dense(6)(x.reshape((x.shape[0], -1))))
        if self.sow_features:
            self.sow("intermediates", "features", h)
        return jnp.sum(h, axis=-1)


def _well_conditioned_kernel(key, singular_values):
    """A (latent_dim, PIXELS) kernel A^T whose singular values are given."""
    q_left, _ = jnp.linalg.qr(jax.random.normal(key, (LATENT_DIM, LATENT_DIM)))
    q_right, _ = jnp.linalg.qr(jax.random.normal(jax.random.fold_in(key, 1),
                                                 (PIXELS, LATENT_DIM)))
    return (q_left * singular_values) @ q_right.T


def _network(module, example, params=None):
    variables = module.init(jax.random.key(3), example)
    return NetworkState.create(apply_fn=module.apply,
                               params=params or variables["params"],
                               tx=optax.identity(), batch_stats={})


def _gan(kernel=None, sow_features=True):
    generator = _network(LinearGenerator(), jnp.zeros((1, LATENT_DIM)))
    if kernel is not None:
        generator = generator.replace(params={"Dense_0": {"kernel": kernel}})
    discriminator = _network(FeatureDiscriminator(sow_features),
                             jnp.zeros((1, *SHAPE)))
    return frozen_gan.from_state(type("State", (), dict(
        generator=generator, ema_params=generator.params,
        discriminator=discriminator))())


def _random(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_score_formulas_against_numpy():
    x, gx = _random(0, (5, 4, 4, 1)), _random(1, (5, 4, 4, 1))
    fx, fgx = _random(2, (5, 7)), _random(3, (5, 7))
    anogan = jax.jit(scores.anogan)(x, gx, fx, fgx)
    izi_f = jax.jit(scores.izi_f)(x, gx, fx, fgx)
    x64, gx64 = x.reshape(5, -1).astype(np.float64), gx.reshape(5, -1)
    fx64, fgx64 = fx.astype(np.float64), fgx.astype(np.float64)
    # Schlegl et al. 2017: (1 - 0.1) sum |x - G(z)| + 0.1 sum |f(x) - f(G(z))|.
    expected_anogan = (0.9 * np.abs(x64 - gx64).sum(1)
                       + 0.1 * np.abs(fx64 - fgx64).sum(1))
    # Schlegl et al. 2019: (1/n) ||x - G||^2 + 1 * (1/n_d) ||f(x) - f(G)||^2.
    expected_izi_f = (np.square(x64 - gx64).sum(1) / 16
                      + np.square(fx64 - fgx64).sum(1) / 7)
    # float32 sums of 16 + 7 terms of order 1: a few eps relative each.
    np.testing.assert_allclose(anogan, expected_anogan, rtol=32 * EPS32)
    np.testing.assert_allclose(izi_f, expected_izi_f, rtol=32 * EPS32)
    # The two terms and the weights as named.
    residual, discrimination = scores.izi_f_terms(x, gx, fx, fgx)
    np.testing.assert_allclose(scores.izi_f(x, gx, fx, fgx, kappa=3.0),
                               residual + 3.0 * discrimination, rtol=4 * EPS32)
    np.testing.assert_allclose(scores.anogan(x, gx, fx, fgx, weight=0.0),
                               np.abs(x64 - gx64).sum(1), rtol=32 * EPS32)


def _encoder_state(learning_rate=encoder_training.LEARNING_RATE):
    encoder = encoder_lib.ImageEncoder(sample_shape=SHAPE, latent_dim=LATENT_DIM,
                                       base_channels=4)
    return encoder_training.create_state(encoder, jax.random.key(0), SHAPE,
                                         learning_rate=learning_rate)


def test_izi_f_loss_against_its_formula():
    gan, state = _gan(), _encoder_state()
    images = jnp.asarray(np.tanh(_random(4, (3, *SHAPE))))
    loss, terms = jax.jit(encoder_training.izi_f_loss, static_argnums=1)(
        state.params, state.apply_fn, gan, images)
    # The formula in float64 from the networks' outputs: (1/n) ||x - G(E(x))||^2
    # + (1/n_d) ||f(x) - f(G(E(x)))||^2, averaged over the batch.
    codes = state.apply_fn({"params": state.params}, images)
    reconstructions = np.asarray(frozen_gan.generate(gan, codes), np.float64)
    def f(x):
        return np.asarray(frozen_gan.features(gan, jnp.asarray(x, jnp.float32)),
                          np.float64)

    x = np.asarray(images, np.float64)
    residual = np.square(x - reconstructions).sum(axis=(1, 2, 3)) / PIXELS
    discrimination = np.square(f(x) - f(reconstructions)).sum(axis=1) / 6
    # float32 networks and sums of 784 terms, against float64: 1e-5 relative.
    np.testing.assert_allclose(terms["residual"], residual.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["discrimination"], discrimination.mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(loss, (residual + discrimination).mean(), rtol=1e-5)
    # It is the batch mean of the per-image score.
    scored = encoder_training.encode_and_score(state, gan, images)
    np.testing.assert_allclose(scored["f_anogan"], residual + discrimination,
                               rtol=1e-5)


def test_encoder_training_lowers_izi_f_on_images_the_generator_makes():
    gan = _gan()
    images = frozen_gan.generate(gan, _random(5, (64, LATENT_DIM)))
    state = _encoder_state(learning_rate=3e-3)
    mean_score = lambda state: float(jnp.mean(  # noqa: E731
        encoder_training.encode_and_score(state, gan, images)["f_anogan"]))
    initial = mean_score(state)
    state = encoder_training.fit(state, gan, images, jax.random.key(1),
                                 num_steps=40, batch_size=16)
    assert int(state.step) == 40
    # E's output is linear in its last layer and G is linear: the izi_f
    # residual is a convex quadratic in that layer, so Adam must make
    # progress; halving it is far inside what 40 steps do.
    assert mean_score(state) < 0.5 * initial


def test_latent_search_recovers_a_known_latent():
    # G(z) = A z with A's singular values in [1, 2]; the objective
    # 1/2 ||x - A z||^2 has Hessian A^T A with eigenvalues in [1, 4]. Gradient
    # descent with step 1/L = 1/4 contracts the error by max |1 - lambda/4|
    # = 3/4 per step, so after k steps ||z_k - z*|| <= (3/4)^k ||z_0 - z*||,
    # plus float32 round-off of order eps * cond(A^T A) * ||z*|| at the fixed
    # point (cond = 4).
    singular_values = jnp.linspace(1.0, 2.0, LATENT_DIM)
    gan = _gan(_well_conditioned_kernel(jax.random.key(7), singular_values))
    true_latents = _random(6, (5, LATENT_DIM))
    images = frozen_gan.generate(gan, true_latents)
    start = _random(8, (5, LATENT_DIM))
    steps = 100
    found, losses = latent_search.search(
        _half_squared_error, gan, images, start, num_steps=steps,
        optimizer=optax.sgd(0.25))
    error = np.linalg.norm(np.asarray(found) - true_latents, axis=1)
    bound = (0.75 ** steps * np.linalg.norm(start - true_latents, axis=1)
             + 64 * EPS32 * 4 * np.linalg.norm(true_latents, axis=1))
    assert np.all(error <= bound), (error, bound)
    assert np.all(np.asarray(losses) <= 1e-8)


def test_latent_search_queries_are_independent():
    gan = _gan()
    images = frozen_gan.generate(gan, _random(9, (3, LATENT_DIM)))
    start = _random(10, (3, LATENT_DIM))
    features = frozen_gan.features(gan, images)
    optimizer = optax.adam(0.05)
    batch, batch_scores = latent_search.anogan_search(
        gan, images, features, start, num_steps=5, optimizer=optimizer)
    one, one_score = latent_search.anogan_search(
        gan, images[1:2], features[1:2], start[1:2], num_steps=5, optimizer=optimizer)
    np.testing.assert_allclose(batch[1], one[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch_scores[1], one_score[0], rtol=1e-5)
    # The returned score is AnoGAN's loss at the returned latent, and the
    # search lowered it from the start.
    at_start = scores.anogan(images, frozen_gan.generate(gan, start), features,
                             frozen_gan.features(gan, frozen_gan.generate(gan, start)))
    at_end = scores.anogan(images, frozen_gan.generate(gan, batch), features,
                           frozen_gan.features(gan, frozen_gan.generate(gan, batch)))
    np.testing.assert_allclose(batch_scores, at_end, rtol=1e-5)
    assert np.all(np.asarray(at_end) < np.asarray(at_start))


def _half_squared_error(gan, latent, image):
    return 0.5 * jnp.sum(jnp.square(frozen_gan.generate(gan, latent[None])[0] - image))


def test_a_discriminator_without_features_is_refused_by_name():
    gan = _gan(sow_features=False)
    with pytest.raises(ValueError, match="FeatureDiscriminator sows no intermediate"
                       r".*--config.model.name=dcgan"):
        frozen_gan.check_features(gan, SHAPE)
    assert frozen_gan.check_features(_gan(), SHAPE) == 6


def test_read_images_formats_and_errors(tmp_path):
    small = (4, 4, 1)
    pixels = np.arange(2 * 16, dtype=np.uint8).reshape(2, 4, 4) * 8
    np.save(tmp_path / "u8.npy", pixels)
    np.testing.assert_allclose(image_files.read_images(str(tmp_path / "u8.npy"), small),
                               pixels[..., None] / 127.5 - 1.0, atol=1e-6)
    np.save(tmp_path / "big.npy", np.full((2, 4, 4, 1), 2.0, np.float32))
    with pytest.raises(ValueError, match=r"outside \[-1, 1\]"):
        image_files.read_images(str(tmp_path / "big.npy"), small)
    with pytest.raises(ValueError, match=r"shape \(2, 4, 4\).*\(N, 8, 8, 1\)"):
        image_files.read_images(str(tmp_path / "u8.npy"), (8, 8, 1))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not one of the readable kinds"):
        image_files.read_images(str(tmp_path / "notes.txt"), SHAPE)
    (tmp_path / "broken.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="not a readable .npy"):
        image_files.read_images(str(tmp_path / "broken.npy"), SHAPE)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_files.read_images(str(tmp_path / "missing"), SHAPE)


def test_write_outputs_ranks_and_files(tmp_path):
    images = np.linspace(-1, 1, 5 * PIXELS, dtype=np.float32).reshape(5, *SHAPE)
    results = {"f_anogan": np.array([0.2, 0.9, 0.1, 0.9, 0.5], np.float32),
               "f_anogan_residual": np.zeros(5, np.float32),
               "f_anogan_discrimination": np.zeros(5, np.float32),
               "anogan": np.array([1.0, 2.0, np.nan, np.nan, np.nan], np.float32),
               "reconstructions": images}
    paths = detector.write_outputs(tmp_path, images, results, rank_by="f_anogan",
                                   strip_size=2, about={"step": 3})
    with paths["csv"].open() as f:
        rows = list(csv.DictReader(f))
    # Descending score; the tie (0.9) keeps index order.
    assert [int(r["rank"]) for r in rows] == [4, 1, 5, 2, 3]
    assert rows[2]["anogan"] == "" and float(rows[1]["anogan"]) == 2.0
    saved = json.loads(paths["json"].read_text())
    assert saved["step"] == 3 and saved["images"][2]["anogan"] is None
    assert paths["strip"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Unscored images (NaN) rank last.
    np.testing.assert_array_equal(detector.ranking(results, "anogan")[:2], [1, 0])


def test_the_compute_path_imports_no_tensorflow():
    """Scores, latent search, encoder training, G and f, the encoder network
    and AUROC import with TensorFlow and TFDS unimportable."""
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = sys.modules['tensorflow_datasets'] = None\n"
        "from gan_jax.anomaly_detection import encoder_training, frozen_gan, "
        "latent_search, scores\n"
        "from gan_jax.models import encoder\n"
        "from gan_jax.metrics import roc\n")
    repo = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=repo,
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(repo)))
    assert result.returncode == 0, result.stderr[-3000:]
