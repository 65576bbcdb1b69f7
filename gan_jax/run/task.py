"""What the loop asks of a task, with the defaults of a run directory.

A task is one kind of training run: the GAN of `gan_jax.run.gan_task`, the
image-to-image models of `gan_jax.image_to_image.task`, a sweep's group of
stacked members (`gan_jax.sweep.runner`). It says

  * how to check its config (`build_spec`) and read its data (`prepare`),
  * which saved runs it may resume (`state_layout`, `default_config`,
    `data_spec`; the loop checks the workdir with them before any file),
  * how to build its state (`create_state`; `initialize` for a run without
    a checkpoint of its own, `adopt` for a resumed one),
  * which compiled phases run at which steps (`phases`), on which batches
    (`host_batches`, `example_batch`, `batch_axis`) with which arguments
    (`train_key`, `numeric`),
  * how its state is laid out for the non-finite guard (`state_parts`),
  * what an evaluation measures and draws (`evaluate`), and what the run
    leaves behind (`finish`; `write_run_files` only for files beyond a run
    directory's config.json and data_spec.json).

`gan_jax.run.loop.run(task)` does the rest, the same way for every task.
"""

from typing import Any, Callable

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
    phases: tuple = ()     # The `phase.Phase`s, in the order they run (after build_spec).
    # `state_layout(config, data_spec)`: the leaves (path, shape, dtype) of
    # the state `config` builds, which a saved run must share to resume.
    state_layout: Callable | None = None

    @property
    def checkpoint_root(self) -> epath.Path:
        """The directory whose `checkpoints/` holds this task's state."""
        return self.workdir

    @property
    def max_checkpoints(self) -> int:
        return self.spec.train.max_checkpoints

    def build_spec(self) -> None:
        """Builds the spec: every check of the config, before any work. Sets
        `spec`, `phases` and `describe_data`."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Reads the data; writes no file. Sets `example_batch`."""
        raise NotImplementedError

    def default_config(self) -> Any:
        """The config whose fields a saved config.json lacks take (an older
        version's run)."""
        raise NotImplementedError

    def data_spec(self) -> run_dir.DataSpec:
        """Sample shape and classes of the data (after prepare)."""
        raise NotImplementedError

    def check_workdir(self) -> None:
        """Raises `run_dir.ConfigChanged` when the workdir holds a run this
        config cannot resume; warns about changed fields that change no shape."""
        changed = run_dir.check_resumable(
            self.workdir, self.config, layout=self.state_layout,
            data_spec=self.data_spec(), defaults=self.default_config())
        if changed:
            logging.warning("Resuming with a config that differs from the saved "
                            "one in fields that change no shape (saved -> now): "
                            "%s", "; ".join(changed))

    def create_state(self):
        raise NotImplementedError

    def initialize(self, fresh):
        """The state a run without a checkpoint of its own starts from:
        `fresh`, or what the task takes from elsewhere (another run's
        weights, for fine-tuning)."""
        return fresh

    def adopt(self, restored, fresh):
        """The restored state as the current config wants it resumed."""
        del fresh
        return restored

    def start(self, start_step: int) -> None:
        """Called on every process once the state is restored (or fresh)."""

    def write_run_files(self, start_step: int) -> None:
        """The files that describe the run: config.json (`start_step` notes
        a resume) and data_spec.json, which sampling and evaluation read."""
        run_dir.write_config(self.workdir, self.config, start_step=start_step)
        run_dir.write_data_spec(self.workdir, self.data_spec())

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
