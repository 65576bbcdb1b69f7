"""Pure, jit-able training phases.

`discriminator_step` and `generator_step` each take a `GANState` and return a
new one with metrics; `train_step` runs `n_critic` discriminator steps (a
`lax.scan` over critic minibatches, so the whole thing is one compiled program)
followed by one generator step. Dependencies (objectives, latent size, EMA
decay) are bound with `functools.partial` before `jax.jit`.
"""

from typing import Any

import jax
import jax.numpy as jnp
import optax

from gan_jax import penalties
from gan_jax.objectives import Objectives
from gan_jax.state import GANState, apply_network, update_ema

Metrics = dict[str, jax.Array]


def sample_latents(key: jax.Array, batch_size: int, latent_dim: int) -> jax.Array:
    """Standard normal latents `z ~ N(0, I)` of shape `(batch_size, latent_dim)`."""
    return jax.random.normal(key, (batch_size, latent_dim), jnp.float32)


def discriminator_step(state: GANState, real: jax.Array, key: jax.Array, *,
                       objectives: Objectives, latent_dim: int,
                       weight_clip: float = 0.0) -> tuple[GANState, Metrics]:
    """One discriminator update on `real` and a fresh batch of fakes."""
    latent_key, penalty_key = jax.random.split(key)
    latents = sample_latents(latent_key, real.shape[0], latent_dim)
    generator = state.generator
    # The generator's BatchNorm statistics only move in the generator phase.
    fake, _ = apply_network(generator, generator.params, latents, train=True)
    fake = jax.lax.stop_gradient(fake)

    d_state = state.discriminator
    grads, aux = jax.grad(objectives.discriminator, has_aux=True)(
        d_state.params, d_state, real, fake, penalty_key)
    d_state = d_state.apply_gradients(grads=grads, batch_stats=aux["batch_stats"])
    if weight_clip > 0:
        d_state = d_state.replace(
            params=penalties.clip_weights(d_state.params, weight_clip))
    metrics = dict(aux["metrics"], d_grad_norm=optax.tree.norm(grads))
    return state.replace(discriminator=d_state), metrics


def generator_step(state: GANState, real: jax.Array, key: jax.Array, *,
                   objectives: Objectives, latent_dim: int,
                   ema_decay: float) -> tuple[GANState, Metrics]:
    """One generator update through the current discriminator, then the EMA."""
    latents = sample_latents(key, real.shape[0], latent_dim)
    g_state = state.generator
    grads, aux = jax.grad(objectives.generator, has_aux=True)(
        g_state.params, g_state, state.discriminator, real, latents)
    g_state = g_state.apply_gradients(grads=grads, batch_stats=aux["batch_stats"])
    ema_params = update_ema(state.ema_params, g_state.params, ema_decay)
    metrics = dict(aux["metrics"], g_grad_norm=optax.tree.norm(grads))
    return state.replace(generator=g_state, ema_params=ema_params), metrics


def train_step(state: GANState, batch: dict[str, Any], key: jax.Array, *,
               discriminator_step_fn, generator_step_fn) -> tuple[GANState, Metrics]:
    """`n_critic` discriminator steps, then one generator step.

    Args:
      state: the current state.
      batch: `{"x": (n_critic, batch, ...)}`, one real minibatch per critic step;
        the generator step reuses the last one (relativistic losses need reals).
      key: the run's training key; this step's randomness is
        `fold_in(key, state.step)`, so a resumed run draws the same numbers.
      discriminator_step_fn, generator_step_fn: the phases with their
        dependencies bound.

    Returns:
      The new state and float32 scalar metrics (discriminator metrics averaged
      over the critic steps).
    """
    step_key = jax.random.fold_in(key, state.step)
    critic_keys = jax.random.split(jax.random.fold_in(step_key, 0), batch["x"].shape[0])

    def critic_update(carry, inputs):
        real, critic_key = inputs
        return discriminator_step_fn(carry, real, critic_key)

    state, d_metrics = jax.lax.scan(critic_update, state, (batch["x"], critic_keys))
    state, g_metrics = generator_step_fn(state, batch["x"][-1],
                                         jax.random.fold_in(step_key, 1))
    metrics = {name: jnp.mean(value) for name, value in d_metrics.items()}
    metrics.update(g_metrics)
    return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
