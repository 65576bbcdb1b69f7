"""The image-to-image loop: `train_and_evaluate(config, workdir)`.

The same contract as `gan_jax.train` (README, "When things go wrong"): a bad
config stops before any work, a workdir holding an incompatible run is
refused, SIGTERM/SIGINT saves the current step, a non-finite metric stops the
run before it can reach a checkpoint, and the run ends with
`final_metrics.json`. Each phase (SRGAN's pre-training, the adversarial step)
is compiled once, with donated state; metrics are summed on the device and
fetched only when logged or saved.
"""

import functools
import json
import math
import time

from absl import logging
from clu import metric_writers
from clu import periodic_actions
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import checkpoint
from gan_jax import compile_options
from gan_jax import divergence
from gan_jax import experiment as gan_experiment
from gan_jax import parallel
from gan_jax import preemption
from gan_jax import run_dir
from gan_jax import visualize
from gan_jax.data import input_pipeline
from gan_jax.spec import translation as translation_spec
from gan_jax.translation import evaluation
from gan_jax.translation import experiment


class _Phase:
    """One compiled phase and the sums of its metrics since the last log."""

    def __init__(self, step_fn, state, example_batch, key, mesh):
        replicated = parallel.replicated(mesh)
        batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
        # One trace for the metric names and the compiled program (JAX reuses
        # a jitted function's trace for the same shapes).
        step_fn = jax.jit(step_fn)
        names = jax.eval_shape(step_fn, state, example_batch, key)[1]

        def step_and_sum(state, sums, batch, key):
            state, metrics = step_fn(state, batch, key)
            return state, jax.tree.map(jnp.add, sums, metrics)

        self._zeros = {name: np.zeros((), np.float32) for name in names}
        self._replicated = replicated
        self.sums, self.count = self.reset(), 0
        self._compiled = jax.jit(
            step_and_sum, in_shardings=(replicated, replicated, batch_sharding,
                                        replicated),
            out_shardings=(replicated, replicated),
            donate_argnums=(0, 1),
            compiler_options=compile_options.for_training()).lower(
                state, self.sums, example_batch, key).compile()

    def reset(self):
        return jax.device_put(dict(self._zeros), self._replicated)

    def __call__(self, state, batch, key):
        state, self.sums = self._compiled(state, self.sums, batch, key)
        self.count += 1
        return state

    def fetch(self) -> dict[str, float]:
        """The window's means (nothing when the phase did not run)."""
        if not self.count:
            return {}
        means = {name: float(value) / self.count
                 for name, value in jax.device_get(self.sums).items()}
        self.sums, self.count = self.reset(), 0
        return means


def _check_finite(metrics: dict[str, float], step: int, manager) -> None:
    culprits = tuple(sorted(name for name, value in metrics.items()
                            if not math.isfinite(value)))
    if culprits:
        manager.wait_until_finished()
        message = divergence.diverged_message(
            step, culprits, checked_at=step, last_checkpoint=manager.latest_step(),
            checkpoint_dir=str(manager.directory), skipped=False)
        raise divergence.TrainingDiverged(message, step, culprits)


def _state_layout(config, example_batch):
    abstract = jax.eval_shape(lambda key: experiment.create_state(
        config, example_batch, key), jax.random.key(0))
    return [(jax.tree_util.keystr(path), leaf.shape, leaf.dtype)
            for path, leaf in jax.tree_util.tree_flatten_with_path(abstract)[0]]


class _Evaluator:
    """The held-out measures, computed batch by batch with one jitted program."""

    def __init__(self, config):
        self._images = experiment.held_out_images(config)
        self._batch_size = config.eval.batch_size
        self._strip_examples = config.eval.strip_examples
        self._pair_halves = config.task.pairing == "colourise"
        self._two_domains = config.task.name == "cyclegan"
        make_examples = experiment.make_examples_fn(config)
        measure = functools.partial(
            evaluation.measure, task=config.task.name,
            pairing=config.task.pairing, upscale=config.task.upscale)
        self._measure = jax.jit(lambda state, batch: measure(
            state, make_examples(batch)))

    def __call__(self, state) -> tuple[dict[str, float], np.ndarray]:
        values, strips = {}, []
        for start in range(0, len(self._images["x"]), self._batch_size):
            batch = {name: images[start:start + self._batch_size]
                     for name, images in self._images.items()}
            if self._pair_halves:
                # Both halves show the same digits: B is A's ground truth.
                batch = {"x": np.concatenate([batch["x"], batch["x"]])}
            measured, rows = jax.device_get(self._measure(state, batch))
            for name, per_image in measured.items():
                values.setdefault(name, []).append(per_image)
            strips.append(rows)
        scalars = {name: float(np.mean(np.concatenate(parts)))
                   for name, parts in values.items()}
        rows, k = strips[0], self._strip_examples
        if self._two_domains:  # A's rows, then B's.
            half = len(rows) // 2
            rows = np.concatenate([rows[:min(k, half)], rows[half:half + k]])
        return scalars, evaluation.strip(rows if self._two_domains else rows[:k])


def _write_evaluation(writer, workdir, evaluate, state, step) -> dict[str, float]:
    scalars, picture = evaluate(state)
    writer.write_scalars(step, {f"eval/{k}": v for k, v in scalars.items()})
    writer.write_images(step, {"eval/strip": picture[None]})
    if jax.process_index() == 0:
        visualize.save_png(picture, workdir / run_dir.SAMPLES_DIR /
                           f"strip_{step:07d}.png")
    logging.info("Evaluation at step %d: %s", step,
                 ", ".join(f"{k} {v:.4g}" for k, v in sorted(scalars.items())))
    return scalars


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: epath.PathLike) -> dict[str, float]:
    """Trains (or resumes) the pix2pix, CycleGAN or SRGAN run of `config`.

    Returns the final held-out measures, also in `final_metrics.json`.
    Raises as `gan_jax.train.train_and_evaluate` does.
    """
    translation_spec.build(config)  # Every check, before any work and any file.
    experiment.use_compilation_cache(config)
    datasets = experiment.load_images(config)
    example_batch = {
        name: jax.ShapeDtypeStruct((1, config.data.batch_size,
                                    *input_pipeline.sample_shape(dataset)),
                                   jnp.float32)
        for name, dataset in datasets.items()}
    workdir = epath.Path(workdir)
    layout = functools.partial(_state_layout, example_batch=example_batch)
    changed = run_dir.check_resumable(workdir, config, None, layout=layout)
    if changed:
        logging.warning("Resuming with a config that differs from the saved one "
                        "in fields that change no shape: %s", "; ".join(changed))
    workdir.mkdir(parents=True, exist_ok=True)

    init_key, train_key, _ = gan_experiment.run_keys(config.seed)
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    fresh = jax.device_put(experiment.create_state(config, example_batch, init_key),
                           replicated)
    manager = checkpoint.create_manager(
        workdir, save_every=config.train.checkpoint_every,
        max_to_keep=config.train.max_checkpoints)
    try:
        state, start_step = checkpoint.restore_latest(manager, fresh,
                                                      set_aside_unreadable=True)
        if start_step:
            logging.info("Resuming from the checkpoint at step %d.", start_step)
        if jax.process_index() == 0:
            run_dir.write_config(workdir, config, start_step=start_step)
        return _train(config, workdir, datasets, example_batch, state, start_step,
                      manager, mesh, train_key)
    finally:
        manager.wait_until_finished()
        manager.close()


def _train(config, workdir, datasets, example_batch, state, start_step, manager,
           mesh, train_key):
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
    batches = input_pipeline.prefetch_to_device(
        experiment.train_batches(config, datasets, start_step), batch_sharding)
    compile_start = time.time()
    phases = {name: _Phase(fn, state, example_batch, train_key, mesh)
              for name, fn in experiment.phases(config).items()}
    logging.info("Compiled %s in %.1f s.", " and ".join(phases),
                 time.time() - compile_start)
    evaluate = _Evaluator(config)
    num_steps, pretrain_steps = config.train.num_steps, config.objective.pretrain_steps
    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0)
    report_progress = periodic_actions.ReportProgress(
        num_train_steps=num_steps, writer=writer, every_steps=config.train.log_every)
    run_start = time.time()
    with metric_writers.ensure_flushes(writer):
        if start_step == 0 and num_steps:
            # The untrained networks' measures: where "falls" starts from.
            _write_evaluation(writer, workdir, evaluate, state, 0)
        with preemption.watch(enabled=jax.process_count() == 1) as stop:
            logging.info("Training from step %d to step %d.", start_step, num_steps)
            for step in range(start_step + 1, num_steps + 1):
                phase = phases["pretrain" if step <= pretrain_steps else "train"]
                state = phase(state, next(batches), train_key)
                report_progress(step)
                last = step == num_steps
                log_due = step % config.train.log_every == 0 or last
                save_due = step % config.train.checkpoint_every == 0 or last
                if stop.requested() or log_due or save_due:
                    scalars = {}
                    for name, each in phases.items():
                        scalars.update({f"{name}/{k}" if name == "pretrain" else k: v
                                        for k, v in each.fetch().items()})
                    _check_finite(scalars, step, manager)
                    if scalars:
                        writer.write_scalars(
                            step, {f"train/{k}": v for k, v in scalars.items()})
                if stop.requested():
                    checkpoint.save(manager, step, state, force=True)
                    manager.wait_until_finished()
                    message = preemption.interrupted_message(
                        stop.signal_name or "SIGTERM", step, str(manager.directory))
                    raise preemption.TrainingInterrupted(
                        message, step, stop.signal_name or "SIGTERM")
                if step % config.train.eval_every == 0 and not last:
                    _write_evaluation(writer, workdir, evaluate, state, step)
                if save_due:
                    checkpoint.save(manager, step, state, force=last)
        manager.wait_until_finished()
        final_step = max(start_step, num_steps)
        result = _write_evaluation(writer, workdir, evaluate, state, final_step)
    final = dict(result, step=float(final_step), wall_seconds=time.time() - run_start)
    if jax.process_index() == 0:
        (workdir / run_dir.FINAL_METRICS_FILE).write_text(
            json.dumps(final, indent=2) + "\n")
    logging.info("Final metrics: %s", final)
    return final
