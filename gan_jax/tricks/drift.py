"""Progressive GAN's drift term (Karras et al. 2018, Sec. A.1):

    L_D += eps_drift * E_x[D(x)^2],

eps_drift = 0.001 in the paper, on the critic's outputs for real images, to
keep a Wasserstein critic's outputs from drifting far from zero (its loss
fixes them only up to a constant). The official code (loss.py,
D_wgangp_acgan, `wgan_epsilon`) adds it to the WGAN-GP critic loss.
"""

import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick


def drift(real_logits) -> jnp.ndarray:
    """`E_x[D(x)^2]` over the real logits, float32 (0 for an empty batch)."""
    r = jnp.asarray(real_logits, jnp.float32).reshape(-1)
    return jnp.sum(jnp.square(r)) / max(r.size, 1)


def _terms(view, options) -> dict:
    return {"d_drift": (options.drift_weight, drift(view.real_logits))}


TRICKS = (Trick(
    name="drift", title="the drift term", order=160,
    fields=(
        Field("drift_weight", 0.0, "eps_drift, the weight of E[D(x_real)^2] in "
              "D's loss (0 = off; 0.001 in Progressive GAN)", fields.NON_NEGATIVE,
              example=0.001),
    ),
    is_active=lambda options: options.drift_weight > 0,
    discriminator_terms=_terms,
),)
