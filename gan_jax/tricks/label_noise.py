"""Noisy one-sided labels (Salimans et al. 2016, "Improved Techniques for
Training GANs"; the noisy variant of one-sided label smoothing).

Each real target of a cross-entropy discriminator loss is drawn as
t_i = 1 - s - noise * u_i, u_i ~ U(0, 1), s the label smoothing; the loss
gains E[noise * u_i * D(x_i)] (`gan_jax.losses.label_noise_term`).
"""

import jax

from gan_jax import fields
from gan_jax import losses
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick

# Losses built on cross-entropy, whose real term the noise term assumes.
CROSS_ENTROPY_LOSSES = ("minimax", "non_saturating")
# A fixed `fold_in` index under the discriminator objective's key.
STREAM = 103


def _check(options) -> None:
    if not options.label_noise:
        return
    loss_name = options.context.loss_name
    require(loss_name in CROSS_ENTROPY_LOSSES,
            f"--config.loss.label_noise={options.label_noise!r} applies to the "
            f"losses {', '.join(CROSS_ENTROPY_LOSSES)}; --config.loss.name is "
            f"{loss_name!r}. Set --config.loss.name=non_saturating or "
            "--config.loss.label_noise=0.0.")
    smoothing = options.context.label_smoothing
    require(smoothing + options.label_noise < 1.0,
            f"--config.loss.label_smoothing={smoothing!r} + "
            f"--config.loss.label_noise={options.label_noise!r} must stay below 1 "
            "(a real target's noise must not reach 0): lower either, e.g. "
            f"--config.loss.label_noise={(1.0 - smoothing) / 2:g}.")


def _discriminator_adversarial(view, options):
    return losses.label_noise_term(view.real_logits,
                                   jax.random.fold_in(view.key, STREAM),
                                   options.label_noise)


TRICKS = (Trick(
    name="label_noise", title="noisy labels", order=120,
    fields=(Field("label_noise", 0.0, "width of the uniform noise on each real "
                  "target, below 1 - label_smoothing; cross-entropy losses only",
                  fields.UNIT_INTERVAL, section="loss"),),
    is_active=lambda options: options.label_noise > 0,
    check=_check,
    discriminator_adversarial=_discriminator_adversarial,
),)
