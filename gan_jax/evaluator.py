"""What a run measures at each evaluation.

Samples come from the EMA generator in inference mode; the metrics depend on
the data: for the 2-D mixtures, mode coverage and a scatter plot.
"""

import functools
from typing import NamedTuple

import jax
import ml_collections
import numpy as np

from gan_jax import steps
from gan_jax import visualize
from gan_jax.data import toy_mixtures
from gan_jax.metrics import mode_coverage
from gan_jax.state import GANState, apply_network


class Evaluation(NamedTuple):
    scalars: dict[str, float]
    images: dict[str, np.ndarray]  # name -> (H, W, 3) uint8


@functools.partial(jax.jit, static_argnames=("batch_size", "latent_dim"))
def _generate_batch(state: GANState, key, *, batch_size: int, latent_dim: int):
    latents = steps.sample_latents(key, batch_size, latent_dim)
    samples, _ = apply_network(state.generator, state.ema_params, latents,
                               train=False)
    return samples


def generate(state: GANState, key: jax.Array, num_samples: int, *,
             latent_dim: int, batch_size: int) -> np.ndarray:
    """`num_samples` samples from the EMA generator, gathered on the host."""
    batches = []
    for i in range(-(-num_samples // batch_size)):
        batches.append(_generate_batch(state, jax.random.fold_in(key, i),
                                       batch_size=batch_size,
                                       latent_dim=latent_dim))
    return np.concatenate(jax.device_get(batches))[:num_samples]


def _evaluate_mixture(samples: np.ndarray, config: ml_collections.ConfigDict,
                      step: int) -> Evaluation:
    modes = toy_mixtures.mixture_modes(config.data.name)
    std = toy_mixtures.mixture_std(config.data.name)
    scalars = mode_coverage.mixture_mode_metrics(samples, modes, std)
    title = (f"{config.data.name} step {step}: "
             f"{scalars['modes_covered']:.0f}/{len(modes)} modes, "
             f"{100 * scalars['high_quality_fraction']:.1f}% high quality")
    image = visualize.mixture_scatter(samples, modes, std, title=title)
    return Evaluation(scalars=scalars, images={"samples": image})


def evaluate(state: GANState, key: jax.Array, config: ml_collections.ConfigDict,
             step: int) -> Evaluation:
    """Generates `config.eval.num_samples` samples and measures them."""
    samples = generate(state, key, config.eval.num_samples,
                       latent_dim=config.model.latent_dim,
                       batch_size=min(config.eval.batch_size, config.eval.num_samples))
    if config.data.source == "toy":
        return _evaluate_mixture(np.asarray(samples, np.float64), config, step)
    raise ValueError(f"No evaluation defined for data source {config.data.source!r}.")
