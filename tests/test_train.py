"""End to end: the real command line, outputs, resume, bit-identical restarts."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

import ring8_tiny  # tests/ring8_tiny.py
from gan_jax import train

# End-to-end runs: outside the everyday tier (`python -m pytest -m "not slow"`).
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]


_tiny_config = ring8_tiny.config


def _run_main(workdir, data_dir, *extra):
    # A relative --workdir, as users type it, from the repository root.
    cmd = [sys.executable, "-m", "gan_jax.main", "--config=configs/ring8.py:tiny",
           f"--workdir={os.path.relpath(workdir, REPO)}",
           f"--config.data.data_dir={data_dir}", *extra]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                            timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _checkpoint_steps(workdir):
    return sorted(int(p.name) for p in (workdir / "checkpoints").iterdir()
                  if p.name.isdigit())


def test_main_trains_writes_outputs_and_a_rerun_reuses_the_compiled_programs(
        tmp_path, toy_data_dir):
    """The command line end to end (its resume: tests/test_reliability.py's
    SIGTERM drill). A second run with another seed, learning rates, penalty
    weight, label smoothing and log interval changes no shape, so it finds
    every program in the persistent cache."""
    workdir, data_dir, cache = tmp_path / "run", toy_data_dir, tmp_path / "xla_cache"
    first = _run_main(workdir, data_dir, f"--config.train.compilation_cache_dir={cache}")
    assert "Compiled the training programs" in first.stderr
    final = json.loads((workdir / "final_metrics.json").read_text())
    assert final["step"] == 6
    for name in ("modes_covered", "high_quality_fraction", "reverse_kl"):
        assert isinstance(final[name], float) and np.isfinite(final[name])
    assert 0 <= final["modes_covered"] <= 8
    assert _checkpoint_steps(workdir) == [2, 4, 6]
    assert list(workdir.glob("events.out.tfevents.*")), "no TensorBoard events"
    assert (workdir / "samples" / "samples_0000004.png").exists()
    assert (workdir / "samples" / "samples_0000006.png").exists()
    assert json.loads((workdir / "config.json").read_text())["data"]["name"] == "ring8"
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "nothing was cached"

    _run_main(tmp_path / "other", data_dir, f"--config.train.compilation_cache_dir={cache}",
              "--config.seed=7", "--config.optim.g_lr=1e-3",
              "--config.optim.d_lr=5e-4", "--config.penalty.weight=0.5",
              "--config.loss.label_smoothing=0.1", "--config.train.log_every=3")
    assert sorted(p.name for p in cache.iterdir()) == entries


def _restore_params(workdir, step):
    with ocp.CheckpointManager(workdir / "checkpoints") as manager:
        return manager.restore(step, args=ocp.args.StandardRestore())


def test_resumed_run_is_bit_identical_to_uninterrupted_run(tmp_path, toy_data_dir):
    data_dir = toy_data_dir
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    config = _tiny_config(data_dir, num_steps=8)
    train.train_and_evaluate(config, straight)
    # An interrupted run is one whose newest checkpoint is step 4: rebuild one
    # from the straight run's step-4 checkpoint, then rerun the same config.
    shutil.copytree(straight / "checkpoints" / "4",
                    interrupted / "checkpoints" / "4")
    train.train_and_evaluate(config, interrupted)

    a, b = _restore_params(straight, 8), _restore_params(interrupted, 8)
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # Sanity: training did move the parameters between step 4 and step 8.
    mid = jax.tree.leaves(_restore_params(interrupted, 4))
    assert any(not np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(mid, leaves_b))


def test_lazy_phase_and_trick_statistics_resume_bit_identically(tmp_path, toy_data_dir):
    """The loop runs the lazy R1 phase every `lazy_interval` steps, and the
    tricks' running statistics (ADA's p, LeCam's EMAs) are checkpointed: an
    interrupted run continues exactly."""
    data_dir = toy_data_dir
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    config = _tiny_config(data_dir, num_steps=8)
    config.penalty.lazy_interval = 2
    config.tricks.augment = "jitter"
    config.tricks.ada = True
    config.tricks.ada_interval = 1
    config.tricks.lecam_weight = 0.1
    train.train_and_evaluate(config, straight)
    shutil.copytree(straight / "checkpoints" / "4",
                    interrupted / "checkpoints" / "4")
    train.train_and_evaluate(config, interrupted)

    a, b = _restore_params(straight, 8), _restore_params(interrupted, 8)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # 8 critic updates plus the lazy phase after steps 2, 4, 6 and 8.
    assert int(a["discriminator"]["step"]) == 8 + 4
    assert set(a["tricks"]) == {"ada", "lecam"}
    assert float(a["tricks"]["ada"]["count"]) == 0.0  # Reset every step.
    assert 0.0 <= float(a["tricks"]["ada"]["p"]) <= 1.0


def test_unknown_loss_fails_before_training(tmp_path):
    config = _tiny_config(tmp_path / "tfds")
    config.loss.name = "wasserstien"
    with pytest.raises(ValueError, match="Valid losses: .*wasserstein"):
        train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
