"""Pure, jit-able training phases.

`discriminator_step` and `generator_step` each take a `GANState` and return a
new one with metrics; `train_step` runs `n_critic` discriminator steps on
their minibatches followed by one generator step, all in one compiled program. Dependencies (objectives, latent size, EMA
decay) are bound with `functools.partial` before `jax.jit`.
"""

import jax
import jax.numpy as jnp
import optax

from gan_jax import penalties
from gan_jax.objectives import Objectives
from gan_jax.state import GANState, apply_network, update_ema

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


def sample_latents(key: jax.Array, batch_size: int, latent_dim: int) -> jax.Array:
    """Standard normal latents `z ~ N(0, I)` of shape `(batch_size, latent_dim)`."""
    return jax.random.normal(key, (batch_size, latent_dim), jnp.float32)


def discriminator_step(state: GANState, batch: Batch, key: jax.Array, *,
                       objectives: Objectives, latent_dim: int,
                       weight_clip: float = 0.0) -> tuple[GANState, Metrics]:
    """One discriminator update on a real minibatch and a fresh batch of fakes.

    `batch` is `{"x": (B, ...)}`, plus `"label": (B,)` for conditional models;
    the fakes are generated for the same labels, so real and fake classes
    follow the data's class frequencies.
    """
    real, labels = batch["x"], batch.get("label")
    latent_key, penalty_key = jax.random.split(key)
    latents = sample_latents(latent_key, real.shape[0], latent_dim)
    generator = state.generator
    # The generator's BatchNorm statistics only move in the generator phase.
    fake, _ = apply_network(generator, generator.params, latents, labels=labels,
                            train=True)
    fake = jax.lax.stop_gradient(fake)

    d_state = state.discriminator
    grads, aux = jax.grad(objectives.discriminator, has_aux=True)(
        d_state.params, d_state, real, fake, penalty_key, labels)
    d_state = d_state.apply_gradients(grads=grads, batch_stats=aux["batch_stats"])
    if weight_clip > 0:
        d_state = d_state.replace(
            params=penalties.clip_weights(d_state.params, weight_clip))
    metrics = dict(aux["metrics"], d_grad_norm=optax.tree.norm(grads))
    return state.replace(discriminator=d_state), metrics


def generator_step(state: GANState, batch: Batch, key: jax.Array, *,
                   objectives: Objectives, latent_dim: int,
                   ema_decay: float) -> tuple[GANState, Metrics]:
    """One generator update through the current discriminator, then the EMA."""
    real, labels = batch["x"], batch.get("label")
    latents = sample_latents(key, real.shape[0], latent_dim)
    g_state = state.generator
    grads, aux = jax.grad(objectives.generator, has_aux=True)(
        g_state.params, g_state, state.discriminator, real, latents, labels)
    g_state = g_state.apply_gradients(grads=grads, batch_stats=aux["batch_stats"])
    ema_params = update_ema(state.ema_params, g_state.params, ema_decay)
    metrics = dict(aux["metrics"], g_grad_norm=optax.tree.norm(grads))
    return state.replace(generator=g_state, ema_params=ema_params), metrics


def train_step(state: GANState, batch: Batch, key: jax.Array, *,
               discriminator_step_fn, generator_step_fn) -> tuple[GANState, Metrics]:
    """`n_critic` discriminator steps, then one generator step.

    Args:
      state: the current state.
      batch: `{"x": (n_critic, batch, ...)}` (and `"label": (n_critic, batch)`
        for conditional models), one real minibatch per critic step; the
        generator step reuses the last one (relativistic losses need reals).
      key: the run's training key; this step's randomness is
        `fold_in(key, state.step)`, so a resumed run draws the same numbers.
      discriminator_step_fn, generator_step_fn: the phases with their
        dependencies bound.

    Returns:
      The new state and float32 scalar metrics (discriminator metrics averaged
      over the critic steps).
    """
    step_key = jax.random.fold_in(key, state.step)
    n_critic = batch["x"].shape[0]
    critic_keys = jax.random.split(jax.random.fold_in(step_key, 0), n_critic)

    # A Python loop, not `lax.scan`: n_critic is small and static, and on
    # XLA:CPU convolutions inside a loop body run several times slower.
    d_metrics = []
    for i in range(n_critic):
        minibatch = jax.tree.map(lambda leaf, i=i: leaf[i], batch)
        state, metrics_i = discriminator_step_fn(state, minibatch, critic_keys[i])
        d_metrics.append(metrics_i)
    state, g_metrics = generator_step_fn(state, minibatch,
                                         jax.random.fold_in(step_key, 1))
    d_metrics = jax.tree.map(lambda *values: jnp.stack(values), *d_metrics)
    metrics = {name: jnp.mean(value) for name, value in d_metrics.items()}
    metrics.update(g_metrics)
    return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
