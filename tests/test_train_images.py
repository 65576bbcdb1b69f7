"""End to end for image GANs: every image config trains, samples, resumes."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds

import jax

from gan_jax import experiment
from gan_jax import train
import idx_digits  # tests/idx_digits.py

REPO = pathlib.Path(__file__).resolve().parents[1]
IMAGE_CONFIGS = ("dcgan_mnist", "cgan_mnist", "wgan_gp_mnist", "lsgan_mnist",
                 "dcgan_cifar10", "sngan_cifar10", "dcgan_celeba64",
                 "dcgan_stacked_mnist")


def _load_config(name, variant="tiny"):
    spec = importlib.util.spec_from_file_location(name, REPO / "configs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


@pytest.mark.parametrize("name", IMAGE_CONFIGS)
def test_tiny_variant_of_each_image_config_trains(name, tmp_path):
    config = _load_config(name)
    config.data.data_dir = str(tmp_path / "tfds")
    with tfds.testing.mock_data(num_examples=32):
        final = train.train_and_evaluate(config, tmp_path / "run")
    assert final["step"] == config.train.num_steps
    samples = tmp_path / "run" / "samples"
    grid = np.asarray(PIL.Image.open(samples / f"samples_{int(final['step']):07d}.png"))
    spec = json.loads((tmp_path / "run" / "data_spec.json").read_text())
    size = spec["sample_shape"][0]
    cell = size * -(-32 // size) + 2  # Small images are enlarged to >= 32 px.
    rows = config.model.num_classes or 8  # One row per class, or 8 x 8.
    assert grid.shape[:2] == (rows * cell + 2, (10 if rows == 10 else 8) * cell + 2)
    assert (samples / "progress.gif").exists()
    assert (samples / f"interpolation_{int(final['step']):07d}.png").exists()
    assert spec["num_classes"] == (config.model.num_classes or None)


def _run(module, *args):
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, JAX_PLATFORMS="cpu"))
    return result


def test_offline_idx_run_then_sample_end_to_end(tmp_path):
    """The real command lines: train cgan on an IDX folder, resume, sample."""
    idx_dir, workdir, out = tmp_path / "idx", tmp_path / "run", tmp_path / "out"
    idx_digits.write(idx_dir)
    common = ["--config=configs/cgan_mnist.py:tiny,offline", f"--workdir={workdir}",
              f"--config.data.path={idx_dir}",
              f"--config.data.data_dir={tmp_path / 'tfds'}"]
    first = _run("gan_jax.main", *common)
    assert first.returncode == 0, first.stderr[-4000:]
    resumed = _run("gan_jax.main", *common, "--config.train.num_steps=6")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "Resuming from the checkpoint at step 4" in resumed.stderr
    gif = PIL.Image.open(workdir / "samples" / "progress.gif")
    assert gif.n_frames == 3  # Grids at steps 2, 4 (first run) and 6.

    sampled = _run("gan_jax.sample", f"--workdir={workdir}", "--num=12",
                   f"--out={out}")
    assert sampled.returncode == 0, sampled.stderr[-4000:]
    images = sorted(out.glob("0*.png"))
    assert len(images) == 12
    assert np.asarray(PIL.Image.open(images[0])).shape == (28, 28)
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[1:4] == ["000000.png,0", "000001.png,1", "000002.png,2"]
    assert (out / "grid.png").exists()

    # `--label` is `sampling.requested_labels` (tests/test_sampling.py).


def test_sample_on_a_directory_without_a_run_says_what_to_do(tmp_path):
    result = _run("gan_jax.sample", f"--workdir={tmp_path}", f"--out={tmp_path / 'o'}")
    assert result.returncode != 0
    assert "is not a training run directory" in result.stderr
    assert "gan_jax.main" in result.stderr


def test_conditional_model_on_unlabelled_data_fails_before_training(tmp_path):
    config = _load_config("dcgan_celeba64")
    config.model.num_classes = 10
    config.data.data_dir = str(tmp_path / "tfds")
    with tfds.testing.mock_data(num_examples=8):
        with pytest.raises(ValueError, match="has no class labels"):
            train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_reference_config_is_pytorch_examples_dcgan():
    """dcgan64_reference has the recipe and, layer for layer, the parameter
    counts of pytorch/examples/dcgan (counted by hand from its layers: convs
    without bias, BatchNorm scale and shift)."""
    config = _load_config("dcgan64_reference", variant="")
    assert (config.data.batch_size, config.model.latent_dim, config.model.g_channels,
            config.model.d_channels) == (64, 100, 64, 64)
    assert (config.optim.g_lr, config.optim.d_lr, config.optim.g_b1, config.optim.d_b1,
            config.optim.g_b2, config.optim.d_b2) == (2e-4, 2e-4, 0.5, 0.5, 0.999, 0.999)
    assert (config.loss.name, config.penalty.name, config.optim.n_critic,
            config.optim.ema_decay, config.optim.schedule) == (
        "non_saturating", "none", 1, 0.0, "constant")
    state = jax.eval_shape(lambda key: experiment.create_state(config, (64, 64, 3), key),
                           jax.random.key(0))

    def count(params):
        return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))

    g_convs = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16
    d_convs = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 16
    assert count(state.generator.params) == g_convs + 2 * (512 + 256 + 128 + 64) == 3_576_704
    assert count(state.discriminator.params) == d_convs + 2 * (128 + 256 + 512) == 2_765_568
