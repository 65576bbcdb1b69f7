"""A task's compiled program and the train steps it runs after (`Phase`).

Its own module, without the loop's imports (writers, checkpoints, the input
pipeline), so that a task's phases can be built and timed on a host without
TensorFlow (`gan_jax.run.gan_phases`, `benchmarks/accelerator.py`).
"""

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Phase:
    """One compiled program of a task and the train steps it runs after.

    Attributes:
      name: the phase's name in logs; its metrics are logged as
        `<log_prefix><metric>`.
      step_fn: `(state, batch, key, numeric) -> (state, metrics)`, pure;
        `metrics` are float32 scalars (or `(K,)` for stacked members).
      every: runs after train steps that are multiples of `every`.
      first_step, last_step: runs only for steps in this range (inclusive;
        `last_step=None`: to the end).
      ends_step: whether this phase completes a train step (the main phase);
        a regulariser running after the same step does not.
    """
    name: str
    step_fn: Callable
    every: int = 1
    first_step: int = 1
    last_step: int | None = None
    ends_step: bool = True
    log_prefix: str = ""

    def runs_at(self, step: int) -> bool:
        return (step >= self.first_step and step % self.every == 0
                and (self.last_step is None or step <= self.last_step))
