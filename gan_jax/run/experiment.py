"""From a run's spec to the pieces of an experiment: optimizers, state, train step.

Shared by every job that needs them (training, sampling, evaluation), so that
a checkpoint written by one is restored by another into the same structure.
Everything here reads the checked spec (gan_jax.run.gan_spec.build), never
the ConfigDict. No TensorFlow: the data is read by `gan_jax.run.gan_data`.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gan_jax import models
from gan_jax.game import objectives as objectives_lib
from gan_jax.game import steps
from gan_jax.game.state import create_gan_state
from gan_jax.game.state import GANState
from gan_jax.run import gan_spec
from gan_jax.tricks import options as tricks_options
from gan_jax.tricks import packing


class RunKeys(NamedTuple):
    """The independent random streams of a run, all derived from its seed."""
    init: jax.Array
    train: jax.Array
    eval: jax.Array


def run_keys(seed: int) -> RunKeys:
    """Keys for parameter init, training (data-independent draws) and evaluation.

    Fixed stream indices under the seed, so that adding a new consumer of
    randomness never changes the numbers drawn by the existing ones.
    """
    root = jax.random.key(seed)
    return RunKeys(*(jax.random.fold_in(root, stream) for stream in range(3)))


def _frozen_labels(frozen: tuple[str, ...], params) -> dict[str, str]:
    # A prefix of the parameter tree: one label per top-level layer.
    return {name: "frozen" if name in frozen else "trained" for name in params}


def _adam(learning_rate, b1, b2, schedule, num_updates, frozen):
    if schedule == "linear":
        learning_rate = optax.linear_schedule(learning_rate, 0.0, max(num_updates, 1))
    adam = optax.adam(learning_rate, b1=b1, b2=b2)
    if not frozen:
        return adam
    return optax.multi_transform(
        {"trained": adam, "frozen": optax.set_to_zero()},
        functools.partial(_frozen_labels, frozen))


def create_optimizer(lr: float, b1: float, b2: float, *, schedule: str,
                     num_updates: int, frozen: tuple[str, ...] = ()
                     ) -> optax.GradientTransformation:
    """Adam with a constant or linearly decaying learning rate.

    The peak rate is an array in the optimizer state
    (`opt_state.hyperparams["learning_rate"]`), not a constant of the compiled
    program, so runs that differ only in it can share one program
    (`gan_jax.sweep` batches them with `vmap`). The betas stay Python
    floats: as arrays, `1 - b2` would round differently in float32.

    `frozen` names top-level layers that never move (FreezeD): their updates
    are zero and Adam keeps no moments for them (`optax.multi_transform`).
    """
    if schedule not in ("constant", "linear"):
        raise ValueError(f"Unknown learning-rate schedule {schedule!r}. Valid "
                         "schedules: constant, linear. Set --config.optim.schedule.")
    return optax.inject_hyperparams(
        _adam, static_args=("b1", "b2", "schedule", "num_updates", "frozen"))(
            learning_rate=lr, b1=b1, b2=b2, schedule=schedule,
            num_updates=num_updates, frozen=tuple(frozen))


def create_state(spec: gan_spec.GanSpec, sample_shape, key) -> GANState:
    """A freshly initialised `GANState` for the run of `spec`."""
    tricks = spec.tricks
    model_options = {"aux_outputs": tricks.aux_outputs} if tricks.aux_outputs else {}
    generator, discriminator = models.create(spec.model, sample_shape,
                                             **model_options)
    optim, num_steps = spec.optim, spec.train.num_steps
    d_updates = num_steps * optim.n_critic
    lazy_interval = spec.penalty.lazy_interval
    if lazy_interval > 1:
        d_updates += num_steps // lazy_interval
    g_updates = num_steps + sum(
        num_steps // trick.regularizer_interval(tricks)
        for trick in tricks.with_hook("generator_regularizer"))
    return create_gan_state(
        key, generator, discriminator,
        latent_dim=spec.model.latent_dim, sample_shape=sample_shape,
        generator_tx=create_optimizer(optim.g_lr, optim.g_b1, optim.g_b2,
                                      schedule=optim.schedule,
                                      num_updates=g_updates),
        discriminator_tx=create_optimizer(
            optim.d_lr, optim.d_b1, optim.d_b2, schedule=optim.schedule,
            num_updates=d_updates, frozen=models.frozen_discriminator_params(
                discriminator, optim.freeze_d_blocks, "config.optim.freeze_d_blocks")),
        discriminator_input_shape=packing.packed_shape(sample_shape, tricks.pack),
        tricks=tricks_options.initial_state(tricks))


def adopt_hyperparameters(restored: GANState, fresh: GANState) -> GANState:
    """`restored` with the optimizers' injected hyperparameters (the learning
    rates) of `fresh`, so that a resumed run follows its current config."""
    def adopt(restored_net, fresh_net):
        opt_state = restored_net.opt_state._replace(
            hyperparams=fresh_net.opt_state.hyperparams)
        return restored_net.replace(opt_state=opt_state)
    return restored.replace(
        generator=adopt(restored.generator, fresh.generator),
        discriminator=adopt(restored.discriminator, fresh.discriminator))


def numeric_hyperparameters(spec: gan_spec.GanSpec) -> dict[str, jax.Array]:
    """The numbers the trainer passes to its compiled programs as arguments
    (the learning rates are arrays in the optimizer state already)."""
    return {"penalty.weight": jnp.float32(spec.penalty.weight),
            "loss.label_smoothing": jnp.float32(spec.loss.label_smoothing)}


def make_train_step(spec: gan_spec.GanSpec, *, penalty_weight=None,
                    label_smoothing=None):
    """`train_step(state, batch, key)` with the spec's objectives bound.

    `penalty_weight` and `label_smoothing` override the spec's values and may
    be traced (see `objectives.create`): the tasks pass them as arguments of
    the compiled program, so the objectives are built inside its trace.
    """
    objectives = objectives_lib.create(spec, penalty_weight=penalty_weight,
                                       label_smoothing=label_smoothing)
    latent_dim = spec.model.latent_dim
    share_fakes_fn = None
    if spec.train.generator_reuses_fakes:
        share_fakes_fn = functools.partial(
            steps.share_fakes, latent_dim=latent_dim,
            categories=objectives.options.latent_categories)
    return functools.partial(
        steps.train_step, share_fakes_fn=share_fakes_fn,
        simultaneous=spec.optim.simultaneous,
        discriminator_step_fn=functools.partial(
            steps.discriminator_step, objectives=objectives, latent_dim=latent_dim,
            weight_clip=float(spec.optim.d_weight_clip)),
        generator_step_fn=functools.partial(
            steps.generator_step, objectives=objectives, latent_dim=latent_dim,
            ema_decay=float(spec.optim.ema_decay),
            ema_start=int(spec.optim.ema_start),
            ema_rampup=float(spec.optim.ema_rampup)))


def generator_regularizers(spec: gan_spec.GanSpec):
    """`(trick, step(state, batch, key))` for each active trick with a
    generator regulariser phase; the loop runs each after every
    `trick.regularizer_interval(spec.tricks)`-th train step."""
    return [(trick, functools.partial(
                steps.generator_regularizer_step, trick=trick, options=spec.tricks,
                latent_dim=spec.model.latent_dim))
            for trick in spec.tricks.with_hook("generator_regularizer")]


def make_regularizer_step(spec: gan_spec.GanSpec, *, penalty_weight=None):
    """The lazy penalty phase `step(state, batch, key)`, or None when the
    penalty is applied in every discriminator step (`penalty.lazy_interval`
    is 1). The loop runs it after every `lazy_interval`-th train step."""
    if spec.penalty.lazy_interval == 1:
        return None
    objectives = objectives_lib.create(spec, penalty_weight=penalty_weight)
    return functools.partial(steps.regularizer_step, objectives=objectives,
                             latent_dim=spec.model.latent_dim)
