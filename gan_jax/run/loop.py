"""The training loop of every task: the only place that owns a clock or a loop.

A task (`gan_jax.run.task.Task`: a GAN, an image-to-image model, a sweep's
stacked members) says how to build its state, which compiled phases run at
which steps, what an evaluation measures and draws, and which files describe
its run. `run(task)` owns everything else, once:

  * the order of the checks, all before any file: config, data, workdir
    (a saved run resumes only with the same state layout), and the
    compilation cache set before anything compiles;
  * the mesh, the shardings and donation of every compiled phase;
  * the data stream, resumed at the checkpoint's step;
  * the on-device non-finite guard over the whole state pytree
    (`gan_jax.run.divergence`) and `train.on_nonfinite=skip`;
  * metric sums on the device, fetched only when logged, and the writers;
  * the progress line; SIGTERM/SIGINT and multi-host preemption, which save
    the current step and raise `preemption.TrainingInterrupted`;
  * checkpoints: resume from the newest readable one, never save a diverged
    state, set damaged ones aside;
  * the final evaluation and `final_metrics.json`.

Phases follow StyleGAN2-ADA's schedule: each is a whole compiled program that
runs after the train steps its `Phase` names (every step, every k-th step,
a range of steps), reading the same batch.
"""

import itertools
import json
import time

from absl import logging
from clu import metric_writers
from clu import periodic_actions
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import parallel
from gan_jax.data import input_pipeline
from gan_jax.run import checkpoint
from gan_jax.run import compile_options
from gan_jax.run import divergence
from gan_jax.run import preemption
from gan_jax.run import run_dir
from gan_jax.run.phase import Phase


class _CompiledPhase:
    """A phase compiled with its guard and metric sums, donating its state."""

    def __init__(self, phase: Phase, programs: "_Programs", metric_shapes):
        self.phase = phase
        self._programs = programs
        self.metric_names = tuple(metric_shapes)
        self._metric_shapes = metric_shapes

    def compile(self, state, health, batch, key, numeric):
        programs = self._programs
        step_fn = programs.jitted[self.phase.name]
        guard = programs.guard(count_step=self.phase.ends_step)

        def run_and_sum(state, sums, health, batch, key, numeric):
            new_state, metrics = step_fn(state, batch, key, numeric)
            new_state, health, applied = guard(state, new_state, metrics, health)
            totals, count = sums
            # A skipped update's metrics are non-finite: leave them out.
            totals = jax.tree.map(lambda t, m: jnp.where(applied, t + m, t),
                                  totals, metrics)
            return new_state, (totals, count + applied.astype(jnp.float32)), health

        replicated, batches = programs.replicated, programs.batch_sharding
        self._compiled = jax.jit(
            run_and_sum,
            in_shardings=(replicated, replicated, replicated, batches, replicated,
                          replicated),
            out_shardings=(replicated, replicated, replicated),
            donate_argnums=(0, 1, 2),
            compiler_options=compile_options.for_training()).lower(
                state, self.empty_sums(), health, batch, key, numeric).compile()
        self.sums = self.empty_sums()

    def empty_sums(self):
        zeros = jax.tree.map(lambda s: np.zeros(s.shape, np.float32),
                             self._metric_shapes)
        count = np.zeros(self._programs.member_shape, np.float32)
        return jax.device_put((zeros, count), self._programs.replicated)

    def __call__(self, state, health, batch, key, numeric):
        state, self.sums, health = self._compiled(state, self.sums, health, batch,
                                                  key, numeric)
        return state, health

    def fetch_means(self) -> dict[str, np.ndarray]:
        """The means since the last fetch (empty when the phase did not run)."""
        totals, count = jax.device_get(self.sums)
        self.sums = self.empty_sums()
        if not np.any(count):
            return {}
        with np.errstate(invalid="ignore", divide="ignore"):
            return {self.phase.log_prefix + name: total / count
                    for name, total in totals.items()}


class _Programs:
    """Every phase of a task, compiled once, and the health they share."""

    def __init__(self, task, state, example_batch, key, numeric, mesh):
        self.replicated = parallel.replicated(mesh)
        self.batch_sharding = parallel.batch_sharding(mesh, batch_axis=task.batch_axis)
        self.members = task.members
        self.member_shape = () if task.members is None else (task.members,)
        self._skip = task.spec.train.on_nonfinite == "skip"
        self._state_parts = task.state_parts
        # Jitted once here and called inside the compiled programs, so that
        # reading the metric names (eval_shape) and compiling share one trace.
        self.jitted = {phase.name: jax.jit(phase.step_fn) for phase in task.phases}
        self.phases = []
        for phase in task.phases:
            shapes = jax.eval_shape(self.jitted[phase.name], state, example_batch,
                                    key, numeric)[1]
            self.phases.append(_CompiledPhase(phase, self, shapes))
        part_names = tuple(task.state_parts(
            state if task.members is None else jax.tree.map(lambda x: x[0], state)))
        self.health_names = divergence.watched_names(
            *(p.metric_names for p in self.phases), part_names=part_names)
        health = self.initial_health(0)
        compile_start = time.time()
        for phase in self.phases:
            phase.compile(state, health, example_batch, key, numeric)
        logging.info("Compiled the training programs (%s) in %.1f s.", ", ".join(
            p.phase.name for p in self.phases), time.time() - compile_start)

    def guard(self, *, count_step: bool):
        def guard(old, new, metrics, health):
            return divergence.guard(old, new, metrics, health, self.health_names,
                                    parts=self._state_parts, skip=self._skip,
                                    count_step=count_step)
        # Stacked members: each member is guarded (and skipped) on its own.
        return guard if self.members is None else jax.vmap(guard)

    def initial_health(self, start_step: int) -> divergence.Health:
        health = divergence.initial(self.health_names, start_step)
        if self.members is not None:
            health = jax.tree.map(
                lambda x: np.broadcast_to(x, (self.members, *np.shape(x))).copy(),
                health)
        return jax.device_put(health, self.replicated)


class _HealthCheck:
    """Fetches `Health` at log and save times and stops a diverged run.

    Stacked members are never stopped: a sweep records which members
    diverged (`diverged_members`) and goes on with the others.
    """

    def __init__(self, task, manager, names, start_step: int):
        self._skip = task.spec.train.on_nonfinite == "skip"
        self._members = task.members is not None
        self._manager = manager
        self._names = names
        self._last_step, self._last_skipped = start_step, 0
        self.diverged_members = None

    def __call__(self, health: divergence.Health, step: int, *,
                 end_of_window: bool = True) -> int:
        """Raises `TrainingDiverged`; returns the updates skipped since the
        run (or its resume) started. Skipping stops the run only when a
        whole log window of updates was skipped (`end_of_window`)."""
        health = jax.device_get(health)
        if self._members:
            self.diverged_members = np.asarray(health.first_bad_step) >= 0
            return int(np.sum(health.skipped))
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


def _first_batch(batches, describe_data: str):
    """Reads one batch before compiling, so an empty dataset fails first."""
    batch = next(batches, None)
    if batch is None:
        raise ValueError(
            f"The dataset {describe_data} is empty: there is nothing to train "
            "on. Check --config.data.split and the source's files.")
    return itertools.chain([batch], batches)


def _save_and_stop(task, manager, step: int, state, signal_name: str):
    """Saves `state` at `step`, waits for it, and raises TrainingInterrupted."""
    checkpoint.save(manager, step, state, force=True)
    manager.wait_until_finished()
    task.after_save(step)
    message = preemption.interrupted_message(signal_name, step,
                                             str(manager.directory))
    logging.warning("%s", message)
    raise preemption.TrainingInterrupted(message, step, signal_name)


def run(task) -> dict[str, float | str] | None:
    """Trains (or resumes) `task` to `task.spec.train.num_steps`.

    The task's config is checked (`task.build_spec()`), its data read
    (`task.prepare()`) and its workdir checked (`task.check_workdir()`)
    before any file is written.

    Returns:
      The final evaluation's scalars with `step` and `wall_seconds`, and its
      labels (strings saying what was measured, e.g. "generator") (also in
      `<workdir>/final_metrics.json`), or what a task without a run
      directory's final metrics returns from `finish`.

    Raises:
      ValueError (and FileNotFoundError, RuntimeError from the data sources):
        the task cannot train, before any work; `run_dir.ConfigChanged` when
        the workdir holds a run that cannot resume.
      preemption.TrainingInterrupted: SIGTERM or SIGINT; a checkpoint of the
        current step was saved.
      divergence.TrainingDiverged: a non-finite value; the last good
        checkpoint is kept.
    """
    task.build_spec()
    # Before anything compiles: JAX reads the cache setting once.
    compile_options.use_compilation_cache(task.spec.train)
    task.prepare()
    task.check_workdir()
    task.workdir.mkdir(parents=True, exist_ok=True)
    mesh = parallel.create_mesh()
    fresh = jax.device_put(task.create_state(), parallel.replicated(mesh))
    train = task.spec.train
    manager = checkpoint.create_manager(
        task.checkpoint_root, save_every=train.checkpoint_every,
        max_to_keep=task.max_checkpoints)
    try:
        state, start_step = checkpoint.restore_latest(manager, fresh,
                                                      set_aside_unreadable=True)
        if start_step:
            logging.info("%sResuming from the checkpoint at step %d.",
                         task.log_label, start_step)
            state = task.adopt(state, fresh)
        else:
            # Only here: a run's own checkpoints always win over what it
            # started from (another run's weights, when fine-tuning).
            state = jax.device_put(task.initialize(fresh),
                                   parallel.replicated(mesh))
        task.start(start_step)
        if jax.process_index() == 0:
            task.write_run_files(start_step)
        return _train(task, state, start_step, manager, mesh)
    finally:
        # An asynchronous save in flight completes, whatever stopped the run.
        manager.wait_until_finished()
        manager.close()


def _train(task, state, start_step, manager, mesh):
    train = task.spec.train
    num_steps = train.num_steps
    replicated = parallel.replicated(mesh)
    batches = _first_batch(parallel_batches(task, start_step, mesh),
                           task.describe_data)
    # Numbers that change no shape are arguments of the compiled programs, not
    # constants in them, so a run that changes only them reuses the compiled
    # programs from the persistent cache (README, "Compile once").
    numeric = jax.device_put(task.numeric(), replicated)
    key = jax.device_put(task.train_key(), replicated)
    programs = _Programs(task, state, task.example_batch, key, numeric, mesh)
    health = programs.initial_health(start_step)
    check_health = _HealthCheck(task, manager, programs.health_names, start_step)
    skip = train.on_nonfinite == "skip"

    writer = task.create_writer()
    report_progress = periodic_actions.ReportProgress(
        num_train_steps=num_steps, writer=writer, every_steps=train.log_every)
    run_start = time.time()
    multi_process = jax.process_count() > 1
    with metric_writers.ensure_flushes(writer):
        if start_step == 0 and num_steps and task.evaluates_at_start:
            task.write_evaluation(writer, task.evaluate(state, 0, final=False), 0)
        # Only the loop: once it is done the final checkpoint exists, and a
        # signal during the final evaluation has its usual effect.
        with preemption.watch(enabled=not multi_process) as stop:
            logging.info("%sTraining from step %d to step %d.", task.log_label,
                         start_step, num_steps)
            for step in range(start_step + 1, num_steps + 1):
                with jax.profiler.StepTraceAnnotation("train", step_num=step):
                    batch = next(batches)
                    for phase in programs.phases:
                        if phase.phase.runs_at(step):
                            state, health = phase(state, health, batch, key, numeric)
                report_progress(step)
                preempted = multi_process and manager.reached_preemption(step)
                if stop.requested() or preempted:
                    check_health(health, step, end_of_window=False)
                    _save_and_stop(task, manager, step, state,
                                   stop.signal_name or "SIGTERM")
                last = step == num_steps
                log_due = step % train.log_every == 0 or last
                save_due = step % train.checkpoint_every == 0 or last
                if log_due or save_due:
                    skipped = check_health(health, step, end_of_window=log_due)
                if log_due:
                    means = {}
                    for phase in programs.phases:
                        means.update(phase.fetch_means())
                    if skip:
                        means["skipped_updates"] = np.float32(skipped)
                    task.write_train_metrics(writer, step, means,
                                             check_health.diverged_members)
                if step % train.eval_every == 0 and not last:
                    task.write_evaluation(
                        writer, task.evaluate(state, step, final=False), step)
                if save_due and checkpoint.save(manager, step, state, force=last):
                    task.after_save(step)
        manager.wait_until_finished()
        final_step = max(start_step, num_steps)
        result = task.finish(state, final_step, writer,
                             check_health.diverged_members)
    if result is None:
        return None
    final = dict(result, step=float(final_step), wall_seconds=time.time() - run_start)
    if jax.process_index() == 0:
        (task.workdir / run_dir.FINAL_METRICS_FILE).write_text(
            json.dumps(final, indent=2) + "\n")
    logging.info("Final metrics: %s", final)
    return final


def parallel_batches(task, start_step: int, mesh):
    """The task's host batches from `start_step`, as global device arrays."""
    return input_pipeline.prefetch_to_device(
        task.host_batches(start_step),
        parallel.batch_sharding(mesh, batch_axis=task.batch_axis))
