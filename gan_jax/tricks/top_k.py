"""Top-k training of the generator (Sinha et al. 2020, "Top-k Training of
GANs: Improving GAN Performance by Throwing Away Bad Samples").

The generator's loss is averaged only over the k fakes the discriminator
rates most real; k starts at the batch size and decays geometrically,

    k_t = max(decay^floor(t / every), min_fraction) * batch,

so late in training the generator stops chasing its worst samples.
"""

import jax
import jax.numpy as jnp


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
