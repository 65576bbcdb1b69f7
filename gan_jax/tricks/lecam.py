"""LeCam regularisation (Tseng et al. 2021, "Regularizing Generative
Adversarial Networks under Limited Data").

    R_LC = E_x[(D(x) - alpha_F)^2] + E_z[(D(G(z)) - alpha_R)^2]

where alpha_R and alpha_F are exponential moving averages of D's mean output
on real and fake samples. The EMAs are running statistics of the training
state, updated after every discriminator step.
"""

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick


def init() -> dict[str, jax.Array]:
    return {"real": jnp.zeros((), jnp.float32), "fake": jnp.zeros((), jnp.float32)}


def penalty(real_logits: jax.Array, fake_logits: jax.Array,
            averages: dict[str, jax.Array]) -> jax.Array:
    """`R_LC` above; the averages are constants of this step."""
    anchors = jax.lax.stop_gradient(averages)
    r = jnp.asarray(real_logits, jnp.float32).reshape(-1)
    f = jnp.asarray(fake_logits, jnp.float32).reshape(-1)
    return (jnp.sum(jnp.square(r - anchors["fake"])) / max(r.size, 1)
            + jnp.sum(jnp.square(f - anchors["real"])) / max(f.size, 1))


def update(averages: dict[str, jax.Array], real_logits: jax.Array,
           fake_logits: jax.Array, decay: float) -> dict[str, jax.Array]:
    """`alpha <- decay * alpha + (1 - decay) * mean(D output)`, for both."""
    def ema(old, logits):
        mean = jnp.mean(jnp.asarray(logits, jnp.float32))
        return decay * old + (1.0 - decay) * jax.lax.stop_gradient(mean)
    return {"real": ema(averages["real"], real_logits),
            "fake": ema(averages["fake"], fake_logits)}


def _terms(view, options) -> dict:
    return {"d_lecam": (options.lecam_weight, penalty(
        view.real_logits, view.fake_logits, view.tricks_state["lecam"]))}


def _update_state(tricks_state, signals, options):
    averages = update(tricks_state["lecam"], signals["real"], signals["fake"],
                      options.lecam_decay)
    return {"lecam": averages}, {"lecam_real_ema": averages["real"],
                                 "lecam_fake_ema": averages["fake"]}


TRICKS = (Trick(
    name="lecam", title="LeCam regularisation", order=60,
    fields=(
        Field("lecam_weight", 0.0, "weight of R_LC in D's loss (0 = off)",
              fields.NON_NEGATIVE),
        Field("lecam_decay", 0.99, "decay of the EMAs of D's mean real and fake "
              "outputs", fields.UNIT_INTERVAL),
    ),
    is_active=lambda options: options.lecam_weight > 0,
    init_state=lambda options: {"lecam": init()},
    update_state=_update_state,
    discriminator_terms=_terms,
),)
