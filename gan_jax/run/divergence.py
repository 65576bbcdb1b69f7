"""Non-finite detection on the device, without a host sync per step.

Every compiled phase passes its new state and metrics through `guard`, which
records in a small `Health` pytree the first step at which anything became
NaN or infinite, and what: each metric by name, and each part of the state
(parameters, optimizer state, BatchNorm statistics, EMA weights, trick
statistics). The loop fetches `Health` only when it logs or is about to save
(`report`), so a diverged state is never written over a good checkpoint.

With `skip=True` a non-finite update is dropped instead: the phase returns
its input state unchanged, as if the update had not happened, and counts it.
"""

from typing import Any, Callable, Sequence

import flax
import jax
import jax.numpy as jnp

# `parts(state)`: the state's parts by the name a message uses (each task
# names its own, e.g. "generator parameters"); together they cover the whole
# state pytree.
StateParts = Callable[[Any], dict[str, Any]]


@flax.struct.dataclass
class Health:
    """What `guard` has seen since the run (or its resume) started.

    Attributes:
      steps: train steps guarded so far, counted from the resumed step.
      first_bad_step: the first step with a non-finite value, -1 if none.
      culprits: `(len(names),)` bool, what was non-finite at that step.
      skipped: updates dropped by `skip=True`.
    """
    steps: jax.Array
    first_bad_step: jax.Array
    culprits: jax.Array
    skipped: jax.Array


def watched_names(*metric_names: Sequence[str],
                  part_names: Sequence[str]) -> tuple[str, ...]:
    """The names `Health.culprits` refers to: metrics, then state parts."""
    names = [name for group in metric_names for name in group]
    return (*names, *part_names)


def initial(names: Sequence[str], start_step: int) -> Health:
    return Health(steps=jnp.int32(start_step), first_bad_step=jnp.int32(-1),
                  culprits=jnp.zeros((len(names),), jnp.bool_),
                  skipped=jnp.int32(0))


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def guard(old_state, new_state, metrics: dict[str, jax.Array], health: Health,
          names: Sequence[str], *, parts: StateParts, skip: bool,
          count_step: bool = True):
    """Checks one phase's results; pure and jit-able.

    Args:
      old_state, new_state: the state before and after the phase.
      metrics: the phase's scalar metrics (names must be in `names`).
      health: the record so far.
      names: `watched_names(...)` of every phase the loop runs.
      parts: the state's named parts, each checked as a whole.
      skip: drop a non-finite update (return `old_state`) instead of keeping it.
      count_step: whether this phase ends a train step (the lazy regulariser
        runs after the train step of the same number).

    Returns:
      `(state, health, applied)`: `applied` is False when the update was
      non-finite and skipped.
    """
    steps = health.steps + (1 if count_step else 0)
    bad = {name: ~jnp.isfinite(value) for name, value in metrics.items()}
    for part, subtree in parts(new_state).items():
        bad[part] = ~_all_finite(subtree)
    culprits = jnp.stack([jnp.asarray(bad.get(name, False)).reshape(())
                          for name in names])
    any_bad = jnp.any(culprits)
    first = (health.first_bad_step < 0) & any_bad
    health = Health(
        steps=steps,
        first_bad_step=jnp.where(first, steps, health.first_bad_step),
        culprits=jnp.where(first, culprits, health.culprits),
        skipped=health.skipped + (any_bad & skip).astype(jnp.int32))
    if not skip:
        return new_state, health, jnp.bool_(True)
    state = jax.tree.map(lambda new, old: jnp.where(any_bad, old, new),
                         new_state, old_state)
    return state, health, ~any_bad


class TrainingDiverged(FloatingPointError):
    """A run stopped because its losses, gradients or state became non-finite."""

    def __init__(self, message: str, step: int, culprits: tuple[str, ...]):
        super().__init__(message)
        self.step = step
        self.culprits = culprits


def report(health: Health, names: Sequence[str]) -> tuple[int, tuple[str, ...]] | None:
    """`(first bad step, culprit names)` from a fetched `Health`, or None."""
    first = int(health.first_bad_step)
    if first < 0:
        return None
    culprits = tuple(name for name, bad in zip(names, jax.device_get(health.culprits))
                     if bad)
    return first, culprits


def diverged_message(first_step: int, culprits: Sequence[str], *, checked_at: int,
                     last_checkpoint: int | None, checkpoint_dir: str,
                     skipped: bool) -> str:
    """The paragraph a user sees when a run stops on a non-finite value."""
    what = ", ".join(culprits) or "a value"
    kept = (f"The last good checkpoint, step {last_checkpoint} in {checkpoint_dir}, "
            "is kept; nothing after it was saved."
            if last_checkpoint is not None else
            "No checkpoint had been written yet, so none was.")
    if skipped:
        cause = (f"Every update from step {first_step} to step {checked_at} was "
                 f"non-finite ({what}) and skipped "
                 "(--config.train.on_nonfinite=skip), so training made no progress.")
    else:
        cause = (f"Training diverged: {what} became non-finite (NaN or inf) at "
                 f"step {first_step} (found at the check at step {checked_at}).")
    return (f"{cause} {kept} Lower the learning rates (--config.optim.g_lr, "
            "--config.optim.d_lr), add a gradient penalty (--config.penalty.name), "
            "or set --config.train.on_nonfinite=skip to drop non-finite updates; "
            "then rerun the same command to resume from the last checkpoint.")
