"""The discriminator and generator objectives of one GAN, built from the config.

An objective is a pure function of the parameters being optimised and of
arrays: `(params, ...) -> (loss, aux)`, where `aux` holds the updated BatchNorm
statistics and the scalar terms worth logging. The adversarial loss comes from
`gan_jax.losses`, the regulariser from `gan_jax.penalties`; this module only
composes them, in the spirit of StyleGAN2-ADA's separate loss phases.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import losses
from gan_jax import penalties
from gan_jax.state import NetworkState, apply_network


class Objectives(NamedTuple):
    """`discriminator(d_params, d_state, real, fake, key, labels)` and
    `generator(g_params, g_state, d_state, real, latents, labels)`; both return
    `(loss, {"batch_stats": ..., "metrics": {...}})`. `labels` is None for
    unconditional models; otherwise real and fake samples share the labels."""

    discriminator: Callable
    generator: Callable


def discriminator_objective(d_params, d_state: NetworkState, real, fake, key,
                            labels=None, *, loss: losses.GANLoss,
                            penalty: Callable, penalty_weight: float):
    """Adversarial loss on real and (fixed) fake samples plus a weighted penalty."""
    real_logits, batch_stats = apply_network(d_state, d_params, real,
                                             labels=labels, train=True)
    fake_logits, batch_stats = apply_network(
        d_state.replace(batch_stats=batch_stats), d_params, fake,
        labels=labels, train=True)
    adversarial = loss.discriminator(real_logits, fake_logits)

    # The penalty sees the critic with the statistics of this step, and its own
    # forward passes must not move the running statistics a second time.
    def critic_fn(x):
        return apply_network(d_state, d_params, x, labels=labels, train=True)[0]

    penalty_value = penalty(critic_fn, real, fake, key)
    total = adversarial + penalty_weight * penalty_value
    metrics = {
        "d_loss": total,
        "d_adversarial": adversarial,
        "d_penalty": penalty_value,
        "d_real_logit": jnp.mean(real_logits.astype(jnp.float32)),
        "d_fake_logit": jnp.mean(fake_logits.astype(jnp.float32)),
    }
    return total, {"batch_stats": batch_stats, "metrics": metrics}


def generator_objective(g_params, g_state: NetworkState, d_state: NetworkState,
                        real, latents, labels=None, *, loss: losses.GANLoss):
    """Adversarial generator loss through the current discriminator.

    Real logits are passed too, for relativistic losses; when a loss ignores
    them XLA removes that forward pass from the compiled step.
    """
    fake, batch_stats = apply_network(g_state, g_params, latents, labels=labels,
                                      train=True)
    fake_logits, _ = apply_network(d_state, d_state.params, fake, labels=labels,
                                   train=True)
    real_logits, _ = apply_network(d_state, d_state.params, real, labels=labels,
                                   train=True)
    total = loss.generator(jax.lax.stop_gradient(real_logits), fake_logits)
    return total, {"batch_stats": batch_stats, "metrics": {"g_loss": total}}


def create(config: ml_collections.ConfigDict, *, penalty_weight=None,
           label_smoothing=None) -> Objectives:
    """Objectives for `config.loss` and `config.penalty`.

    `penalty_weight` and `label_smoothing`, when given, replace the config's
    values and may be traced arrays, so that settings differing only in them
    share one compiled program; the config's own values are validated either way.
    """
    loss_name = config.loss.name
    loss = losses.get(loss_name, label_smoothing=float(config.loss.label_smoothing))
    if (label_smoothing is not None
            and "label_smoothing" in losses.accepted_options(loss_name)):
        loss = losses.LOSSES[loss_name](label_smoothing=label_smoothing)
    # `target` is one config field shared by the penalties that have a target
    # norm; penalties without one (R1, R2) must not receive it.
    penalty_options = {}
    if "target" in penalties.accepted_options(config.penalty.name):
        penalty_options["target"] = float(config.penalty.target)
    penalty = penalties.get(config.penalty.name, **penalty_options)
    if penalty_weight is None:
        penalty_weight = float(config.penalty.weight)
    return Objectives(
        discriminator=functools.partial(
            discriminator_objective, loss=loss, penalty=penalty,
            penalty_weight=penalty_weight),
        generator=functools.partial(generator_objective, loss=loss),
    )
