"""The training loop: the only place that owns a clock, a loop or a file.

`train_and_evaluate(config, workdir)` builds the mesh, data, models and state,
resumes from the newest checkpoint in `workdir`, and runs the jit-compiled
`steps.train_step`, writing metrics and images through clu's metric writers,
checkpoints through orbax and, at the end, `final_metrics.json`.
"""

import functools
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
import numpy as np
import optax

from gan_jax import checkpoint
from gan_jax import evaluator
from gan_jax import models
from gan_jax import objectives as objectives_lib
from gan_jax import parallel
from gan_jax import steps
from gan_jax import visualize
from gan_jax.data import input_pipeline
from gan_jax.state import GANState, create_gan_state

FINAL_METRICS_FILE = "final_metrics.json"

# Fixed stream indices under the config seed, so that adding a new consumer of
# randomness never changes the numbers drawn by the existing ones.
_INIT_STREAM, _TRAIN_STREAM, _EVAL_STREAM = 0, 1, 2


def create_optimizer(lr: float, b1: float, b2: float, *, schedule: str,
                     num_updates: int) -> optax.GradientTransformation:
    """Adam with a constant or linearly decaying learning rate."""
    if schedule == "constant":
        learning_rate = lr
    elif schedule == "linear":
        learning_rate = optax.linear_schedule(lr, 0.0, max(num_updates, 1))
    else:
        raise ValueError(f"Unknown learning-rate schedule {schedule!r}. Valid "
                         "schedules: constant, linear. Set --config.optim.schedule.")
    return optax.adam(learning_rate, b1=b1, b2=b2)


def create_state(config: ml_collections.ConfigDict, sample_shape, key) -> GANState:
    """A freshly initialised `GANState` for `config`."""
    generator, discriminator = models.create(config.model, sample_shape)
    optim, num_steps = config.optim, config.train.num_steps
    return create_gan_state(
        key, generator, discriminator,
        latent_dim=config.model.latent_dim, sample_shape=sample_shape,
        generator_tx=create_optimizer(optim.g_lr, optim.g_b1, optim.g_b2,
                                      schedule=optim.schedule,
                                      num_updates=num_steps),
        discriminator_tx=create_optimizer(optim.d_lr, optim.d_b1, optim.d_b2,
                                          schedule=optim.schedule,
                                          num_updates=num_steps * optim.n_critic))


def make_train_step(config: ml_collections.ConfigDict):
    """`train_step(state, batch, key)` with the config's objectives bound."""
    objectives = objectives_lib.create(config)
    latent_dim = config.model.latent_dim
    return functools.partial(
        steps.train_step,
        discriminator_step_fn=functools.partial(
            steps.discriminator_step, objectives=objectives, latent_dim=latent_dim,
            weight_clip=float(config.optim.d_weight_clip)),
        generator_step_fn=functools.partial(
            steps.generator_step, objectives=objectives, latent_dim=latent_dim,
            ema_decay=float(config.optim.ema_decay)))


def _check_config(config: ml_collections.ConfigDict) -> None:
    if config.optim.n_critic < 1:
        raise ValueError(f"config.optim.n_critic={config.optim.n_critic} must be at "
                         "least 1 (discriminator updates per generator update).")
    if not 0.0 <= config.optim.ema_decay < 1.0:
        raise ValueError(f"config.optim.ema_decay={config.optim.ema_decay} must be in "
                         "[0, 1); 0 disables the EMA.")
    # Building the objectives validates the loss and penalty names and options.
    objectives_lib.create(config)


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
            visualize.save_png(image, workdir / "samples" / f"{name}_{step:07d}.png")


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: epath.PathLike) -> dict[str, float]:
    """Trains (or resumes) the GAN of `config` in `workdir`.

    Returns:
      The final evaluation metrics, also written to `<workdir>/final_metrics.json`.
    """
    _check_config(config)
    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
        (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))

    root_key = jax.random.key(config.seed)
    init_key, train_key, eval_key = (jax.random.fold_in(root_key, i) for i in
                                     (_INIT_STREAM, _TRAIN_STREAM, _EVAL_STREAM))
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)

    dataset = input_pipeline.load(config.data)
    sample_shape = input_pipeline.sample_shape(dataset)
    state = jax.device_put(create_state(config, sample_shape, init_key), replicated)
    manager = checkpoint.create_manager(
        workdir, save_every=config.train.checkpoint_every,
        max_to_keep=config.train.max_checkpoints)
    state, start_step = checkpoint.restore_latest(manager, state)
    num_steps = config.train.num_steps
    if start_step:
        logging.info("Resuming from the checkpoint at step %d.", start_step)

    batches = input_pipeline.prefetch_to_device(
        input_pipeline.train_batches(
            dataset, batch_size=config.data.batch_size,
            n_critic=config.optim.n_critic, seed=config.seed,
            start_step=start_step, shuffle_buffer=config.data.shuffle_buffer),
        batch_sharding)

    train_step = make_train_step(config)
    example_batch = {"x": jax.ShapeDtypeStruct(
        (config.optim.n_critic, config.data.batch_size, *sample_shape), jnp.float32)}
    metric_names = jax.eval_shape(train_step, state, example_batch, train_key)[1]
    train_metrics_cls = clu_metrics.Collection.create(
        **{name: clu_metrics.Average.from_output(name) for name in metric_names})

    def step_and_accumulate(state, accumulated, batch, key):
        state, step_metrics = train_step(state, batch, key)
        return state, accumulated.merge(
            train_metrics_cls.single_from_model_output(**step_metrics))

    compiled_step = jax.jit(
        step_and_accumulate,
        in_shardings=(replicated, replicated, batch_sharding, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=(0, 1))

    writer = metric_writers.create_default_writer(
        workdir, just_logging=jax.process_index() > 0)
    report_progress = periodic_actions.ReportProgress(
        num_train_steps=num_steps, writer=writer,
        every_steps=config.train.log_every)
    accumulated = jax.device_put(train_metrics_cls.empty(), replicated)
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
                state, accumulated = compiled_step(state, accumulated, batch, train_key)
            report_progress(step)
            last = step == num_steps
            log_due = step % config.train.log_every == 0 or last
            save_due = step % config.train.checkpoint_every == 0 or last
            if log_due or save_due:
                scalars = {k: float(v) for k, v in accumulated.compute().items()}
                _raise_if_not_finite(scalars, step)
            if log_due:
                writer.write_scalars(step, {f"train/{k}": v for k, v in scalars.items()})
                accumulated = jax.device_put(train_metrics_cls.empty(), replicated)
            if step % config.train.eval_every == 0 and not last:
                _write_evaluation(writer, workdir,
                                  evaluator.evaluate(state, eval_key, config, step),
                                  step)
            if save_due:
                checkpoint.save(manager, step, state, force=last)
        manager.wait_until_finished()

        final_step = max(start_step, num_steps)
        result = evaluator.evaluate(state, eval_key, config, final_step)
        _write_evaluation(writer, workdir, result, final_step)
    final = dict(result.scalars, step=float(final_step),
                 wall_seconds=time.time() - run_start)
    if jax.process_index() == 0:
        (workdir / FINAL_METRICS_FILE).write_text(json.dumps(final, indent=2) + "\n")
    logging.info("Final metrics: %s", final)
    return final
