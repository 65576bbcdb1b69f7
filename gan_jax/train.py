"""Every kind of run, by its config: train one, or open a trained one.

`train_and_evaluate(config, workdir)` trains (or resumes) the run of `config`;
`restore_trained(workdir)` opens any trained run (for sampling, evaluation,
notebooks).

The run is a task on the one loop (`gan_jax.run.loop`): a GAN
(`gan_jax.run.gan_task`), or an image-to-image model for a config with a
`task` field (`gan_jax.image_to_image.task`). The files it writes are listed in
`gan_jax.run.run_dir`.

What can go wrong ends with a message and nothing lost (README, "When things
go wrong"): a config that cannot train or cannot resume in `workdir` stops
before any work; SIGTERM or SIGINT saves at the current step and raises
`preemption.TrainingInterrupted`; a non-finite value stops the run with
`divergence.TrainingDiverged` before it can reach a checkpoint (or, with
`train.on_nonfinite=skip`, the update is dropped).
"""

import sys
from typing import Any, NamedTuple

from absl import logging
from etils import epath
import ml_collections

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.image_to_image import task as translation_task
from gan_jax.run import checkpoint
from gan_jax.run import gan_spec
from gan_jax.run import gan_task
from gan_jax.run import loop
from gan_jax.run import run_dir
from gan_jax.run import task as task_lib


def create_task(config: ml_collections.ConfigDict,
                workdir: epath.PathLike) -> task_lib.Task:
    """The task of `config`: image-to-image configs name theirs (`task`)."""
    if "task" in config:
        return translation_task.TranslationTask(config, workdir)
    return gan_task.GANTask(config, workdir)


# What to do when the workdir holds a run whose saved config builds
# differently shaped state (`--if_config_changed`).
IF_CONFIG_CHANGED = ("refuse", "new_workdir")


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: epath.PathLike, *,
                       if_config_changed: str = "refuse") -> dict[str, float]:
    """Trains (or resumes) the run of `config` in `workdir`.

    `if_config_changed="new_workdir"` starts fresh in the first free
    `<workdir>-2`, `-3`, ... where `workdir` holds a run that cannot resume
    under `config` (that run is left untouched); "refuse" raises.

    Returns:
      The final evaluation metrics, also written to `<workdir>/final_metrics.json`.

    Raises:
      ValueError (and FileNotFoundError, RuntimeError from the data sources):
        the config cannot train, before any work; `run_dir.ConfigChanged`
        when `workdir` holds a run that cannot resume under `config`.
      preemption.TrainingInterrupted: SIGTERM or SIGINT; a checkpoint of the
        current step was saved.
      divergence.TrainingDiverged: a non-finite value; the last good
        checkpoint is kept.
    """
    if if_config_changed not in IF_CONFIG_CHANGED:
        raise ValueError(f"--if_config_changed={if_config_changed!r} is not one "
                         f"of {', '.join(IF_CONFIG_CHANGED)}; e.g. new_workdir.")
    try:
        return loop.run(create_task(config, workdir))
    except run_dir.ConfigChanged:
        if if_config_changed != "new_workdir":
            raise
    fresh = run_dir.free_workdir(workdir)
    logging.warning("%s holds a run with a differently shaped config; starting "
                    "this run fresh in %s.", workdir, fresh)
    print(f"Starting fresh in {fresh} (the config differs from {workdir}'s).",
          file=sys.stderr)
    return loop.run(create_task(config, fresh))


class TrainedRun(NamedTuple):
    """A trained run: the checked spec of its saved config, its newest
    checkpointed state and data spec. `image_to_image` tells a
    pix2pix/CycleGAN/SRGAN run (a `TranslationSpec`) from a GAN's (a
    `GanSpec`)."""
    spec: gan_spec.GanSpec | translation_spec.TranslationSpec
    state: Any
    step: int
    data_spec: run_dir.DataSpec
    image_to_image: bool


def restore_trained(workdir: epath.PathLike) -> TrainedRun:
    """The spec and newest checkpointed state of the run in `workdir`.

    Raises:
      FileNotFoundError: `workdir` holds no trained run, with what is missing
        and how to make it.
      ValueError: its saved config is not valid (any more), naming the field.
    """
    workdir = epath.Path(workdir)
    saved = run_dir.read_saved_config(workdir)
    image_to_image = "task" in saved
    config = run_dir.read_config(
        workdir, translation_defaults.base_config(saved["task"]["name"])
        if image_to_image else defaults.base_config())
    # Sampling and evaluation need not run on as many devices as training.
    spec = (translation_spec.build(config) if image_to_image
            else gan_spec.build(config, check_devices=False))
    if not (workdir / run_dir.DATA_SPEC_FILE).exists():
        raise FileNotFoundError(
            f"{workdir / run_dir.DATA_SPEC_FILE} does not exist: the run in "
            f"{workdir} was trained by a version of gan_jax that did not write "
            "it, or stopped before its first save. Resume it with the same "
            "gan_jax.main command.")
    data_spec = run_dir.read_data_spec(workdir)
    task_module = translation_task if image_to_image else gan_task
    # The template only supplies the structure; shapes come from the data spec.
    state, step = restore_newest(
        workdir, task_module.template_state(spec, data_spec),
        "Resume it with the same gan_jax.main command.")
    return TrainedRun(spec, state, step, data_spec, image_to_image)


def restore_newest(checkpoint_root: epath.Path, template: Any,
                   how_to_make_one: str) -> tuple[Any, int]:
    """The newest readable checkpoint in `<checkpoint_root>/checkpoints`,
    restored into `template`'s structure, and its step.

    Raises:
      FileNotFoundError: there is none, ending with `how_to_make_one`.
    """
    manager = checkpoint.open_read_only(checkpoint_root)
    if manager.latest_step() is None:
        raise FileNotFoundError(
            f"No checkpoint in {checkpoint_root / 'checkpoints'}: the run "
            f"stopped before its first save. {how_to_make_one}")
    return checkpoint.restore_latest(manager, template)
