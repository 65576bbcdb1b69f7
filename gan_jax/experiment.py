"""From a config to the pieces of an experiment: optimizers, state, train step.

Shared by every job that needs them (training, sampling, evaluation), so that
a checkpoint written by one is restored by another into the same structure.
"""

import functools

import ml_collections
import optax

from gan_jax import models
from gan_jax import objectives as objectives_lib
from gan_jax import steps
from gan_jax.metrics import features
from gan_jax.metrics import suite
from gan_jax.state import GANState, create_gan_state


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Fails with the fix before any work when the config cannot train."""
    if config.optim.n_critic < 1:
        raise ValueError(f"config.optim.n_critic={config.optim.n_critic} must be at "
                         "least 1 (discriminator updates per generator update).")
    if not 0.0 <= config.optim.ema_decay < 1.0:
        raise ValueError(f"config.optim.ema_decay={config.optim.ema_decay} must be in "
                         "[0, 1); 0 disables the EMA.")
    if config.model.name not in models.MODELS:
        raise ValueError(f"Unknown model {config.model.name!r}. Valid models: "
                         f"{', '.join(sorted(models.MODELS))}. Set --config.model.name.")
    if config.eval.features != "none" and config.eval.features not in features.EXTRACTORS:
        raise ValueError(f"Unknown feature extractor {config.eval.features!r}. "
                         f"Valid: none, {', '.join(sorted(features.EXTRACTORS))}. "
                         "Set --config.eval.features.")
    suite.check_metrics(config.eval.metrics)
    # Building the objectives validates the loss and penalty names and options.
    objectives_lib.create(config)


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
