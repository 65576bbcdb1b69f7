"""Image metrics in training and in `gan_jax.evaluate`, end to end."""

import gzip
import json
import os
import pathlib
import subprocess
import sys

from etils import epath
import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import defaults
from gan_jax import measure
from gan_jax import train
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.evaluation import visualize
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import suite
from gan_jax.metrics.features import mnist_classifier
from gan_jax.run import classifier_training

# End-to-end runs: outside the everyday tier (`python -m pytest -m "not slow"`).
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]
IMAGE_METRICS = ("fid", "kid", "kid_std", "inception_score", "inception_score_std",
                 "precision", "recall", "density", "coverage")


def _write_idx(folder, num=600):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    labels = (np.arange(num) % 10).astype(np.uint8)
    images = rng.integers(0, 30, (num, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        row, column = 2 + 9 * (label // 4), 2 + 7 * (label % 4)
        image[row:row + 5, column:column + 5] = 255
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([0x803, num, 28, 28], ">i4").tobytes() + images.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([0x801, num], ">i4").tobytes() + labels.tobytes())


@pytest.fixture(scope="module")
def mnist_like(tmp_path_factory):
    """A small IDX dataset and a classifier trained on it."""
    root = tmp_path_factory.mktemp("mnist_like")
    _write_idx(root / "idx")
    train_config, test_config = classifier_training.data_configs(
        True, str(root / "idx"), str(root / "tfds"))
    train_config.split, test_config.split = "test[:200]", "test[200:300]"
    result = classifier_training.fit(train_config, test_config, num_steps=60,
                                     batch_size=32, learning_rate=3e-3)
    mnist_classifier.save(root / "clf", result.params, {"test_accuracy": 0.0})
    return root


def _tiny_cgan(root, workdir_num_samples=64):
    config = defaults.image_config()
    defaults.use_mnist_metrics(config)
    defaults.use_offline_mnist(config)
    defaults.make_tiny(config)
    config.model.num_classes = 10
    config.data.path = str(root / "idx")
    config.data.split = "test[:300]"  # test[300:] is the held-out part.
    config.data.data_dir = str(root / "tfds")
    config.eval.features = "mnist_classifier"
    config.eval.feature_path = str(root / "clf")
    config.eval.num_samples = workdir_num_samples
    config.eval.batch_size = 32
    return config


def test_training_reports_every_image_metric(mnist_like, tmp_path):
    final = train.train_and_evaluate(_tiny_cgan(mnist_like), tmp_path / "run")
    for name in IMAGE_METRICS:
        assert np.isfinite(final[name]), name
    assert 0 <= final["precision"] <= 1 and 0 <= final["coverage"] <= 1
    assert 1 <= final["inception_score"] <= 10
    on_disk = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    assert on_disk["fid"] == pytest.approx(final["fid"])


def test_missing_feature_weights_turn_metrics_off_with_a_warning(mnist_like, tmp_path,
                                                                 caplog):
    config = _tiny_cgan(mnist_like)
    config.eval.feature_path = str(tmp_path / "no_classifier")
    with caplog.at_level("WARNING"):  # absl logs through the `logging` module.
        final = train.train_and_evaluate(config, tmp_path / "run")
    assert "fid" not in final and final["step"] == config.train.num_steps
    [warning] = [record.getMessage() for record in caplog.records
                 if "Sample-quality metrics are off" in record.getMessage()]
    # It names the missing path and the command that trains the classifier.
    assert str(tmp_path / "no_classifier") in warning
    assert "python -m gan_jax.train_classifier" in warning


def test_unknown_metric_or_extractor_fails_before_training(mnist_like, tmp_path):
    config = _tiny_cgan(mnist_like)
    config.eval.metrics = ("fid", "fld")
    with pytest.raises(ValueError, match="Valid metrics: fid, kid"):
        train.train_and_evaluate(config, tmp_path / "run")
    config = _tiny_cgan(mnist_like)
    config.eval.features = "vgg"
    with pytest.raises(ValueError, match="Valid: none, inception, mnist_classifier"):
        train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_fid_ranks_real_halves_below_noise(mnist_like):
    """Real-vs-real is far below real-vs-noise in the classifier's features."""
    extractor = features_lib.create("mnist_classifier", str(mnist_like / "clf"))
    config = _tiny_cgan(mnist_like)
    config.data.split = "test"
    from gan_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
    images = np.concatenate(list(evaluator.real_image_batches(
        input_pipeline.load(config.data).dataset, 600)))
    real = features_lib.extract_all(extractor, [images])
    noise = features_lib.extract_all(extractor, [np.random.default_rng(0).uniform(
        -1, 1, images.shape).astype(np.float32)])
    halves = suite.compute({k: v[::2] for k, v in real.items()},
                           {k: v[1::2] for k, v in real.items()},
                           metrics=("fid",), key=jax.random.key(0))["fid"]
    versus_noise = suite.compute(real, noise, metrics=("fid",),
                                 key=jax.random.key(0))["fid"]
    # With 300 points in 128 dimensions FID's finite-sample bias is large, so
    # the margin is a factor 5 (the real MNIST figures are in the README).
    assert halves < 0.2 * versus_noise


def test_evaluate_command_prints_table_writes_json_and_figure(mnist_like, tmp_path,
                                                             capsys, caplog):
    workdir = tmp_path / "run"
    train.train_and_evaluate(_tiny_cgan(mnist_like), workdir)
    stats = tmp_path / "real_stats.npz"

    # --save_stats, in-process (gan_jax.evaluate passes its flags as a Request).
    assert measure.evaluate(workdir, measure.Request(
        num_samples=50, save_stats=str(stats))) is None
    assert "Wrote the statistics of 50 images" in capsys.readouterr().out
    mu, sigma, labels = frechet.load_statistics(stats, flag="ref_stats", dim=128)
    assert sigma.shape == (128, 128)
    assert labels["features"] == "mnist_classifier" and labels["num_images"] == "50"
    # (A missing or malformed --ref_stats file: tests/test_fid_resize.py.)

    # The command line, once.
    result = subprocess.run(
        [sys.executable, "-m", "gan_jax.evaluate", f"--workdir={workdir}",
         "--num_samples=50", "--held_out_split=test[300:]", f"--ref_stats={stats}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "50 generated vs 50 real images" in result.stdout
    report = json.loads((workdir / "evaluation_0000004.json").read_text())
    assert report["num_generated"] == 50 and np.isfinite(report["fid"])
    # A tiny DCGAN: an EMA generator with BatchNorm, so standing statistics.
    assert report["generator"] == "ema+standing_stats"
    assert report["features"] == "mnist_classifier" and "fid_resize" not in report
    # The saved statistics are of the same 50 real images: the same FID, up
    # to the float64 round-off of two ways of summing the covariance.
    assert report["ref_stats"] == str(stats)
    assert report["fid_ref_stats"] == pytest.approx(report["fid"], rel=1e-9)
    assert report["memorization_held_out_to_train"] > 0
    assert report["memorization_ratio"] == pytest.approx(
        report["memorization_generated_to_train"]
        / report["memorization_held_out_to_train"])
    assert (workdir / "memorization_0000004.png").exists()

    # A folder of images as gan_jax.sample writes them (its grid.png is
    # skipped); the sample command itself runs in test_train_images.py.
    run = train.restore_trained(workdir)
    labels = sampling.requested_labels(20, run.spec.model.num_classes, None)
    images = sampling.generate(run.state, jax.random.key(0), 20,
                               latent_dim=run.spec.model.latent_dim,
                               batch_size=20, labels=labels)
    visualize.save_samples(images, labels, epath.Path(tmp_path / "samples"))
    folder = measure.evaluate(workdir, measure.Request(
        num_samples=20, images=str(tmp_path / "samples")))
    assert folder["num_generated"] == 20 and "generator" not in folder
    assert (f"{tmp_path / 'samples'}: 20 generated vs 20 real"
            in capsys.readouterr().out)
    assert "Skipped 1 file(s)" in caplog.text and "grid.png" in caplog.text


def test_stacked_mnist_source_stacks_three_digits_with_their_mode(mnist_like):
    from gan_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
    config = _tiny_cgan(mnist_like).data
    digits = list(tfds.as_numpy(input_pipeline.load(config).dataset))
    config.source = "stacked_mnist"
    source = input_pipeline.load(config)
    stacked = list(tfds.as_numpy(source.dataset))
    assert source.num_classes == 1000 and len(stacked) == len(digits)
    by_image = {d["x"].tobytes(): int(d["label"]) for d in digits}
    modes = set()
    for example in stacked[:50]:
        assert example["x"].shape == (28, 28, 3)
        channel_labels = [by_image[np.ascontiguousarray(example["x"][..., c:c + 1]).tobytes()]
                          for c in range(3)]
        assert example["label"] == 100 * channel_labels[0] + 10 * channel_labels[1] + channel_labels[2]
        modes.add(int(example["label"]))
    assert len(modes) > 10  # The channels are differently permuted.
    again = list(tfds.as_numpy(input_pipeline.load(config).dataset))
    np.testing.assert_array_equal(stacked[0]["x"], again[0]["x"])


def test_stacked_mnist_metrics_come_from_per_channel_classification(mnist_like):
    extractor = features_lib.create("mnist_classifier", str(mnist_like / "clf"))
    grey = np.full((4, 28, 28, 1), -1.0, np.float32)
    outputs = features_lib.extract_all(extractor, [np.concatenate([grey] * 3, -1)])
    assert outputs["features"].shape == (4, 3 * 128)
    assert outputs["channel_digits"].shape == (4, 3)
    fake = {"channel_digits": np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6]])}
    result = suite.compute({}, fake, metrics=("stacked_mnist",), key=jax.random.key(0))
    assert result["stacked_modes_covered"] == 2
    # Modes 123 (2/3) and 456 (1/3): KL to uniform = sum p log(1000 p).
    expected = 2 / 3 * np.log(1000 * 2 / 3) + 1 / 3 * np.log(1000 / 3)
    assert result["stacked_reverse_kl"] == pytest.approx(expected)
