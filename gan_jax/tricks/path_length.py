"""StyleGAN2's path length regularisation (Karras et al. 2020, "Analyzing and
Improving the Image Quality of StyleGAN", Sec. 3.2), as a lazy generator
phase of its own.

    lengths_i = sqrt(mean_k ||J_i,k^T y_i||^2),   y_i ~ N(0, I) / sqrt(H W)
    a <- a + decay * (mean_i lengths_i - a)
    L_pl = interval * weight * mean_i (lengths_i - a)^2

where J_i,k is the Jacobian of image i with respect to its k-th style vector
w_k, so J^T y is the gradient of sum(image * y) with respect to the ws, and a
is a running mean kept in the state ("path_length_mean"). It runs every
`path_length_interval` steps on `batch / path_length_batch_shrink` fresh
samples, weighted by the interval as lazy regularisation is (Sec. 4.1).

Convention: as in stylegan2-ada-pytorch (`training/loss.py`), the penalty
uses the mean *after* this phase's update, and the gradient also flows
through that update (`pl_mean.lerp(pl_lengths.mean(), decay)` is not
detached there); the stored mean is a constant of the next phase.
Needs a generator with a mapping network (`map_latents`) and a synthesis
network (`synthesize`): model stylegan2.
"""

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.game.latents import sample_latents
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick

# Models whose generators have `map_latents` and `synthesize` methods.
MAPPING_GENERATORS = ("stylegan2",)
_STATE = "path_length_mean"


def path_lengths(synthesize, ws: jax.Array, key: jax.Array) -> jax.Array:
    """`lengths_i` above for styles `ws` `(B, num_ws, w_dim)`; `synthesize(ws)`
    gives images `(B, H, W, C)`."""
    images, pullback = jax.vjp(synthesize, ws)
    height, width = images.shape[1:3]
    noise = jax.random.normal(key, images.shape, jnp.float32) / jnp.sqrt(
        float(height * width))
    (gradients,) = pullback(noise.astype(images.dtype))
    gradients = jnp.asarray(gradients, jnp.float32)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(gradients), axis=2), axis=1))


def penalty(lengths: jax.Array, mean: jax.Array, decay: float):
    """`((lengths - a_new)^2, a_new)`, `a_new = mean + decay * (mean(lengths) - mean)`."""
    new_mean = mean + decay * (jnp.mean(lengths) - mean)
    return jnp.square(lengths - new_mean), new_mean


def _regularizer(g_params, g_state, inputs, tricks_state, options):
    batch = max(inputs.batch_size // options.path_length_batch_shrink, 1)
    latent_key, noise_key, pl_key = jax.random.split(inputs.key, 3)
    z = sample_latents(latent_key, batch, inputs.latent_dim)
    labels = None if inputs.labels is None else inputs.labels[:batch]
    variables = {"params": g_params, "batch_stats": g_state.batch_stats}
    rngs = {"noise": noise_key}
    ws = g_state.apply_fn(variables, z, labels, train=True, method="map_latents",
                          rngs=rngs)

    def synthesize(styles):
        return g_state.apply_fn(variables, styles, train=True, method="synthesize",
                                rngs=rngs)

    lengths = path_lengths(synthesize, ws, pl_key)
    per_sample, new_mean = penalty(lengths, tricks_state[_STATE],
                                   options.path_length_decay)
    value = jnp.mean(per_sample)
    loss = options.path_length_interval * options.path_length_weight * value
    metrics = {"g_path_length_penalty": value, "g_path_length_mean": new_mean}
    return loss, ({_STATE: jax.lax.stop_gradient(new_mean)}, metrics)


def _check(options):
    if options.path_length_weight <= 0:
        return
    require(options.context.model_name in MAPPING_GENERATORS,
            f"Path length regularisation (--config.tricks.path_length_weight="
            f"{options.path_length_weight:g}) needs a generator with a mapping "
            f"network; model {options.context.model_name!r} has none. Set "
            f"--config.model.name=stylegan2 or "
            f"--config.tricks.path_length_weight=0.")


TRICKS = (Trick(
    name="path_length", title="path length regularisation", order=150,
    fields=(
        Field("path_length_weight", 0.0, "StyleGAN2's path length weight "
              "(2 in the paper; 0 = off)", fields.NON_NEGATIVE, example=2.0),
        Field("path_length_interval", 4, "steps between path length phases",
              fields.AT_LEAST_ONE),
        Field("path_length_decay", 0.01, "decay of the running mean path length",
              fields.UNIT_INTERVAL),
        Field("path_length_batch_shrink", 2, "the phase's batch is the "
              "training batch divided by this", fields.AT_LEAST_ONE),
    ),
    is_active=lambda options: options.path_length_weight > 0,
    check=_check,
    init_state=lambda options: {_STATE: jnp.zeros((), jnp.float32)},
    generator_regularizer=_regularizer,
    regularizer_interval=lambda options: options.path_length_interval,
),)
