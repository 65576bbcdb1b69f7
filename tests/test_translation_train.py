"""End to end for the image-to-image GANs: each config trains, writes its
strips and metrics, resumes exactly, and refuses what it cannot do."""

import contextlib
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import jax
import jax.numpy as jnp

from gan_jax import train
from gan_jax.image_to_image import experiment
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.metrics.features import mnist_classifier
from gan_jax.run import divergence
from gan_jax.run import run_dir
import config_files  # tests/config_files.py
import idx_digits  # tests/idx_digits.py

# End-to-end runs: outside the everyday tier (`python -m pytest -m "not slow"`).
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = {"pix2pix_mnist_edges": {"l1", "l1_identity"},
           "cyclegan_mnist_colour": {"cycle_a", "cycle_b", "translation_ab",
                                     "translation_ba", "translation_identity"},
           "srgan_mnist": {"l1", "psnr", "psnr_bicubic"},
           # Real-data configs: TFDS under mock_data, a folder of pairs.
           "cyclegan_horse2zebra": {"cycle_a", "cycle_b"},
           "pix2pix_facades": {"l1", "l1_identity"}}


def _write_pairs(folder, num=30):
    """Side-by-side pairs A | B of 32x32 halves: B is A's negative."""
    (folder / "pairs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(num):
        a = rng.integers(0, 256, (32, 32, 3), np.uint8)
        PIL.Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(
            folder / "pairs" / f"{index:03d}.png")


def _config(name, tmp_path, variant="tiny"):
    config = config_files.load(name, variant)
    config.data.data_dir = str(tmp_path / "tfds")
    if config.task.pairing == "side_by_side":
        _write_pairs(tmp_path / "facades")
        config.data.path = str(tmp_path / "facades")
    if config.objective.content == "mnist_classifier":
        # A frozen, untrained classifier: the content path, without training one.
        path = tmp_path / "classifier"
        if not path.exists():
            params = mnist_classifier.MNISTClassifier().init(
                jax.random.key(0), jnp.zeros((1, 28, 28, 1)))["params"]
            mnist_classifier.save(path, params, {"test_accuracy": 0.1})
        config.objective.content_path = str(path)
    return config


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_tiny_variant_of_each_config_trains(name, tmp_path):
    config = _config(name, tmp_path)
    # TFDS datasets are mocked; a local folder is real.
    mock = (contextlib.nullcontext() if config.data.source == "folder"
            else tfds.testing.mock_data(num_examples=16))
    with mock:
        final = train.train_and_evaluate(config, tmp_path / "run")
    assert set(final) == CONFIGS[name] | {"step", "wall_seconds"}
    assert all(np.isfinite(value) for value in final.values())
    assert final["step"] == config.train.num_steps
    strip = np.asarray(PIL.Image.open(
        tmp_path / "run" / "samples" / "strip_0000004.png").convert("RGB"))
    # Cells under 32 px are enlarged (28 -> 56), 2 px borders; CycleGAN shows
    # A rows and B rows.
    rows = config.eval.strip_examples * (2 if name.startswith("cyclegan") else 1)
    cell = (56 if "mnist" in name else 32) + 2
    assert strip.shape == (rows * cell + 2, 3 * cell + 2, 3)
    assert (tmp_path / "run" / "samples" / "strip_0000000.png").exists()  # Untrained.
    assert list((tmp_path / "run").glob("events.out.tfevents.*"))
    assert (tmp_path / "run" / "checkpoints" / "4").exists()
    saved = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    assert saved == pytest.approx(final)


def test_srgan_logs_its_pretraining_phase_separately(tmp_path):
    config = _config("srgan_mnist", tmp_path)
    assert config.objective.pretrain_steps == 2
    with tfds.testing.mock_data(num_examples=32):
        train.train_and_evaluate(config, tmp_path / "run")
    from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
    events = event_accumulator.EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    tags = set(events.Tags()["tensors"]) | set(events.Tags()["scalars"])
    steps = lambda tag: [e.step for e in events.Tensors(tag)]  # noqa: E731
    assert steps("train/pretrain/g_mse") == [2]
    assert steps("train/g_content") == [4]
    assert steps("eval/psnr") == [0, 2, 4]  # Untrained, then every eval_every.
    assert {"eval/psnr", "eval/psnr_bicubic", "eval/strip"} <= tags


def test_resumed_run_equals_the_uninterrupted_run(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    config = _config("cyclegan_mnist_colour", tmp_path)
    config.train.num_steps = 6
    with tfds.testing.mock_data(num_examples=32):
        straight = train.train_and_evaluate(config, tmp_path / "straight")
        # The same run stopped after its step-4 checkpoint.
        shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
        shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "6")
        (tmp_path / "resumed" / "final_metrics.json").unlink()
        resumed = train.train_and_evaluate(config, tmp_path / "resumed")
    assert "Resuming from the checkpoint at step 4." in caplog.text
    # Same state (networks, Adam moments and schedule, history pools) and the
    # same data order after the resume: the same held-out numbers, bit for bit.
    for name in CONFIGS["cyclegan_mnist_colour"]:
        assert resumed[name] == straight[name], name


def test_a_workdir_of_differently_shaped_networks_is_refused(tmp_path):
    config = _config("pix2pix_mnist_edges", tmp_path)
    with tfds.testing.mock_data(num_examples=32):
        train.train_and_evaluate(config, tmp_path / "run")
        config.model.g_channels = 8
        with pytest.raises(run_dir.ConfigChanged, match="model.g_channels: 4 -> 8"):
            train.train_and_evaluate(config, tmp_path / "run")


@pytest.mark.parametrize("field, value, message", [
    ("task.pairing", "colourise", "Valid: edges, downsample, side_by_side"),
    ("optim.schedule", "cosine", "Valid: constant, linear, linear_second_half"),
    ("loss.name", "nope", "nope"),
    ("task.upscale", 3, "power of 2"),
])
def test_bad_config_fails_before_any_work(field, value, message, tmp_path):
    config = _config("srgan_mnist", tmp_path)
    section, name = field.split(".")
    config[section][name] = value
    with pytest.raises(ValueError, match=message):
        train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_missing_content_network_says_how_to_train_one(tmp_path):
    config = _config("srgan_mnist", tmp_path)
    config.objective.content_path = str(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="gan_jax.train_classifier"):
        translation_spec.build(config)


def test_offline_command_line_run(tmp_path):
    """`python -m gan_jax.main` runs a translation config from IDX files."""
    idx_dir, workdir = tmp_path / "idx", tmp_path / "run"
    idx_digits.write(idx_dir)
    result = subprocess.run(
        [sys.executable, "-m", "gan_jax.main",
         "--config=configs/pix2pix_mnist_edges.py:tiny,offline",
         f"--workdir={workdir}", f"--config.data.path={idx_dir}",
         f"--config.data.data_dir={tmp_path / 'tfds'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert result.returncode == 0, result.stderr[-4000:]
    final = json.loads((workdir / "final_metrics.json").read_text())
    assert final["step"] == 4 and final["l1_identity"] > 0

    # The run is a run directory like a GAN's: sample and evaluate open it.
    def command(name, *flags):
        return subprocess.run(
            [sys.executable, "-m", f"gan_jax.{name}", f"--workdir={workdir}", *flags],
            cwd=REPO, capture_output=True, text=True, timeout=600,
            env=dict(os.environ, JAX_PLATFORMS="cpu"))

    sampled = command("sample", f"--out={tmp_path / 'strips'}", "--num=3")
    assert sampled.returncode == 0, sampled.stderr[-4000:]
    strip = np.asarray(PIL.Image.open(tmp_path / "strips" / "strip.png").convert("RGB"))
    cell = 56 + 2  # As the run's own strips: 3 rows of input | output | target.
    assert strip.shape == (3 * cell + 2, 3 * cell + 2, 3)

    evaluated = command("evaluate")
    assert evaluated.returncode == 0, evaluated.stderr[-4000:]
    report = json.loads((workdir / "evaluation_0000004.json").read_text())
    # The held-out measures of the same checkpoint: the run's own final ones.
    for name in ("l1", "l1_identity"):
        assert report[name] == pytest.approx(final[name], rel=1e-6), name
        assert name in evaluated.stdout
    assert (workdir / "strip_0000004.png").exists()


def _batches_with_nan_at(monkeypatch, nan_steps):
    """Training batches with a NaN pixel at the given (1-based) steps."""
    original = experiment.train_batches

    def batches(config, datasets, start_step):
        for step, batch in enumerate(original(config, datasets, start_step),
                                     start=start_step + 1):
            if step in nan_steps:
                batch = dict(batch, x=batch["x"].copy())
                batch["x"][0, 0, 3, 3, 0] = np.nan
            yield batch

    monkeypatch.setattr(experiment, "train_batches", batches)


def test_a_nan_stops_an_image_to_image_run_before_it_reaches_a_checkpoint(
        tmp_path, monkeypatch):
    config = _config("pix2pix_mnist_edges", tmp_path)
    config.train.num_steps, config.train.log_every = 6, 3
    config.train.checkpoint_every = config.train.eval_every = 2
    _batches_with_nan_at(monkeypatch, {3})
    with tfds.testing.mock_data(num_examples=32):
        with pytest.raises(divergence.TrainingDiverged) as diverged:
            train.train_and_evaluate(config, tmp_path / "run")
    message = " ".join(str(diverged.value).split())
    assert re.search(r"Training diverged: .*(d_loss|g_loss).* became non-finite "
                     r"\(NaN or inf\) at step 3 \(found at the check at step 3\)\.",
                     message), message
    assert "The last good checkpoint, step 2 in" in message
    assert "--config.train.on_nonfinite=skip" in message
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["2"]


def test_skip_drops_a_non_finite_image_to_image_update(tmp_path, monkeypatch):
    config = _config("pix2pix_mnist_edges", tmp_path)
    config.train.on_nonfinite = "skip"
    _batches_with_nan_at(monkeypatch, {3})
    with tfds.testing.mock_data(num_examples=32):
        final = train.train_and_evaluate(config, tmp_path / "run")
    assert final["step"] == 4
    assert all(np.isfinite(value) for value in final.values())
    # The skipped update is counted in the log window that held it.
    from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
    events = event_accumulator.EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    skipped = [(e.step, float(np.asarray(jax.device_get(
        tf.make_ndarray(e.tensor_proto))))) for e in events.Tensors("train/skipped_updates")]
    assert skipped == [(2, 0.0), (4, 1.0)]


def _write_domains(folder, names=("A", "B"), num=12):
    rng = np.random.default_rng(1)
    for name in names:
        (folder / name).mkdir(parents=True)
        for index in range(num):
            PIL.Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(
                folder / name / f"{index:03d}.png")


def test_cyclegan_between_two_local_folders(tmp_path):
    _write_domains(tmp_path / "domains")
    config = _config("cyclegan_mnist_colour", tmp_path)
    config.task.pairing = "two_folders"
    config.data.source, config.data.path = "folder", str(tmp_path / "domains")
    config.data.split = config.eval.split = "train"
    final = train.train_and_evaluate(config, tmp_path / "run")
    assert set(final) == {"cycle_a", "cycle_b", "step", "wall_seconds"}
    images = experiment.held_out_images(translation_spec.build(config))
    assert images["x"].shape == images["x_b"].shape == (12, 32, 32, 3)
    # A is the first sub-folder, B the second: no image is in both.
    assert not any(np.array_equal(a, b) for a in images["x"] for b in images["x_b"])


def test_two_folders_needs_exactly_two_sub_folders(tmp_path):
    _write_domains(tmp_path / "domains", names=("A", "B", "C"), num=2)
    config = _config("cyclegan_mnist_colour", tmp_path)
    config.task.pairing = "two_folders"
    config.data.source, config.data.path = "folder", str(tmp_path / "domains")
    with pytest.raises(ValueError, match="exactly two sub-folders.*it has 3"):
        train.train_and_evaluate(config, tmp_path / "run")
