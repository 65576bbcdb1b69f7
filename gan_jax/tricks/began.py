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

from gan_jax import fields
from gan_jax import losses
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick


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


def _check(options) -> None:
    on = options.is_on("began")
    require(on == options.context.d_autoencoder,
            "BEGAN needs both --config.loss.name=began and "
            "--config.model.d_autoencoder=True (an auto-encoder discriminator); "
            f"they are {options.context.loss_name!r} and "
            f"{options.context.d_autoencoder}. Set both, or neither "
            "(--config.model.d_autoencoder=False with another loss).")
    require(not (on and (options.is_on("top_k") or options.is_on("label_noise")
                         or options.feature_matching_weight)),
            "BEGAN's discriminator (--config.loss.name=began) outputs energies, "
            "not logits: top-k, label noise and feature matching do not apply "
            "to it. Set --config.tricks.top_k_min_fraction=1.0, "
            "--config.loss.label_noise=0.0 and "
            "--config.tricks.feature_matching_weight=0.0.")


def _update_state(tricks_state, signals, options):
    real, fake = signals["real"], signals["fake"]
    k = update_k(tricks_state["began_k"], real, fake, gamma=options.began_gamma,
                 lambda_k=options.began_lambda_k)
    return {"began_k": k}, {
        "began_convergence": convergence(real, fake, options.began_gamma),
        "began_k": k}


TRICKS = (Trick(
    name="began", title="BEGAN", order=130,
    fields=(
        Field("began_gamma", 0.5, "BEGAN's target ratio of fake to real "
              "reconstruction error", fields.PROBABILITY, section="loss"),
        Field("began_lambda_k", 0.001, "BEGAN's step size of k_t",
              fields.NON_NEGATIVE, section="loss"),
    ),
    is_active=lambda options: options.context.loss_name == "began",
    check=_check,
    init_state=lambda options: {"began_k": init()},
    update_state=_update_state,
    adversarial_loss=lambda loss, tricks_state, options: losses.began(
        tricks_state["began_k"]),
),)
