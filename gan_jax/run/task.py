"""What the loop asks of a task, with the defaults of a run directory.

A task is one kind of training run: the GAN of `gan_jax.run.gan_task`, the
image-to-image models of `gan_jax.image_to_image.task`, a sweep's group of
stacked members (`gan_jax.sweep.runner`). It says

  * how to read its data and check its workdir (`prepare`, before any file),
  * how to build its state (`create_state`; `adopt` for a resumed one),
  * which compiled phases run at which steps (`phases`), on which batches
    (`host_batches`, `example_batch`, `batch_axis`) with which arguments
    (`train_key`, `numeric`),
  * how its state is laid out for the non-finite guard (`state_parts`),
  * what an evaluation measures and draws (`evaluate`), and what the run
    leaves behind (`write_run_files`, `finish`).

`gan_jax.run.loop.run(task)` does the rest, the same way for every task.
"""

from typing import Any

from absl import logging
from clu import metric_writers
from etils import epath
import jax

from gan_jax.evaluation import visualize
from gan_jax.evaluation.evaluator import Evaluation
from gan_jax.run import run_dir


class Task:
    """The loop's questions, answered for a run directory; subclasses fill in
    the model-specific ones (those raising NotImplementedError)."""

    config: Any            # The user's config, only to record it (config.json).
    spec: Any              # The checked spec of the run (after prepare).
    workdir: epath.Path    # Where the run's files go.
    members: int | None = None  # K for states stacked on a member axis.
    batch_axis: int = 1    # The batch axis of a host batch (after n_critic).
    evaluates_at_start: bool = False  # Also evaluate the untrained state.
    log_label: str = ""    # Prefix of the loop's log lines.
    describe_data: str = "of this run"  # The dataset, for "is empty" errors.
    example_batch: Any = None  # ShapeDtypeStructs of one batch (after prepare).
    phases: tuple = ()     # The `loop.Phase`s, in the order they run (after prepare).

    @property
    def checkpoint_root(self) -> epath.Path:
        """The directory whose `checkpoints/` holds this task's state."""
        return self.workdir

    @property
    def max_checkpoints(self) -> int:
        return self.spec.train.max_checkpoints

    def prepare(self) -> None:
        """Builds the spec (every check), then reads the data and checks the
        workdir; writes no file. Sets `spec`, `phases` and `example_batch`."""
        raise NotImplementedError

    def create_state(self):
        raise NotImplementedError

    def adopt(self, restored, fresh):
        """The restored state as the current config wants it resumed."""
        del fresh
        return restored

    def start(self, start_step: int) -> None:
        """Called on every process once the state is restored (or fresh)."""

    def write_run_files(self, start_step: int) -> None:
        """The files that describe the run (config.json, data_spec.json)."""
        raise NotImplementedError

    def host_batches(self, start_step: int):
        raise NotImplementedError

    def train_key(self) -> jax.Array:
        raise NotImplementedError

    def numeric(self) -> dict[str, Any]:
        """Numbers passed to the phases as arguments, not compiled in."""
        return {}

    def state_parts(self, state) -> dict[str, Any]:
        """The state's parts by the names a divergence message uses."""
        raise NotImplementedError

    def evaluate(self, state, step: int, *, final: bool) -> Evaluation:
        raise NotImplementedError

    def create_writer(self):
        return metric_writers.create_default_writer(
            self.workdir, just_logging=jax.process_index() > 0)

    def write_train_metrics(self, writer, step: int, means: dict[str, Any],
                            diverged_members) -> None:
        del diverged_members
        writer.write_scalars(step, {f"train/{name}": float(value)
                                    for name, value in means.items()})

    def write_evaluation(self, writer, evaluation: Evaluation, step: int) -> None:
        writer.write_scalars(step, {f"eval/{k}": v
                                    for k, v in evaluation.scalars.items()})
        writer.write_images(step, {f"eval/{k}": v[None]
                                   for k, v in evaluation.images.items()})
        if jax.process_index() == 0:
            for name, image in evaluation.images.items():
                visualize.save_png(image, self.samples_dir / f"{name}_{step:07d}.png")
        if evaluation.scalars:
            logging.info("Evaluation at step %d: %s", step, ", ".join(
                f"{k} {v:.4g}" for k, v in sorted(evaluation.scalars.items())))

    @property
    def samples_dir(self) -> epath.Path:
        return self.workdir / run_dir.SAMPLES_DIR

    def after_save(self, step: int) -> None:
        """Called when a checkpoint of `step` was started."""

    def finish(self, state, step: int, writer, diverged_members
               ) -> dict[str, float | str] | None:
        """The final evaluation; its scalars, and its labels saying what was
        measured (e.g. "generator"), become `final_metrics.json`."""
        del diverged_members
        evaluation = self.evaluate(state, step, final=True)
        self.write_evaluation(writer, evaluation, step)
        return dict(evaluation.scalars, **evaluation.labels)
