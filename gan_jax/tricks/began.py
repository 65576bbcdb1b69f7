"""BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium Generative
Adversarial Networks").

The discriminator is an auto-encoder; its output for a sample is the L1
reconstruction error L(x) (`model.d_autoencoder`). With k_t in [0, 1]:

    L_D = L(x) - k_t L(G(z)),    L_G = L(G(z)),
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1),

which keeps E[L(G(z))] = gamma E[L(x)] in equilibrium. The convergence
measure M = L(x) + |gamma L(x) - L(G(z))| falls as training converges.
"""

import jax
import jax.numpy as jnp


def init() -> jax.Array:
    return jnp.zeros((), jnp.float32)


def update_k(k: jax.Array, real_energy: jax.Array, fake_energy: jax.Array, *,
             gamma: float, lambda_k: float) -> jax.Array:
    """`k_{t+1}` from the batch means of the real and fake energies."""
    balance = gamma * jnp.mean(real_energy) - jnp.mean(fake_energy)
    return jnp.clip(k + lambda_k * jax.lax.stop_gradient(balance), 0.0, 1.0)


def convergence(real_energy: jax.Array, fake_energy: jax.Array,
                gamma: float) -> jax.Array:
    """`M = L(x) + |gamma L(x) - L(G(z))|`."""
    real, fake = jnp.mean(real_energy), jnp.mean(fake_energy)
    return real + jnp.abs(gamma * real - fake)
