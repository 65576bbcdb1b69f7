"""Feature matching (Salimans et al. 2016, "Improved Techniques for Training
GANs").

The generator matches the statistics of the discriminator's intermediate
features f (here the features feeding its last layer) on real data instead of
(or besides) fooling it:

    L_FM = |E_x[f(x)] - E_z[f(G(z))]|^2.
"""

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick


def loss(real_features: jax.Array, fake_features: jax.Array) -> jax.Array:
    """`L_FM` above (squared L2 over features); the real side is a constant."""
    real = jax.lax.stop_gradient(jnp.asarray(real_features, jnp.float32))
    real_mean = jnp.mean(real.reshape(real.shape[0], -1), axis=0)
    fake = jnp.asarray(fake_features, jnp.float32)
    fake_mean = jnp.mean(fake.reshape(fake.shape[0], -1), axis=0)
    return jnp.sum(jnp.square(real_mean - fake_mean))


def _generator_adversarial(view, options, current):
    """With `feature_matching_replace`, G's adversarial term is dropped."""
    if options.feature_matching_replace:
        return jnp.zeros((), jnp.float32), {}
    return current, {}


def _terms(view, options) -> dict:
    if not options.feature_matching_weight:
        return {}
    return {"g_feature_matching": (options.feature_matching_weight, loss(
        view.real_sown["features"], view.fake_sown["features"]))}


TRICKS = (Trick(
    name="feature_matching", title="feature matching", order=80,
    fields=(
        Field("feature_matching_weight", 0.0, "weight of L_FM in G's loss "
              "(0 = off)", fields.NON_NEGATIVE),
        Field("feature_matching_replace", False, "drop G's adversarial loss, as "
              "in the paper"),
    ),
    is_active=lambda o: o.feature_matching_weight > 0 or o.feature_matching_replace,
    captures=("g_real", "g_fake"),
    generator_adversarial=_generator_adversarial,
    generator_terms=_terms,
),)
