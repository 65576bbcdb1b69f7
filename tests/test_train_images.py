"""End to end for image GANs: every image config trains, samples, resumes."""

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

from gan_jax import train
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.run import run_dir
import config_files  # tests/config_files.py
import idx_digits  # tests/idx_digits.py

# End-to-end runs: outside the everyday tier (`python -m pytest -m "not slow"`).
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]
IMAGE_CONFIGS = ("dcgan_mnist", "cgan_mnist", "wgan_gp_mnist", "lsgan_mnist",
                 "dcgan_cifar10", "sngan_cifar10", "dcgan_celeba64",
                 "dcgan_stacked_mnist")
# The strongest models train in a test that also resumes them, bit for bit
# (the toy's resume is checked in test_reliability.py): their states hold
# more kinds of running statistics (spectral-norm vectors, conditional
# BatchNorm, the EMA start), and one compile each keeps the suite short.
RESUMED_CONFIGS = ("biggan_cifar10", "stylegan2_cifar10")
# Every phase and stochastic input of StyleGAN2 in the same run: the lazy R1
# and path length phases (every 2 steps in a tiny run), style mixing, noise.
RESUME_OVERRIDES = {"stylegan2_cifar10": {"tricks.path_length_weight": 2.0,
                                          "model.style_mixing_prob": 0.9}}


def _load_config(name, variant="tiny"):
    return config_files.load(name, variant)


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


@pytest.mark.parametrize("name", RESUMED_CONFIGS)
def test_tiny_run_stopped_and_resumed_equals_the_straight_run(name, tmp_path):
    """4 steps in one go, and 2 steps then a resume to 4 (the schedule is
    constant, so a run with fewer steps is the same run cut short): every
    leaf of the two final states is equal, bit for bit."""
    config = _load_config(name)
    config.data.data_dir = str(tmp_path / "tfds")
    config.train.checkpoint_every = 2
    for field, value in RESUME_OVERRIDES.get(name, {}).items():
        section, key = field.split(".")
        config[section][key] = value
    with tfds.testing.mock_data(num_examples=32):
        train.train_and_evaluate(config, tmp_path / "straight")
        config.train.num_steps = 2
        train.train_and_evaluate(config, tmp_path / "resumed")
        config.train.num_steps = 4
        train.train_and_evaluate(config, tmp_path / "resumed")
    grids = sorted(p.name for p in (tmp_path / "straight" / "samples").glob("*.png"))
    assert grids == ["interpolation_0000004.png", "samples_0000002.png",
                     "samples_0000004.png"]
    straight = train.restore_trained(tmp_path / "straight")
    resumed = train.restore_trained(tmp_path / "resumed")
    assert straight.step == resumed.step == 4
    jax.tree.map(np.testing.assert_array_equal, jax.tree.leaves(straight.state),
                 jax.tree.leaves(resumed.state))


def _run(module, *args):
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, JAX_PLATFORMS="cpu"))
    return result


def test_offline_idx_run_then_sample_end_to_end(tmp_path):
    """The real command lines: a cgan run on an IDX folder (its first four
    steps trained in-process) resumed by `gan_jax.main`, then sampled."""
    idx_dir, workdir, out = tmp_path / "idx", tmp_path / "run", tmp_path / "out"
    idx_digits.write(idx_dir)
    config = _load_config("cgan_mnist", "tiny,offline")
    config.data.path, config.data.data_dir = str(idx_dir), str(tmp_path / "tfds")
    train.train_and_evaluate(config, workdir)
    resumed = _run("gan_jax.main", "--config=configs/cgan_mnist.py:tiny,offline",
                   f"--workdir={workdir}", f"--config.data.path={idx_dir}",
                   f"--config.data.data_dir={tmp_path / 'tfds'}",
                   "--config.train.num_steps=6")
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


def test_sampling_a_directory_without_a_run_says_what_to_do(tmp_path):
    # What `gan_jax.sample` and `gan_jax.evaluate` print for such a --workdir.
    with pytest.raises(FileNotFoundError, match=r"is not a training run directory\. "
                       r"Train first: python -m gan_jax\.main"):
        train.restore_trained(tmp_path)
    assert not list(tmp_path.iterdir())


def test_conditional_model_on_unlabelled_data_fails_before_training(tmp_path):
    config = _load_config("dcgan_celeba64")
    config.model.num_classes = 10
    config.data.data_dir = str(tmp_path / "tfds")
    with tfds.testing.mock_data(num_examples=8):
        with pytest.raises(ValueError, match="has no class labels"):
            train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_reference_config_is_pytorch_examples_dcgan():
    """dcgan64_reference builds, layer for layer, the networks of
    pytorch/examples/dcgan (parameter counts by hand from its layers: convs
    without bias, BatchNorm scale and shift; nz = 100, ngf = ndf = 64) and
    both players' optimizers step as its `optim.Adam(lr=0.0002,
    betas=(0.5, 0.999))` does, at a constant rate."""
    spec = gan_spec.build(_load_config("dcgan64_reference", variant=""))
    state = jax.eval_shape(lambda key: experiment.create_state(spec, (64, 64, 3), key),
                           jax.random.key(0))

    def pytorch_adam(g, m, v, t):
        """Update t of torch.optim.Adam(lr=2e-4, betas=(0.5, 0.999)), float64."""
        m, v = 0.5 * m + 0.5 * g, 0.999 * v + 0.001 * g**2
        return -2e-4 * (m / (1 - 0.5**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8), m, v

    # On a stand-in parameter of 3 entries: the first two updates (the second
    # depends on both betas) and the run's last (a decaying rate would be
    # 1 / 79,150 of its start there).
    g1, g2, zero = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.1, -1.0]), np.zeros(3)
    num_updates = spec.train.num_steps  # For both players: one critic update per step.
    first, m, v = pytorch_adam(g1, zero, zero, 1)
    second, _, _ = pytorch_adam(g2, m, v, 2)
    last, _, _ = pytorch_adam(g1, zero, zero, num_updates)
    g1, g2 = g1.astype(np.float32), g2.astype(np.float32)
    for network in (state.generator, state.discriminator):
        tx = network.tx
        got_first, opt_state = tx.update(g1, tx.init(np.zeros(3, np.float32)))
        got_second, _ = tx.update(g2, opt_state)
        # A fresh state whose every update count says num_updates - 1.
        got_last, _ = tx.update(g1, jax.tree_util.tree_map_with_path(
            lambda path, leaf: (np.full_like(leaf, num_updates - 1)
                                if jax.tree_util.keystr(path).endswith(".count")
                                else leaf),
            tx.init(np.zeros(3, np.float32))))
        # float32 forms Adam's bias correction 1 - 0.999^t from 0.999 rounded
        # to float32 (1.3e-8 off), which for t = 1, 2 (1 - 0.999^t ~ 1e-3)
        # is 1.3e-5 relative in v and 6.4e-6 in the update.
        for got, want in ((got_first, first), (got_second, second), (got_last, last)):
            np.testing.assert_allclose(got, want, rtol=1e-4)

    def count(params):
        return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))

    g_convs = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16
    d_convs = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 16
    assert count(state.generator.params) == g_convs + 2 * (512 + 256 + 128 + 64) == 3_576_704
    assert count(state.discriminator.params) == d_convs + 2 * (128 + 256 + 512) == 2_765_568
