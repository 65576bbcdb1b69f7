"""AnoGAN's latent search: the z whose G(z) best explains a query x.

Schlegl et al. 2017 (IPMI, Sec. 2.2) start from a random z_1 and move it by
backpropagation through the frozen generator for Gamma = 500 steps,
minimising the loss of `scores.anogan`. The paper names no optimiser; the
caller passes an optax one (the command uses Adam, `detector.Options`), and z
starts from the prior N(0, I) of this project's latents.

`search` is generic: any per-query objective, any optax optimiser, every
query's latent moved independently (vmapped) by one compiled step.
"""

from collections.abc import Callable
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from gan_jax.anomaly_detection import frozen_gan
from gan_jax.anomaly_detection import scores
from gan_jax.run import compile_options

ANOGAN_STEPS = 500  # Gamma of Schlegl et al. 2017.

# objective(context, z, query) -> scalar loss of one query's latent z.
Objective = Callable[[Any, jax.Array, Any], jax.Array]


@functools.partial(jax.jit, static_argnames=("objective", "optimizer"),
                   donate_argnums=(3, 4),
                   compiler_options=compile_options.for_training())
def search_step(objective: Objective, context: Any, queries: Any,
                latents: jax.Array, opt_state: Any, *,
                optimizer: optax.GradientTransformation
                ) -> tuple[jax.Array, Any, jax.Array]:
    """One optimiser step of every query's latent (vmapped over the batch).

    Returns the new latents and optimiser state, and the objective at the
    latents before the step.
    """
    def one_query(query, latent, opt_state):
        loss, gradient = jax.value_and_grad(objective, argnums=1)(
            context, latent, query)
        updates, opt_state = optimizer.update(gradient, opt_state, latent)
        return optax.apply_updates(latent, updates), opt_state, loss

    return jax.vmap(one_query)(queries, latents, opt_state)


@functools.partial(jax.jit, static_argnames=("objective",))
def _objective_values(objective, context, queries, latents):
    return jax.vmap(lambda q, z: objective(context, z, q))(queries, latents)


def search(objective: Objective, context: Any, queries: Any,
           initial_latents: jax.Array, *, num_steps: int,
           optimizer: optax.GradientTransformation
           ) -> tuple[jax.Array, jax.Array]:
    """Minimises `objective(context, z, query)` over z for each query.

    The steps are one compiled, vmapped program (`search_step`) called
    `num_steps` times from Python; on XLA:CPU convolutions inside a
    `lax.fori_loop` ran about 3x slower (README, "Speed on CPU").

    Args:
      objective: a hashable function (e.g. module level); it sees one query
        and one `(latent_dim,)` latent; `context` carries its arrays (the
        frozen networks), so that they are arguments, not compiled constants.
      context: a pytree held fixed.
      queries: a pytree whose leaves have a leading batch axis B.
      initial_latents: `(B, latent_dim)` starting points.
      num_steps: optimiser steps per query.
      optimizer: the update rule of each latent (each its own state); pass
        the same object on every call so the compiled program is reused.

    Returns:
      `(latents, losses)`: the `(B, latent_dim)` final latents and the
      `(B,)` objective at them.
    """
    latents = jnp.array(initial_latents, jnp.float32)  # A copy: steps donate it.
    opt_state = jax.vmap(optimizer.init)(latents)
    for _ in range(num_steps):
        latents, opt_state, _ = search_step(objective, context, queries, latents,
                                            opt_state, optimizer=optimizer)
    return latents, _objective_values(objective, context, queries, latents)


def anogan_objective(context, latent: jax.Array, query) -> jax.Array:
    """`scores.anogan` of one query `(x, f(x))` against G(z); `context` is
    `(FrozenGAN, lambda)`."""
    gan, weight = context
    image, image_features = query
    reconstruction = frozen_gan.generate(gan, latent[None])
    return scores.anogan(image[None], reconstruction, image_features[None],
                         frozen_gan.features(gan, reconstruction), weight=weight)[0]


def anogan_search(gan: frozen_gan.FrozenGAN, images: jax.Array,
                  image_features: jax.Array, initial_latents: jax.Array, *,
                  num_steps: int, optimizer: optax.GradientTransformation,
                  weight: float = scores.ANOGAN_WEIGHT
                  ) -> tuple[jax.Array, jax.Array]:
    """AnoGAN's search for a batch of images: `(latents, anomaly scores)`."""
    return search(anogan_objective, (gan, jnp.float32(weight)),
                  (images, image_features), initial_latents,
                  num_steps=num_steps, optimizer=optimizer)
