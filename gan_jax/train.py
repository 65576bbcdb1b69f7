"""The training loop: the only place that owns a clock, a loop or a file.

`train_and_evaluate(config, workdir)` builds the mesh, data, models and state,
resumes from the newest checkpoint in `workdir`, and runs the jit-compiled
`steps.train_step`, writing metrics and images through clu's metric writers,
checkpoints through orbax and, at the end, `final_metrics.json` (the files are
listed in `gan_jax.run_dir`).
"""

import json
import time

from absl import logging
from clu import metric_writers
from clu import metrics as clu_metrics
from clu import periodic_actions
from etils import epath
import jax
import ml_collections
import numpy as np

from gan_jax import checkpoint
from gan_jax import evaluator
from gan_jax import experiment
from gan_jax import parallel
from gan_jax import run_dir
from gan_jax import visualize
from gan_jax.data import input_pipeline

def _example_batch(dataset, batch_size: int, n_critic: int):
    """Shapes and dtypes of one train-step batch, from the element spec."""
    return {name: jax.ShapeDtypeStruct((n_critic, batch_size, *spec.shape),
                                       spec.dtype.as_numpy_dtype)
            for name, spec in dataset.element_spec.items()}


def _raise_if_not_finite(scalars: dict[str, float], step: int) -> None:
    bad = sorted(name for name, value in scalars.items() if not np.isfinite(value))
    if bad:
        raise FloatingPointError(
            f"Training diverged: {', '.join(bad)} became non-finite at or before "
            f"step {step}. No checkpoint was written after the last finite one; "
            "lower the learning rates or add a penalty, then rerun to resume.")


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


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: epath.PathLike) -> dict[str, float]:
    """Trains (or resumes) the GAN of `config` in `workdir`.

    Returns:
      The final evaluation metrics, also written to `<workdir>/final_metrics.json`.
    """
    experiment.validate_config(config)
    experiment.use_compilation_cache(config)
    dataset, sample_shape = experiment.load_dataset(config)

    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
        run_dir.write_config(workdir, config)
        run_dir.write_data_spec(workdir, run_dir.DataSpec(
            sample_shape, config.model.num_classes or None))

    init_key, train_key, eval_key = experiment.run_keys(config.seed)
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)

    state = jax.device_put(experiment.create_state(config, sample_shape, init_key),
                           replicated)
    manager = checkpoint.create_manager(
        workdir, save_every=config.train.checkpoint_every,
        max_to_keep=config.train.max_checkpoints)
    state, start_step = checkpoint.restore_latest(manager, state)
    num_steps = config.train.num_steps
    if start_step:
        logging.info("Resuming from the checkpoint at step %d.", start_step)

    [host_batches] = input_pipeline.seeded_streams(
        dataset, config.data, n_critic=config.optim.n_critic, seeds=[config.seed],
        start_step=start_step)
    batches = input_pipeline.prefetch_to_device(host_batches, batch_sharding)

    reference = None
    if config.data.source != "toy":
        reference = evaluator.prepare_reference(config, dataset)

    # Numbers that change no shape are arguments of the compiled programs, not
    # constants in them, so a run that changes only them reuses the compiled
    # programs from the persistent cache (README, "Compile once").
    numeric = jax.device_put(experiment.numeric_hyperparameters(config), replicated)
    example_batch = _example_batch(dataset, config.data.batch_size,
                                   config.optim.n_critic)

    def train_step(state, batch, key, numeric):
        return experiment.make_train_step(
            config, penalty_weight=numeric["penalty.weight"],
            label_smoothing=numeric["loss.label_smoothing"])(state, batch, key)

    metric_names = jax.eval_shape(train_step, state, example_batch, train_key,
                                  numeric)[1]
    train_metrics_cls = clu_metrics.Collection.create(
        **{name: clu_metrics.Average.from_output(name) for name in metric_names})

    def step_and_accumulate(state, accumulated, batch, key, numeric):
        state, step_metrics = train_step(state, batch, key, numeric)
        return state, accumulated.merge(
            train_metrics_cls.single_from_model_output(**step_metrics))

    accumulated = jax.device_put(train_metrics_cls.empty(), replicated)
    compile_start = time.time()
    compiled_step = jax.jit(
        step_and_accumulate,
        in_shardings=(replicated, replicated, batch_sharding, replicated, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=(0, 1)).lower(
            state, accumulated, example_batch, train_key, numeric).compile()

    # The lazy regulariser is its own compiled phase (Karras et al. 2020): a
    # whole program every `lazy_interval` steps, none in between.
    compiled_regularizer = None
    if experiment.make_regularizer_step(config) is not None:
        def regularizer_step(state, batch, key, numeric):
            return experiment.make_regularizer_step(
                config, penalty_weight=numeric["penalty.weight"])(state, batch, key)
        compiled_regularizer = jax.jit(
            regularizer_step,
            in_shardings=(replicated, batch_sharding, replicated, replicated),
            out_shardings=(replicated, replicated), donate_argnums=(0,)).lower(
                state, example_batch, train_key, numeric).compile()
    logging.info("Compiled the training programs in %.1f s.",
                 time.time() - compile_start)
    regularizer_metrics = {}

    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0)
    report_progress = periodic_actions.ReportProgress(
        num_train_steps=num_steps, writer=writer,
        every_steps=config.train.log_every)
    run_start = time.time()
    with metric_writers.ensure_flushes(writer):
        for step in range(start_step + 1, num_steps + 1):
            with jax.profiler.StepTraceAnnotation("train", step_num=step):
                batch = next(batches, None)
                if batch is None:
                    raise ValueError(
                        f"The dataset {config.data.name!r} ran out of batches at "
                        f"step {step}: it has fewer than batch_size * n_critic = "
                        f"{config.data.batch_size * config.optim.n_critic} examples.")
                state, accumulated = compiled_step(state, accumulated, batch,
                                                   train_key, numeric)
                if (compiled_regularizer is not None
                        and step % config.penalty.lazy_interval == 0):
                    state, regularizer_metrics = compiled_regularizer(
                        state, batch, train_key, numeric)
            report_progress(step)
            last = step == num_steps
            log_due = step % config.train.log_every == 0 or last
            save_due = step % config.train.checkpoint_every == 0 or last
            if log_due or save_due:
                scalars = {k: float(v) for k, v in accumulated.compute().items()}
                # The lazy phase's latest values (it runs every few steps).
                scalars.update({k: float(v) for k, v in regularizer_metrics.items()})
                _raise_if_not_finite(scalars, step)
            if log_due:
                writer.write_scalars(step, {f"train/{k}": v for k, v in scalars.items()})
                accumulated = jax.device_put(train_metrics_cls.empty(), replicated)
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
