"""Saving and restoring the whole `GANState` with orbax.

Checkpoints live in `<workdir>/checkpoints/<step>/`. orbax writes each one to a
temporary directory and renames it when complete, so an interrupted save never
replaces a good checkpoint with a partial one.
"""

import os
from typing import Any

from etils import epath
import jax
import orbax.checkpoint as ocp


def create_manager(workdir: epath.PathLike, *, save_every: int,
                   max_to_keep: int = 3) -> ocp.CheckpointManager:
    """A manager for `<workdir>/checkpoints` saving every `save_every` steps."""
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=save_every, max_to_keep=max_to_keep, create=True)
    directory = epath.Path(workdir) / "checkpoints"
    # orbax rejects relative paths, and `--workdir=runs/x` is the common case;
    # cloud paths (gs://...) are absolute already.
    if "://" not in os.fspath(workdir):
        directory = directory.absolute()
    return ocp.CheckpointManager(directory, options=options)


def restore_latest(manager: ocp.CheckpointManager, state: Any) -> tuple[Any, int]:
    """Returns `(state, step)` from the newest checkpoint, or `(state, 0)`.

    `state` is the freshly initialised state: it supplies the tree structure,
    shapes, dtypes and shardings that the restored arrays take.
    """
    step = manager.latest_step()
    if step is None:
        return state, 0
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    try:
        restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except ValueError:
        if getattr(state, "tricks", None) != {}:
            raise
        restored = _restore_without_tricks(manager, step, abstract)
    return restored, int(step)


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
