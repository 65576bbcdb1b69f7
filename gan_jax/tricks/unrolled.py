"""Unrolled GAN (Metz et al. 2017, "Unrolled Generative Adversarial Networks").

The generator is scored by the discriminator it would face after k more
discriminator updates, D_k = U^k(D), and its gradient is taken through those
updates:

    dL_G(G, D_k(G)) / dG = dL_G/dG + dL_G/dD_k * dD_k/dG,

the second term is what lets the generator anticipate the discriminator's
response and spread over modes instead of chasing it. JAX differentiates the
k optimizer steps end to end.
"""

from collections.abc import Callable

import jax
import optax

from gan_jax import fields
from gan_jax.game.state import apply_network
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick


def unroll(params, opt_state, tx: optax.GradientTransformation,
           loss_fn: Callable, num_steps: int):
    """`num_steps` differentiable updates of `params` by `tx` on `loss_fn`.

    `loss_fn(params) -> scalar`; it may close over the variables the caller
    differentiates (the generator's parameters), so the returned parameters
    carry their dependence. A Python loop: k is small and static.
    """
    for _ in range(num_steps):
        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def _generator_params(view, options, d_params):
    """The discriminator after `unrolled_steps` updates on the phase's inputs."""
    def d_loss(params):
        r = apply_network(view.d_state, params, view.real_in, labels=view.labels,
                          train=True)[0]
        f = apply_network(view.d_state, params, view.fake_in, labels=view.labels,
                          train=True)[0]
        return view.loss.discriminator(r, f)
    return unroll(d_params, view.d_state.opt_state, view.d_state.tx, d_loss,
                  options.unrolled_steps)


TRICKS = (Trick(
    name="unrolled", title="unrolled GAN", order=110,
    fields=(Field("unrolled_steps", 0, "differentiable D updates G's loss is "
                  "taken through (0 = off)", fields.NON_NEGATIVE),),
    is_active=lambda options: options.unrolled_steps > 0,
    generator_params=_generator_params,
),)
