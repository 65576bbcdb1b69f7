"""Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017).

Real and fake distributions on low-dimensional manifolds rarely overlap, so a
discriminator can separate them perfectly and its gradients vanish. Adding the
same Gaussian noise to both makes their supports overlap; annealing the noise
to zero recovers the original game.
"""

import jax
import jax.numpy as jnp


def noise_std(step: jax.Array, initial_std: float, anneal_steps: int) -> jax.Array:
    """`sigma(t) = initial_std * max(0, 1 - t / anneal_steps)`; constant when
    `anneal_steps` is 0. `step` counts generator updates."""
    if not anneal_steps:
        return jnp.asarray(initial_std, jnp.float32)
    remaining = 1.0 - jnp.asarray(step, jnp.float32) / anneal_steps
    return initial_std * jnp.clip(remaining, 0.0, 1.0)


def add_noise(x: jax.Array, key: jax.Array, std: jax.Array) -> jax.Array:
    """`x + std * N(0, I)`, in x's dtype."""
    noise = jax.random.normal(key, x.shape, jnp.float32) * std
    return (x.astype(jnp.float32) + noise).astype(x.dtype)
