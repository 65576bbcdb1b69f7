"""Feature matching (Salimans et al. 2016, "Improved Techniques for Training
GANs").

The generator matches the statistics of the discriminator's intermediate
features f (here the features feeding its last layer) on real data instead of
(or besides) fooling it:

    L_FM = |E_x[f(x)] - E_z[f(G(z))]|^2.
"""

import jax
import jax.numpy as jnp


def loss(real_features: jax.Array, fake_features: jax.Array) -> jax.Array:
    """`L_FM` above (squared L2 over features); the real side is a constant."""
    real = jax.lax.stop_gradient(jnp.asarray(real_features, jnp.float32))
    real_mean = jnp.mean(real.reshape(real.shape[0], -1), axis=0)
    fake = jnp.asarray(fake_features, jnp.float32)
    fake_mean = jnp.mean(fake.reshape(fake.shape[0], -1), axis=0)
    return jnp.sum(jnp.square(real_mean - fake_mean))
