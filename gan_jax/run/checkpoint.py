"""Saving and restoring the whole `GANState` with orbax.

Checkpoints live in `<workdir>/checkpoints/<step>/`. orbax writes each one to a
temporary directory and renames it when complete, so an interrupted save never
replaces a good checkpoint with a partial one. A checkpoint damaged later (a
truncated or deleted file) is reported on restore and the previous one is
used; the trainer moves the damaged one to `<workdir>/unreadable_checkpoints/`
so that it is kept for inspection and later saves do not collide with it.
"""

import os
import time
from typing import Any

from absl import logging
from etils import epath
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

UNREADABLE_DIR = "unreadable_checkpoints"


def create_manager(workdir: epath.PathLike, *, save_every: int,
                   max_to_keep: int = 3) -> ocp.CheckpointManager:
    """A manager for `<workdir>/checkpoints` saving every `save_every` steps."""
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_every, max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(_directory(workdir), options=options)


def _directory(workdir: epath.PathLike) -> epath.Path:
    directory = epath.Path(workdir) / "checkpoints"
    # orbax rejects relative paths, and `--workdir=runs/x` is the common case;
    # cloud paths (gs://...) are absolute already.
    if "://" not in os.fspath(workdir):
        directory = directory.absolute()
    return directory


def open_read_only(workdir: epath.PathLike) -> ocp.CheckpointManager:
    """A manager that only reads `<workdir>/checkpoints` (another run's, or a
    trained run's for sampling): it creates, deletes and writes nothing."""
    options = ocp.CheckpointManagerOptions(create=False, read_only=True,
                                           save_interval_steps=0)
    return ocp.CheckpointManager(_directory(workdir), options=options)


def restore_step(manager: ocp.CheckpointManager, step: int, state: Any) -> Any:
    """The checkpoint at `step`, restored into the structure, shapes, dtypes
    and shardings of `state`; its error when it cannot be read."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    return _restore(manager, step, abstract, state)


def restore_latest(manager: ocp.CheckpointManager, state: Any, *,
                   set_aside_unreadable: bool = False) -> tuple[Any, int]:
    """Returns `(state, step)` from the newest readable checkpoint, or `(state, 0)`.

    `state` is the freshly initialised state: it supplies the tree structure,
    shapes, dtypes and shardings that the restored arrays take. A newer
    checkpoint that cannot be read is logged as a warning and the next older
    one is tried; with `set_aside_unreadable`, the unreadable ones are then
    moved to `<workdir>/unreadable_checkpoints/<step>` (never deleted).

    Raises:
      The newest checkpoint's error when no checkpoint can be read (the
      state's structure itself does not match, most likely), after moving
      nothing.
    """
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        return state, 0
    failures = []
    for step in steps:
        try:
            restored = restore_step(manager, step, state)
        except Exception as error:  # pylint: disable=broad-except
            # orbax and tensorstore raise many types for damaged files.
            failures.append((step, error))
            continue
        for bad_step, error in failures:
            where = (_set_aside(manager, bad_step) if set_aside_unreadable
                     else "left in place")
            logging.warning(
                "The checkpoint at step %d is unreadable (%s: %s); using the one "
                "at step %d instead. The unreadable checkpoint was %s.",
                bad_step, type(error).__name__, _first_line(error), step, where)
        if failures and set_aside_unreadable:
            manager.reload()
        return restored, int(step)
    raise failures[0][1]


def _restore(manager, step, abstract, state):
    try:
        return manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except ValueError as error:
        if getattr(state, "tricks", None) != {}:
            raise
        try:
            return _restore_without_tricks(manager, step, abstract)
        except ValueError:
            raise error from None  # The first reason, not the fallback's.


def _first_line(error: Exception) -> str:
    line = (str(error).strip().splitlines() or [""])[0]
    # tensorstore appends its whole JSON spec.
    return line.split(" [tensorstore_spec=")[0][:400]


def _set_aside(manager: ocp.CheckpointManager, step: int) -> str:
    source = epath.Path(manager.directory) / str(step)
    target_dir = epath.Path(manager.directory).parent / UNREADABLE_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / str(step)
    if target.exists():  # Set aside before: keep both.
        target = target_dir / f"{step}.{int(time.time())}"
    if jax.process_index() == 0:
        source.rename(target)
    if jax.process_count() > 1:  # Every process sees the move before reloading.
        multihost_utils.sync_global_devices(f"set_aside_checkpoint_{step}")
    return f"moved to {target}"


def _restore_without_tricks(manager: ocp.CheckpointManager, step: int, abstract):
    # Checkpoints written before `GANState.tricks` existed lack the field; a
    # run with no trick state restores every other field into the template.
    fields = {name: getattr(abstract, name)
              for name in ("generator", "discriminator", "ema_params")}
    restored = manager.restore(step, args=ocp.args.StandardRestore(fields))
    return abstract.replace(**restored)


def save(manager: ocp.CheckpointManager, step: int, state: Any, *,
         force: bool = False) -> bool:
    """Starts an (asynchronous) save if `step` is due or `force`; see orbax."""
    return manager.save(step, args=ocp.args.StandardSave(state), force=force)
