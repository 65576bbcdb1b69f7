"""Pure, jit-able training phases.

`discriminator_step` and `generator_step` each take a `GANState` and return a
new one with metrics; `train_step` runs `n_critic` discriminator steps on
their minibatches followed by one generator step, all in one compiled
program. Dependencies (objectives, latent size, EMA decay) are bound with
`functools.partial` before `jax.jit`.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gan_jax import penalties
from gan_jax.game import objectives as objectives_lib
from gan_jax.game.objectives import generator_rngs
from gan_jax.game.objectives import Objectives
from gan_jax.game.latents import sample_latents
from gan_jax.game.state import apply_network
from gan_jax.game.state import GANState
from gan_jax.game.state import update_ema
from gan_jax.tricks import auxiliary
from gan_jax.tricks.base import GeneratorRegularizerInputs

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


# The InfoGAN category of each latent from `sample_latents` (InfoGAN's module
# owns it; its hooks make the objectives' codes).
categorical_code = auxiliary.categorical_code


class SharedFakes(NamedTuple):
    """One generator forward pass that a critic step and the generator step share.

    `pullback(d_fake) -> (d_params,)` maps a gradient with respect to `fake`
    to one with respect to the generator's parameters; `batch_stats` are the
    generator's running statistics after that pass.
    """
    latents: jax.Array
    fake: jax.Array
    pullback: Callable
    batch_stats: dict


def share_fakes(state: GANState, batch: Batch, key: jax.Array, *, latent_dim: int,
                categories: int = 0) -> SharedFakes:
    """The fakes `discriminator_step(state, batch, key)` would draw, generated
    once with `jax.vjp`, so that the generator step can backpropagate through
    the same forward pass (as the PyTorch DCGAN example does)."""
    real, labels = batch["x"], batch.get("label")
    latent_key = jax.random.split(key)[0]
    latents = sample_latents(latent_key, real.shape[0], latent_dim, categories)
    generator = state.generator
    fake, pullback, batch_stats = jax.vjp(
        lambda params: apply_network(generator, params, latents, labels=labels,
                                     train=True, rngs=generator_rngs(latent_key)),
        generator.params, has_aux=True)
    return SharedFakes(latents, fake, pullback, batch_stats)


def discriminator_step(state: GANState, batch: Batch, key: jax.Array, *,
                       objectives: Objectives, latent_dim: int,
                       weight_clip: float = 0.0,
                       fakes: SharedFakes | None = None) -> tuple[GANState, Metrics]:
    """One discriminator update on a real minibatch and a fresh batch of fakes.

    `batch` is `{"x": (B, ...)}`, plus `"label": (B,)` for conditional models;
    the fakes are generated for the same labels, so real and fake classes
    follow the data's class frequencies. `fakes`, from `share_fakes` with the
    same key, replaces this step's own generator pass. The tricks' running
    statistics (`state.tricks`) move after the update.
    """
    real, labels = batch["x"], batch.get("label")
    options = objectives.options
    latent_key, penalty_key = jax.random.split(key)
    latents = (sample_latents(latent_key, real.shape[0], latent_dim,
                              options.latent_categories)
               if fakes is None else fakes.latents)
    generator = state.generator

    def generate(z):
        # The generator's BatchNorm statistics only move in the generator phase.
        fake, _ = apply_network(generator, generator.params, z, labels=labels,
                                train=True, rngs=generator_rngs(latent_key))
        return jax.lax.stop_gradient(fake)

    context = dict(step=state.step, tricks_state=state.tricks)
    for trick in options.with_hook("discriminator_inputs"):
        context.update(trick.discriminator_inputs(latents, latent_key, generate,
                                                  options))

    fake = (generate(latents) if fakes is None
            else jax.lax.stop_gradient(fakes.fake))
    d_state = state.discriminator
    grads, aux = jax.grad(objectives.discriminator, has_aux=True)(
        d_state.params, d_state, real, fake, penalty_key, labels, **context)
    d_state = d_state.apply_gradients(grads=grads, batch_stats=aux["batch_stats"])
    if weight_clip > 0:
        d_state = d_state.replace(
            params=penalties.clip_weights(d_state.params, weight_clip))
    tricks, trick_metrics = objectives.update_tricks(state.tricks, aux["signals"])
    metrics = dict(aux["metrics"], d_grad_norm=optax.tree.norm(grads),
                   **trick_metrics)
    return state.replace(discriminator=d_state, tricks=tricks), metrics


def generator_step(state: GANState, batch: Batch, key: jax.Array, *,
                   objectives: Objectives, latent_dim: int, ema_decay: float,
                   ema_start: int = 0, ema_rampup: float = 0.0,
                   fakes: SharedFakes | None = None) -> tuple[GANState, Metrics]:
    """One generator update through the current discriminator, then the EMA
    (which copies the weights while `state.step < ema_start`; with
    `ema_rampup > 0` its half-life, in steps, is at most `ema_rampup * step`,
    StyleGAN2-ADA's ramp-up: decay_t = min(decay, 0.5 ** (1 / (ramp * t)))).

    With `fakes` (from `share_fakes`, made before the critic's update) the
    update scores those samples instead of drawing new ones and pulls their
    gradient back through the forward pass that made them.
    """
    real, labels = batch["x"], batch.get("label")
    options = objectives.options
    latents = (sample_latents(key, real.shape[0], latent_dim,
                              options.latent_categories)
               if fakes is None else fakes.latents)
    context = dict(key=jax.random.fold_in(key, 2), step=state.step,
                   tricks_state=state.tricks)
    for trick in options.with_hook("generator_inputs"):
        context.update(trick.generator_inputs(latents, options))
    g_state = state.generator
    if fakes is None:
        grads, aux = jax.grad(objectives.generator, has_aux=True)(
            g_state.params, g_state, state.discriminator, real, latents, labels,
            **context)
        batch_stats = aux["batch_stats"]
    else:
        fake_grads, aux = jax.grad(objectives.generator_on_fakes, has_aux=True)(
            fakes.fake, state.discriminator, real, labels, **context)
        (grads,) = fakes.pullback(fake_grads)
        batch_stats = fakes.batch_stats
    weight_metrics = {}
    if options.with_hook("generator_weight_terms"):
        weight_grads, weight_metrics = jax.grad(
            objectives_lib.generator_weight_objective, has_aux=True)(
                g_state.params, options=options)
        grads = jax.tree.map(jnp.add, grads, weight_grads)
    g_state = g_state.apply_gradients(grads=grads, batch_stats=batch_stats)
    decay = (ema_decay if ema_start == 0
             else jnp.where(state.step >= ema_start, ema_decay, 0.0))
    if ema_rampup > 0:
        half_life = ema_rampup * state.step.astype(jnp.float32)
        ramped = jnp.where(half_life > 0, 0.5 ** (1.0 / jnp.maximum(half_life, 1e-8)),
                           0.0)
        decay = jnp.minimum(decay, ramped)
    ema_params = update_ema(state.ema_params, g_state.params, decay)
    metrics = dict(aux["metrics"], **weight_metrics,
                   g_grad_norm=optax.tree.norm(grads))
    return state.replace(generator=g_state, ema_params=ema_params), metrics


def regularizer_step(state: GANState, batch: Batch, key: jax.Array, *,
                     objectives: Objectives, latent_dim: int
                     ) -> tuple[GANState, Metrics]:
    """The lazy regularisation phase: one discriminator update on the penalty
    alone (Karras et al. 2020). The loop runs it after every
    `penalty.lazy_interval`-th train step, on that step's last minibatch.

    Its randomness is `fold_in(fold_in(key, state.step), 2)`, a stream the
    train step does not use.
    """
    minibatch = jax.tree.map(lambda leaf: leaf[-1], batch)
    real, labels = minibatch["x"], minibatch.get("label")
    phase_key = jax.random.fold_in(jax.random.fold_in(key, state.step), 2)
    latent_key, penalty_key = jax.random.split(phase_key)
    latents = sample_latents(latent_key, real.shape[0], latent_dim,
                             objectives.options.latent_categories)
    generator = state.generator
    fake, _ = apply_network(generator, generator.params, latents, labels=labels,
                            train=True, rngs=generator_rngs(latent_key))
    d_state = state.discriminator
    grads, aux = jax.grad(objectives.regularizer, has_aux=True)(
        d_state.params, d_state, real, jax.lax.stop_gradient(fake), penalty_key,
        labels, step=state.step, tricks_state=state.tricks)
    d_state = d_state.apply_gradients(grads=grads)
    metrics = dict(aux["metrics"], d_lazy_grad_norm=optax.tree.norm(grads))
    return (state.replace(discriminator=d_state),
            {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()})


def generator_regularizer_step(state: GANState, batch: Batch, key: jax.Array, *,
                               trick, options, latent_dim: int
                               ) -> tuple[GANState, Metrics]:
    """A lazy generator phase: one generator update on `trick`'s
    `generator_regularizer` alone (StyleGAN2's path length), run after every
    `trick.regularizer_interval(options)`-th train step, on that step's last
    minibatch's labels. Its randomness is
    `fold_in(fold_in(fold_in(key, state.step), 3), trick.order)`, streams the
    train step and the discriminator's lazy phase do not use. The trick's
    running statistics move with it; the EMA follows at the next train step.
    """
    minibatch = jax.tree.map(lambda leaf: leaf[-1], batch)
    phase_key = jax.random.fold_in(
        jax.random.fold_in(jax.random.fold_in(key, state.step), 3), trick.order)
    inputs = GeneratorRegularizerInputs(
        key=phase_key, labels=minibatch.get("label"),
        batch_size=minibatch["x"].shape[0], latent_dim=latent_dim)
    g_state = state.generator
    grads, (changed, metrics) = jax.grad(trick.generator_regularizer, has_aux=True)(
        g_state.params, g_state, inputs, state.tricks, options)
    g_state = g_state.apply_gradients(grads=grads)
    metrics = dict(metrics, g_lazy_grad_norm=optax.tree.norm(grads))
    return (state.replace(generator=g_state, tricks=dict(state.tricks, **changed)),
            {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()})


def train_step(state: GANState, batch: Batch, key: jax.Array, *,
               discriminator_step_fn, generator_step_fn,
               share_fakes_fn=None, simultaneous: bool = False
               ) -> tuple[GANState, Metrics]:
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
      share_fakes_fn: `share_fakes` with its dependencies bound, or None. When
        given, the last critic step and the generator step share one
        generator forward pass: the generator scores the fakes that critic
        step trained on, after its update.
      simultaneous: the generator step is taken against the discriminator
        (and trick state) from before this step's critic steps, so both
        players' gradients are those of the same point (simultaneous
        gradient descent); otherwise it sees the updated discriminator.

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
    fakes = None
    before_critic = state
    for i in range(n_critic):
        minibatch = jax.tree.map(lambda leaf, i=i: leaf[i], batch)
        if share_fakes_fn is not None and i == n_critic - 1:
            fakes = share_fakes_fn(state, minibatch, critic_keys[i])
        state, metrics_i = discriminator_step_fn(state, minibatch, critic_keys[i],
                                                 fakes=fakes)
        d_metrics.append(metrics_i)
    if simultaneous:
        moved, g_metrics = generator_step_fn(before_critic, minibatch,
                                             jax.random.fold_in(step_key, 1))
        state = state.replace(generator=moved.generator,
                              ema_params=moved.ema_params)
    else:
        state, g_metrics = generator_step_fn(state, minibatch,
                                             jax.random.fold_in(step_key, 1),
                                             fakes=fakes)
    d_metrics = jax.tree.map(lambda *values: jnp.stack(values), *d_metrics)
    metrics = {name: jnp.mean(value) for name, value in d_metrics.items()}
    metrics.update(g_metrics)
    return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
