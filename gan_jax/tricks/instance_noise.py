"""Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017).

Real and fake distributions on low-dimensional manifolds rarely overlap, so a
discriminator can separate them perfectly and its gradients vanish. Adding the
same Gaussian noise to both makes their supports overlap; annealing the noise
to zero recovers the original game.
"""

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick


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


def _prepare_sample(x, key, step, tricks_state, options):
    del tricks_state
    std = noise_std(step, options.noise_std, options.noise_steps)
    return add_noise(x, jax.random.fold_in(key, 1), std)


def _metrics(view, options):
    return {"noise_std": noise_std(view.step, options.noise_std, options.noise_steps)}


TRICKS = (Trick(
    name="instance_noise", title="instance noise", order=20,
    fields=(
        Field("noise_std", 0.0, "std of the N(0, std^2) noise on every D input "
              "(0 = off)", fields.NON_NEGATIVE),
        Field("noise_steps", 0, "generator steps over which the std decays "
              "linearly to 0 (0 = constant)", fields.NON_NEGATIVE),
    ),
    is_active=lambda options: options.noise_std > 0,
    generator_draws=lambda options: True,
    prepare_sample=_prepare_sample,
    discriminator_metrics=_metrics,
),)
