"""Consistency regularisation of the discriminator.

CR (Zhang et al. 2020, "Consistency Regularization for Generative Adversarial
Networks") asks D to score a real sample and an augmented copy alike:

    CR = E_x[(D(x) - D(T(x)))^2].

bCR (Zhao et al. 2021, "Improved Consistency Regularization for GANs")
applies the same term to fakes too, and zCR perturbs the latent instead:

    zCR_D = E_z[(D(G(z)) - D(G(z + dz)))^2],    dz ~ N(0, sigma^2 I),
    zCR_G = -E_z[|G(z) - G(z + dz)|^2]   (the generator is pushed to use z).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gan_jax.tricks import augment


def _mean(x: jax.Array) -> jax.Array:
    return jnp.sum(x) / max(x.size, 1)


def output_difference(critic_fn: Callable[[jax.Array], jax.Array],
                      x: jax.Array, x_other: jax.Array) -> jax.Array:
    """`E[(D(x) - D(x'))^2]` over the batch, float32."""
    a = jnp.asarray(critic_fn(x), jnp.float32).reshape(-1)
    b = jnp.asarray(critic_fn(x_other), jnp.float32).reshape(-1)
    return _mean(jnp.square(a - b))


def augmentation_penalty(critic_fn: Callable[[jax.Array], jax.Array],
                         x: jax.Array, key: jax.Array,
                         policy: tuple[str, ...]) -> jax.Array:
    """CR (on reals) or bCR's fake term: `E[(D(x) - D(T(x)))^2]`, T = `policy`."""
    return output_difference(critic_fn, x, augment.apply(x, key, policy))


def perturb_latents(latents: jax.Array, key: jax.Array, std: float) -> jax.Array:
    """`z + dz`, `dz ~ N(0, std^2 I)`."""
    return latents + std * jax.random.normal(key, latents.shape, jnp.float32)


def generator_diversity(fake: jax.Array, fake_perturbed: jax.Array) -> jax.Array:
    """`E[|G(z) - G(z + dz)|^2]`, averaged over every element; zCR's generator
    term is this times `-zcr_g_weight`."""
    diff = (jnp.asarray(fake, jnp.float32) - jnp.asarray(fake_perturbed, jnp.float32))
    return _mean(jnp.square(diff))
