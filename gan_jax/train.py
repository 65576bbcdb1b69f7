"""The training loop: the only place that owns a clock, a loop or a file.

`train_and_evaluate(config, workdir)` builds the mesh, data, models and state,
resumes from the newest checkpoint in `workdir`, and runs the jit-compiled
`steps.train_step`, writing metrics and images through clu's metric writers,
checkpoints through orbax and, at the end, `final_metrics.json` (the files are
listed in `gan_jax.run_dir`).

What can go wrong ends with a message and nothing lost (README, "When things
go wrong"): a config that cannot train or cannot resume in `workdir` stops
before any work; SIGTERM or SIGINT saves at the current step and raises
`preemption.TrainingInterrupted`; a non-finite value stops the run with
`divergence.TrainingDiverged` before it can reach a checkpoint (or, with
`train.on_nonfinite=skip`, the update is dropped).
"""

import itertools
import json
import time

from absl import logging
from clu import metric_writers
from clu import metrics as clu_metrics
from clu import periodic_actions
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import checkpoint
from gan_jax import compile_options
from gan_jax import divergence
from gan_jax import evaluator
from gan_jax import experiment
from gan_jax import parallel
from gan_jax import preemption
from gan_jax import run_dir
from gan_jax import visualize
from gan_jax.data import input_pipeline
from gan_jax.spec import gan as gan_spec

def _example_batch(dataset, batch_size: int, n_critic: int):
    """Shapes and dtypes of one train-step batch, from the element spec."""
    return {name: jax.ShapeDtypeStruct((n_critic, batch_size, *spec.shape),
                                       spec.dtype.as_numpy_dtype)
            for name, spec in dataset.element_spec.items()}


def _write_evaluation(writer, workdir: epath.Path, result: evaluator.Evaluation,
                      step: int) -> None:
    writer.write_scalars(step, {f"eval/{k}": v for k, v in result.scalars.items()})
    writer.write_images(step, {f"eval/{k}": v[None] for k, v in result.images.items()})
    if jax.process_index() == 0:
        for name, image in result.images.items():
            visualize.save_png(image, _samples_dir(workdir) / f"{name}_{step:07d}.png")


def _samples_dir(workdir: epath.Path) -> epath.Path:
    return workdir / run_dir.SAMPLES_DIR


def _write_final_pictures(writer, workdir: epath.Path, state, key,
                          config: ml_collections.ConfigDict, step: int) -> None:
    """Image runs: the interpolation strips and a GIF of the grids over training.

    The GIF is assembled from the PNG files on disk, so a resumed run's
    animation includes the grids written before the interruption.
    """
    strips = evaluator.interpolation_strips(state, key, config)
    writer.write_images(step, {"eval/interpolation": strips[None]})
    if jax.process_index() == 0:
        samples_dir = _samples_dir(workdir)
        visualize.save_png(strips, samples_dir / f"interpolation_{step:07d}.png")
        frames = [visualize.read_png(path)
                  for path in sorted(samples_dir.glob("samples_*.png"))]
        if frames:
            visualize.save_gif(frames, samples_dir / "progress.gif")


class _Programs:
    """The loop's compiled phases, with the metric and health bookkeeping.

    `step(state, accumulated, health, batch, key, numeric)` runs one train
    step, merges its metrics into `accumulated` and updates `health`;
    `regularizer(state, health, batch, key, numeric)`, when the config has a
    lazy penalty, runs that phase. Both donate their state.
    """

    def __init__(self, config, state, example_batch, key, numeric, mesh):
        replicated = parallel.replicated(mesh)
        batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
        skip = config.train.on_nonfinite == "skip"

        # Jitted here and called inside the compiled programs below, so that
        # reading the metric names (eval_shape) and compiling share one trace:
        # JAX reuses the traced step for the same function and shapes.
        @jax.jit
        def train_step(state, batch, key, numeric):
            return experiment.make_train_step(
                config, penalty_weight=numeric["penalty.weight"],
                label_smoothing=numeric["loss.label_smoothing"])(state, batch, key)

        regularizer_step = None
        if experiment.make_regularizer_step(config) is not None:
            @jax.jit
            def regularizer_step(state, batch, key, numeric):
                return experiment.make_regularizer_step(
                    config, penalty_weight=numeric["penalty.weight"])(
                        state, batch, key)

        metric_names = tuple(jax.eval_shape(train_step, state, example_batch,
                                            key, numeric)[1])
        regularizer_names = () if regularizer_step is None else tuple(
            jax.eval_shape(regularizer_step, state, example_batch, key, numeric)[1])
        self.health_names = divergence.watched_names(metric_names, regularizer_names)
        self.metrics_cls = clu_metrics.Collection.create(
            **{name: clu_metrics.Average.from_output(name) for name in metric_names})

        def step_and_accumulate(state, accumulated, health, batch, key, numeric):
            new_state, metrics = train_step(state, batch, key, numeric)
            new_state, health, applied = divergence.guard(
                state, new_state, metrics, health, self.health_names, skip=skip)
            merged = accumulated.merge(
                self.metrics_cls.single_from_model_output(**metrics))
            # A skipped update's metrics are non-finite: leave them out.
            merged = jax.tree.map(lambda m, a: jnp.where(applied, m, a),
                                  merged, accumulated)
            return new_state, merged, health

        health = self.initial_health(0)
        accumulated = self.empty_metrics(mesh)
        compile_start = time.time()
        self.step = jax.jit(
            step_and_accumulate,
            in_shardings=(replicated, replicated, replicated, batch_sharding,
                          replicated, replicated),
            out_shardings=(replicated, replicated, replicated),
            donate_argnums=(0, 1, 2),
            compiler_options=compile_options.for_training()).lower(
                state, accumulated, health, example_batch, key, numeric).compile()

        # The lazy regulariser is its own compiled phase (Karras et al. 2020):
        # a whole program every `lazy_interval` steps, none in between.
        self.regularizer = None
        if regularizer_step is not None:
            def guarded_regularizer(state, health, batch, key, numeric):
                new_state, metrics = regularizer_step(state, batch, key, numeric)
                new_state, health, _ = divergence.guard(
                    state, new_state, metrics, health, self.health_names,
                    skip=skip, count_step=False)
                return new_state, metrics, health

            self.regularizer = jax.jit(
                guarded_regularizer,
                in_shardings=(replicated, replicated, batch_sharding, replicated,
                              replicated),
                out_shardings=(replicated, replicated, replicated),
                donate_argnums=(0, 1),
                compiler_options=compile_options.for_training()).lower(
                    state, health, example_batch, key, numeric).compile()
        logging.info("Compiled the training programs in %.1f s.",
                     time.time() - compile_start)

    def initial_health(self, start_step: int) -> divergence.Health:
        return divergence.initial(self.health_names, start_step)

    def empty_metrics(self, mesh):
        return jax.device_put(self.metrics_cls.empty(), parallel.replicated(mesh))


class _HealthCheck:
    """Fetches `Health` at log and save times and stops a diverged run."""

    def __init__(self, config, manager, names, start_step: int):
        self._skip = config.train.on_nonfinite == "skip"
        self._manager = manager
        self._names = names
        self._last_step, self._last_skipped = start_step, 0

    def __call__(self, health: divergence.Health, step: int, *,
                 end_of_window: bool = True) -> int:
        """Raises `TrainingDiverged`; returns the updates skipped since the
        run (or its resume) started. Skipping stops the run only when a
        whole log window of updates was skipped (`end_of_window`)."""
        health = jax.device_get(health)
        found = divergence.report(health, self._names)
        skipped = int(health.skipped) - self._last_skipped
        window = step - self._last_step
        self._last_step, self._last_skipped = step, int(health.skipped)
        if found is None or (self._skip and (skipped < window or not end_of_window)):
            return int(health.skipped)
        first_step, culprits = found
        self._manager.wait_until_finished()
        message = divergence.diverged_message(
            max(first_step, step - window + 1) if self._skip else first_step,
            culprits, checked_at=step,
            last_checkpoint=self._manager.latest_step(),
            checkpoint_dir=str(self._manager.directory), skipped=self._skip)
        logging.error("%s", message)
        raise divergence.TrainingDiverged(message, first_step, culprits)


def _save_and_stop(manager, step: int, state, signal_name: str):
    """Saves `state` at `step`, waits for it, and raises TrainingInterrupted."""
    checkpoint.save(manager, step, state, force=True)
    manager.wait_until_finished()
    message = preemption.interrupted_message(signal_name, step,
                                             str(manager.directory))
    logging.warning("%s", message)
    raise preemption.TrainingInterrupted(message, step, signal_name)


def _first_batch(batches, config):
    """Reads one batch before compiling, so an empty dataset fails first."""
    batch = next(batches, None)
    if batch is None:
        raise ValueError(
            f"The dataset {config.data.name!r} ({config.data.source}, split "
            f"{config.data.split!r}) is empty: there is nothing to train on. "
            "Check --config.data.split and the source's files.")
    return itertools.chain([batch], batches)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: epath.PathLike) -> dict[str, float]:
    """Trains (or resumes) the GAN of `config` in `workdir`.

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
    gan_spec.build(config)  # Every check, before any work and any file.
    experiment.use_compilation_cache(config)
    dataset, sample_shape = experiment.load_dataset(config)

    workdir = epath.Path(workdir)
    changed = run_dir.check_resumable(workdir, config, sample_shape)
    if changed:
        logging.warning("Resuming with a config that differs from the saved one "
                        "in fields that change no shape (saved -> now): %s",
                        "; ".join(changed))
    workdir.mkdir(parents=True, exist_ok=True)

    init_key, train_key, eval_key = experiment.run_keys(config.seed)
    mesh = parallel.create_mesh()
    fresh = jax.device_put(experiment.create_state(config, sample_shape, init_key),
                           parallel.replicated(mesh))
    manager = checkpoint.create_manager(
        workdir, save_every=config.train.checkpoint_every,
        max_to_keep=config.train.max_checkpoints)
    try:
        state, start_step = checkpoint.restore_latest(manager, fresh,
                                                      set_aside_unreadable=True)
        if start_step:
            logging.info("Resuming from the checkpoint at step %d.", start_step)
            # The config's learning rates apply, not the ones saved.
            state = experiment.adopt_hyperparameters(state, fresh)
        if jax.process_index() == 0:
            run_dir.write_config(workdir, config, start_step=start_step)
            run_dir.write_data_spec(workdir, run_dir.DataSpec(
                sample_shape, config.model.num_classes or None))
        return _train(config, workdir, dataset, state, start_step, manager, mesh,
                      (train_key, eval_key))
    finally:
        # An asynchronous save in flight completes, whatever stopped the run.
        manager.wait_until_finished()
        manager.close()


def _train(config, workdir, dataset, state, start_step, manager, mesh, keys):
    train_key, eval_key = keys
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
    num_steps = config.train.num_steps

    [host_batches] = input_pipeline.seeded_streams(
        dataset, config.data, n_critic=config.optim.n_critic, seeds=[config.seed],
        start_step=start_step)
    batches = _first_batch(
        input_pipeline.prefetch_to_device(host_batches, batch_sharding), config)

    reference = None
    if config.data.source != "toy":
        reference = evaluator.prepare_reference(config, dataset)

    # Numbers that change no shape are arguments of the compiled programs, not
    # constants in them, so a run that changes only them reuses the compiled
    # programs from the persistent cache (README, "Compile once").
    numeric = jax.device_put(experiment.numeric_hyperparameters(config), replicated)
    programs = _Programs(config, state, _example_batch(
        dataset, config.data.batch_size, config.optim.n_critic), train_key,
        numeric, mesh)
    accumulated = programs.empty_metrics(mesh)
    health = jax.device_put(programs.initial_health(start_step), replicated)
    check_health = _HealthCheck(config, manager, programs.health_names, start_step)
    regularizer_metrics = {}

    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0)
    report_progress = periodic_actions.ReportProgress(
        num_train_steps=num_steps, writer=writer,
        every_steps=config.train.log_every)
    run_start = time.time()
    multi_process = jax.process_count() > 1
    with metric_writers.ensure_flushes(writer):
        # Only the loop: once it is done the final checkpoint exists, and a
        # signal during the final evaluation has its usual effect.
        with preemption.watch(enabled=not multi_process) as stop:
            logging.info("Training from step %d to step %d.", start_step, num_steps)
            for step in range(start_step + 1, num_steps + 1):
                with jax.profiler.StepTraceAnnotation("train", step_num=step):
                    batch = next(batches)
                    state, accumulated, health = programs.step(
                        state, accumulated, health, batch, train_key, numeric)
                    if (programs.regularizer is not None
                            and step % config.penalty.lazy_interval == 0):
                        state, regularizer_metrics, health = programs.regularizer(
                            state, health, batch, train_key, numeric)
                report_progress(step)
                preempted = multi_process and manager.reached_preemption(step)
                if stop.requested() or preempted:
                    check_health(health, step, end_of_window=False)
                    _save_and_stop(manager, step, state,
                                   stop.signal_name or "SIGTERM")
                last = step == num_steps
                log_due = step % config.train.log_every == 0 or last
                save_due = step % config.train.checkpoint_every == 0 or last
                if log_due or save_due:
                    skipped = check_health(health, step, end_of_window=log_due)
                if log_due:
                    scalars = {k: float(v) for k, v in accumulated.compute().items()}
                    # The lazy phase's latest values (it runs every few steps).
                    scalars.update(
                        {k: float(v) for k, v in regularizer_metrics.items()})
                    if config.train.on_nonfinite == "skip":
                        scalars["skipped_updates"] = float(skipped)
                    writer.write_scalars(
                        step, {f"train/{k}": v for k, v in scalars.items()})
                    accumulated = programs.empty_metrics(mesh)
                if step % config.train.eval_every == 0 and not last:
                    _write_evaluation(
                        writer, workdir,
                        evaluator.evaluate(state, eval_key, config, step, reference),
                        step)
                if save_due:
                    checkpoint.save(manager, step, state, force=last)
        manager.wait_until_finished()

        final_step = max(start_step, num_steps)
        result = evaluator.evaluate(state, eval_key, config, final_step, reference)
        _write_evaluation(writer, workdir, result, final_step)
        if config.data.source != "toy":
            _write_final_pictures(
                writer, workdir, evaluator.evaluation_state(state, eval_key, config),
                eval_key, config, final_step)
    final = dict(result.scalars, step=float(final_step),
                 wall_seconds=time.time() - run_start)
    if jax.process_index() == 0:
        (workdir / run_dir.FINAL_METRICS_FILE).write_text(
            json.dumps(final, indent=2) + "\n")
    logging.info("Final metrics: %s", final)
    return final
