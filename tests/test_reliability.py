"""Faults made for real: signals to a training process, damaged checkpoints,
divergence, configs that cannot train or resume, corrupt and empty data.

Each test asserts the message the user sees and what is kept afterwards.
"""

import logging
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import PIL.Image
import pytest

import ring8_tiny  # tests/ring8_tiny.py
from gan_jax import defaults
from gan_jax import train
from gan_jax.data import input_pipeline
from gan_jax.run import divergence
from gan_jax.run import experiment
from gan_jax.run import gan_data
from gan_jax.run import gan_spec
from gan_jax.run import gan_task
from gan_jax.run import run_dir

REPO = pathlib.Path(__file__).resolve().parents[1]
# Long enough that a signal sent as training starts arrives mid-run; no
# periodic save or evaluation, so the signal's checkpoint is the only one.
LONG_RUN_FIELDS = {"num_steps": 1200, "log_every": 400, "eval_every": 100000,
                   "checkpoint_every": 100000}
LONG_RUN = tuple(f"--config.train.{name}={value}"
                 for name, value in LONG_RUN_FIELDS.items())


_tiny_config = ring8_tiny.config


def _main_command(workdir, data_dir, *extra):
    return [sys.executable, "-m", "gan_jax.main", "--config=configs/ring8.py:tiny",
            f"--workdir={workdir}", f"--config.data.data_dir={data_dir}", *extra]


def _run_main(workdir, data_dir, *extra):
    return subprocess.run(_main_command(workdir, data_dir, *extra), cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, JAX_PLATFORMS="cpu"))


def _checkpoint_steps(workdir):
    directory = workdir / "checkpoints"
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _restore(workdir, step):
    with ocp.CheckpointManager(workdir / "checkpoints") as manager:
        return manager.restore(step, args=ocp.args.StandardRestore())


def _assert_same_tree(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _interrupt(workdir, data_dir, signum, *extra):
    """Starts training, sends `signum` once the loop runs, returns the result."""
    process = subprocess.Popen(
        _main_command(workdir, data_dir, *extra), cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, JAX_PLATFORMS="cpu"))
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Training from step" in line:
            process.send_signal(signum)
            break
    _, rest = process.communicate(timeout=600)
    return process.returncode, "".join(seen) + rest


@pytest.mark.slow
def test_sigterm_saves_and_the_same_command_resumes_bit_exactly(tmp_path, toy_data_dir):
    data_dir = toy_data_dir
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    # The uninterrupted reference run, in-process: the same compiled programs.
    train.train_and_evaluate(_tiny_config(data_dir, **LONG_RUN_FIELDS), straight)

    code, stderr = _interrupt(interrupted, data_dir, signal.SIGTERM, *LONG_RUN)
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    found = re.search(r"Stopped by SIGTERM after step (\d+): saved a checkpoint "
                      r"at step \1 in .*checkpoints\. Run the same command again",
                      stderr)
    assert found, stderr[-3000:]
    step = int(found.group(1))
    assert 0 < step < 1200
    assert "Traceback" not in stderr
    assert _checkpoint_steps(interrupted) == [step]

    resumed = _run_main(interrupted, data_dir, *LONG_RUN)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from the checkpoint at step {step}." in resumed.stderr
    # k steps, a SIGTERM, 1200 - k more: the same parameters, optimizer
    # states and EMA, bit for bit, as 1200 steps in one go.
    _assert_same_tree(_restore(straight, 1200), _restore(interrupted, 1200))


@pytest.mark.slow
def test_sigint_saves_too(tmp_path, toy_data_dir):
    workdir = tmp_path / "run"
    code, stderr = _interrupt(workdir, toy_data_dir, signal.SIGINT, *LONG_RUN)
    assert code == 128 + signal.SIGINT, stderr[-3000:]
    found = re.search(r"Stopped by SIGINT after step (\d+): saved a checkpoint",
                      stderr)
    assert found and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    assert _checkpoint_steps(workdir) == [int(found.group(1))]


@pytest.mark.slow
def test_unreadable_newest_checkpoint_is_reported_and_the_previous_one_used(
        tmp_path, caplog, toy_data_dir):
    data_dir = toy_data_dir
    straight, damaged = tmp_path / "straight", tmp_path / "damaged"
    config = _tiny_config(data_dir, num_steps=8)
    train.train_and_evaluate(config, straight)
    # A run of the same config that stopped after saving step 6.
    for step in ("4", "6"):
        shutil.copytree(straight / "checkpoints" / step,
                        damaged / "checkpoints" / step)
    shutil.copy(straight / "config.json", damaged / "config.json")
    # A disk fault after the save: the array data of step 6 loses its tail.
    data_files = list((damaged / "checkpoints" / "6" / "default" / "d").iterdir())
    assert data_files
    for path in data_files:
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    # And a crash mid-save: orbax's unfinished temporary directory of step 8.
    shutil.copytree(damaged / "checkpoints" / "4",
                    damaged / "checkpoints" / "8.orbax-checkpoint-tmp-1796000000")

    with caplog.at_level(logging.WARNING):
        train.train_and_evaluate(config, damaged)
    assert re.search(r"The checkpoint at step 6 is unreadable \(ValueError: .*\); "
                     r"using the one at step 4 instead\. The unreadable checkpoint "
                     r"was moved to .*unreadable_checkpoints/6\.", caplog.text)
    assert (damaged / "unreadable_checkpoints" / "6" / "default").is_dir()
    assert _checkpoint_steps(damaged) == [4, 6, 8]
    # Resumed from step 4, so it ends exactly where the undamaged run ends.
    _assert_same_tree(_restore(straight, 8), _restore(damaged, 8))


@pytest.mark.slow
def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                     toy_data_dir):
    data_dir, workdir = toy_data_dir, tmp_path / "run"
    every = dict(log_every=5, checkpoint_every=5, eval_every=100)
    train.train_and_evaluate(_tiny_config(data_dir, num_steps=10, **every), workdir)
    good = _restore(workdir, 10)

    # Resume with an absurd discriminator learning rate: its first update
    # (step 11) sends D's weights to ~1e30, so the generator's loss through
    # D overflows in the same step.
    config = _tiny_config(data_dir, num_steps=20, **every)
    config.optim.d_lr = 1e30
    with pytest.raises(divergence.TrainingDiverged) as diverged:
        train.train_and_evaluate(config, workdir)
    message = " ".join(str(diverged.value).split())
    assert re.search(r"Training diverged: .*g_loss.* became non-finite \(NaN or "
                     r"inf\) at step 11 \(found at the check at step 15\)\.", message)
    assert ("The last good checkpoint, step 10 in" in message
            and "nothing after it was saved" in message
            and "--config.train.on_nonfinite=skip" in message)
    assert _checkpoint_steps(workdir) == [5, 10]
    _assert_same_tree(good, _restore(workdir, 10))

    # Skipping cannot help here: every update is non-finite, so it stops too.
    config.train.on_nonfinite = "skip"
    with pytest.raises(divergence.TrainingDiverged,
                       match=r"Every update from step 11 to step 15 was non-finite"):
        train.train_and_evaluate(config, workdir)
    assert _checkpoint_steps(workdir) == [5, 10]
    _assert_same_tree(good, _restore(workdir, 10))


def _guarded_step(config, skip):
    spec = gan_spec.build(config)
    train_step = experiment.make_train_step(spec)
    state = experiment.create_state(spec, (2,), jax.random.key(0))
    batch = {"x": jnp.zeros((spec.optim.n_critic, 8, 2), jnp.float32)}
    names = divergence.watched_names(
        jax.eval_shape(train_step, state, batch, jax.random.key(1))[1],
        part_names=tuple(gan_task.state_parts(state)))

    @jax.jit
    def step(state, health, batch, key):
        new_state, metrics = train_step(state, batch, key)
        return divergence.guard(state, new_state, metrics, health, names,
                                parts=gan_task.state_parts, skip=skip)

    return step, state, divergence.initial(names, 0), names


def _batches(config):
    finite = jax.random.normal(jax.random.key(2), (config.optim.n_critic, 8, 2))
    return {"x": finite.at[0, 3, 1].set(jnp.nan)}, {"x": finite}


def test_a_skipped_update_leaves_the_state_as_it_was_and_training_goes_on(tmp_path):
    config = _tiny_config(tmp_path)
    step, state, health, names = _guarded_step(config, skip=True)
    nan_batch, finite_batch = _batches(config)
    before = jax.device_get(state)

    skipped, health, applied = step(state, health, nan_batch, jax.random.key(3))
    assert not bool(applied) and int(health.skipped) == 1
    _assert_same_tree(before, skipped)
    first, culprits = divergence.report(health, names)
    # A NaN real example reaches D's logits and loss, and so D's gradient.
    assert first == 1 and {"d_loss", "d_real_logit", "d_grad_norm"} <= set(culprits)

    moved, health, applied = step(skipped, health, finite_batch, jax.random.key(3))
    assert bool(applied) and int(health.skipped) == 1 and int(health.steps) == 2
    leaves = jax.tree.leaves(jax.device_get(moved))
    assert all(np.all(np.isfinite(leaf)) for leaf in leaves
               if np.issubdtype(np.asarray(leaf).dtype, np.floating))
    assert not np.array_equal(np.asarray(moved.generator.params["Dense_0"]["kernel"]),
                              np.asarray(before.generator.params["Dense_0"]["kernel"]))


def test_without_skipping_the_first_bad_step_and_its_culprits_are_kept(tmp_path):
    config = _tiny_config(tmp_path)
    step, state, health, names = _guarded_step(config, skip=False)
    nan_batch, finite_batch = _batches(config)
    state, health, _ = step(state, health, finite_batch, jax.random.key(3))
    assert divergence.report(health, names) is None
    state, health, _ = step(state, health, nan_batch, jax.random.key(3))
    later, health, _ = step(state, health, finite_batch, jax.random.key(3))
    first, culprits = divergence.report(health, names)
    assert first == 2 and "discriminator parameters" in culprits
    assert int(health.steps) == 3 and int(health.skipped) == 0
    assert not np.all(np.isfinite(np.asarray(
        later.discriminator.params["Dense_0"]["kernel"])))


@pytest.mark.parametrize("field, value, message", [
    ("optim.n_critic", 0, r"n_critic=0 must be >= 1"),
    ("train.log_every", 0, r"log_every=0 must be >= 1"),
    ("train.on_nonfinite", "ignore",
     r"Valid: stop, skip\. Set --config.train.on_nonfinite"),
    ("data.corrupt_images", "drop", r"Valid: error, skip"),
    ("model.name", "stylegan", r"Valid models: biggan, dcgan, mlp, progressive, sngan, stylegan2"),
    ("loss.name", "wasserstien", r"Valid losses: .*wasserstein"),
    ("penalty.name", "gp2", r"Valid penalties: dragan, gp, lp, none, r1, r2"),
])
def test_config_errors_name_the_field_and_the_valid_values(field, value, message):
    config = defaults.base_config()
    section, name = field.split(".")
    config[section][name] = value
    with pytest.raises(ValueError, match=message):
        gan_spec.build(config)


def test_unknown_dataset_names_list_the_valid_ones(tmp_path):
    config = _tiny_config(tmp_path / "tfds")
    config.data.name = "ring9"
    with pytest.raises(ValueError, match=r"Unknown toy mixture 'ring9'\. Valid "
                       r"names: grid25, ring8\. Set --config.data.name"):
        gan_data.load_dataset(gan_spec.build(config))
    config.data.source = "tfds"
    config.data.name = "mnistt"
    with pytest.raises(ValueError, match=r"TFDS has no dataset named 'mnistt'.*"
                       r"Did you mean .*mnist"):
        gan_data.load_dataset(gan_spec.build(config))


def test_image_size_the_architecture_cannot_make():
    config = defaults.image_config()
    config.model.name = "dcgan"
    config.data.image_size = 48
    with pytest.raises(ValueError, match=r"image_size=48: model 'dcgan' makes "
                       r"only 28, 32, 64-pixel square images"):
        gan_spec.build(config)


def test_batch_not_divisible_by_the_devices(monkeypatch):
    config = defaults.base_config()
    config.data.batch_size = 12
    monkeypatch.setattr(jax, "device_count", lambda: 8)
    with pytest.raises(ValueError, match=r"batch_size=12 must be divisible by the "
                       r"number of devices \(8\).*multiple of 8"):
        gan_spec.build(config)


def test_gradient_penalty_on_a_batchnorm_critic_warns_and_says_why(caplog):
    config = defaults.image_config()
    config.model.name, config.model.d_norm = "dcgan", "batch"
    config.penalty.name = "gp"
    with caplog.at_level(logging.WARNING):
        gan_spec.build(config)
    assert "BatchNorm critic" in caplog.text and "d_norm=layer" in caplog.text
    caplog.clear()
    config.model.d_norm = "layer"
    with caplog.at_level(logging.WARNING):
        gan_spec.build(config)
    assert "BatchNorm critic" not in caplog.text


@pytest.mark.slow
def test_main_reports_a_bad_config_in_one_paragraph_before_any_work(tmp_path):
    result = _run_main(tmp_path / "run", tmp_path / "tfds",
                       "--config.loss.name=wasserstien")
    assert result.returncode == 1
    assert "gan_jax.main: ValueError:" in result.stderr
    assert "Valid losses:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_a_workdir_with_a_differently_shaped_run_refuses_and_is_left_alone(
        tmp_path, toy_data_dir, capsys):
    data_dir, workdir = toy_data_dir, tmp_path / "run"
    train.train_and_evaluate(_tiny_config(data_dir), workdir)
    saved_config = (workdir / "config.json").read_text()
    saved_state = _restore(workdir, 6)

    wider = _tiny_config(data_dir, num_steps=8)
    wider.model.hidden_dim = 32
    with pytest.raises(run_dir.ConfigChanged) as refused:
        train.train_and_evaluate(wider, workdir)
    assert "model.hidden_dim: 16 -> 32" in str(refused.value)
    assert "train.num_steps: 6 -> 8" in str(refused.value)
    assert "--if_config_changed=new_workdir" in str(refused.value)
    assert (workdir / "config.json").read_text() == saved_config
    assert _checkpoint_steps(workdir) == [2, 4, 6]

    # --if_config_changed=new_workdir, in-process (gan_jax.main passes the flag).
    forked = _tiny_config(data_dir)
    forked.model.hidden_dim = 32
    train.train_and_evaluate(forked, workdir, if_config_changed="new_workdir")
    fresh = tmp_path / "run-2"
    assert f"Starting fresh in {fresh}" in capsys.readouterr().err
    assert _checkpoint_steps(fresh) == [2, 4, 6]
    assert np.asarray(_restore(fresh, 6)["generator"]["params"]["Dense_0"]
                      ["kernel"]).shape[-1] == 32
    assert (workdir / "config.json").read_text() == saved_config
    _assert_same_tree(saved_state, _restore(workdir, 6))


@pytest.mark.slow
def test_a_resume_that_changes_no_shape_follows_the_new_config(tmp_path, caplog,
                                                               toy_data_dir):
    data_dir, workdir = toy_data_dir, tmp_path / "run"
    train.train_and_evaluate(_tiny_config(data_dir), workdir)
    config = _tiny_config(data_dir, num_steps=8)
    saved_lr, config.optim.g_lr = config.optim.g_lr, 1e-4
    with caplog.at_level(logging.WARNING):
        train.train_and_evaluate(config, workdir)
    assert f"optim.g_lr: {saved_lr!r} -> 0.0001" in caplog.text
    old = (workdir / "config.until_step_6.json").read_text()
    assert f'"g_lr": {saved_lr!r}' in old
    assert '"g_lr": 0.0001' in (workdir / "config.json").read_text()
    restored = _restore(workdir, 8)
    learning_rate = restored["generator"]["opt_state"]["hyperparams"]["learning_rate"]
    assert float(learning_rate) == np.float32(1e-4)


def _png_bytes(tmp_path, pixels):
    path = tmp_path / "scratch.png"
    PIL.Image.fromarray(pixels).save(path)
    return path.read_bytes()


@pytest.fixture
def folder_with_corrupt_files(tmp_path):
    folder = tmp_path / "images" / "all"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(4):
        PIL.Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
            folder / f"ok_{i}.png")
    valid = _png_bytes(tmp_path, rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (folder / "truncated.png").write_bytes(valid[:len(valid) // 2])
    (folder / "garbage.jpg").write_bytes(rng.bytes(300))
    return folder.parent


def _folder_config(folder, tmp_path, **overrides):
    config = defaults.base_config().data
    config.update(source="folder", path=str(folder), data_dir=str(tmp_path / "tfds"),
                  **overrides)
    return config


def test_corrupt_images_are_named_and_fatal_by_default(folder_with_corrupt_files,
                                                        tmp_path):
    with pytest.raises(ValueError) as error:
        input_pipeline.load(_folder_config(folder_with_corrupt_files, tmp_path))
    message = str(error.value)
    assert message.startswith("2 image file(s) in")
    assert "all/truncated.png" in message and "all/garbage.jpg" in message
    assert "--config.data.corrupt_images=skip" in message


def test_corrupt_images_can_be_skipped(folder_with_corrupt_files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        source = input_pipeline.load(_folder_config(
            folder_with_corrupt_files, tmp_path, corrupt_images="skip"))
    assert re.search(r"Skipped 2 image file\(s\) .*garbage\.jpg.*truncated\.png",
                     caplog.text)
    assert len(list(source.dataset)) == 4
    # The prepared copy lacks them: reading it under "error" still says so.
    with pytest.raises(ValueError, match=r"truncated\.png \(skipped when prepared\)"):
        input_pipeline.load(_folder_config(folder_with_corrupt_files, tmp_path))


def test_an_empty_dataset_is_a_clear_error(tmp_path, toy_data_dir):
    config = _tiny_config(toy_data_dir)
    config.data.split = "train[:0]"
    with pytest.raises(ValueError, match=r"split 'train\[:0\]' of 'ring8' \(toy\) "
                       r"selects no examples: the dataset is empty"):
        train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
