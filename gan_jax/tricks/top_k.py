"""Top-k training of the generator (Sinha et al. 2020, "Top-k Training of
GANs: Improving GAN Performance by Throwing Away Bad Samples").

The generator's loss is averaged only over the k fakes the discriminator
rates most real; k starts at the batch size and decays geometrically,

    k_t = max(decay^floor(t / every), min_fraction) * batch,

so late in training the generator stops chasing its worst samples.
"""

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick

# Losses whose generator term is a mean of per-sample terms.
PER_SAMPLE_GENERATOR_LOSSES = ("minimax", "non_saturating", "wasserstein",
                               "hinge", "least_squares")


def keep_count(step: jax.Array, batch: int, *, min_fraction: float, decay: float,
               every: int) -> jax.Array:
    """`k_t` above, rounded and at least 1 (int32)."""
    epochs = jnp.floor(jnp.asarray(step, jnp.float32) / every)
    fraction = jnp.maximum(jnp.power(decay, epochs), min_fraction)
    return jnp.maximum(jnp.round(fraction * batch), 1).astype(jnp.int32)


def top_k_mean(per_sample_loss: jax.Array, fake_logits: jax.Array,
               k: jax.Array) -> jax.Array:
    """Mean of `per_sample_loss` over the k samples with the highest logits.

    k may be traced: a rank mask, not `lax.top_k`, whose k must be static.
    """
    logits = jnp.asarray(fake_logits, jnp.float32).reshape(-1)
    order = jnp.argsort(-logits)
    ranks = jnp.zeros_like(order).at[order].set(jnp.arange(order.size))
    keep = (ranks < k).astype(jnp.float32)
    return jnp.sum(keep * per_sample_loss) / jnp.maximum(k, 1).astype(jnp.float32)


def _check(options) -> None:
    loss_name = options.context.loss_name
    require(not options.is_on("top_k") or loss_name in PER_SAMPLE_GENERATOR_LOSSES,
            f"Top-k training (--config.tricks.top_k_min_fraction="
            f"{options.top_k_min_fraction!r}) needs a loss whose generator term "
            f"is per sample ({', '.join(PER_SAMPLE_GENERATOR_LOSSES)}); "
            f"--config.loss.name is {loss_name!r}. Set "
            "--config.loss.name=non_saturating or "
            "--config.tricks.top_k_min_fraction=1.0.")


def _generator_adversarial(view, options, current):
    """Replaces G's adversarial term by its mean over the k best-rated fakes."""
    del current
    k = keep_count(view.step, view.fake_logits.shape[0],
                   min_fraction=options.top_k_min_fraction,
                   decay=options.top_k_decay, every=options.top_k_every)
    per_sample = jax.vmap(lambda f: view.loss.generator(
        view.real_logits, f[None]))(view.fake_logits.reshape(-1))
    return (top_k_mean(per_sample, view.fake_logits, k),
            {"g_top_k": k.astype(jnp.float32)})


TRICKS = (Trick(
    name="top_k", title="top-k training", order=70,
    fields=(
        Field("top_k_min_fraction", 1.0, "the fraction of the batch k decays to "
              "(1 = off)", fields.Range(0.0, 1.0, low_open=True)),
        Field("top_k_decay", 0.99, "k's decay factor per top_k_every steps",
              fields.Range(0.0, 1.0, low_open=True)),
        Field("top_k_every", 100, "generator steps per decay of k", fields.AT_LEAST_ONE),
    ),
    is_active=lambda options: options.top_k_min_fraction < 1.0,
    check=_check,
    generator_adversarial=_generator_adversarial,
),)
