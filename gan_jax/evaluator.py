"""What a run measures and draws at each evaluation.

Samples come from the EMA generator in inference mode. For the 2-D mixtures:
mode coverage and a scatter plot. For images: a grid from a fixed batch of
latents (one row per class for conditional models), so successive grids show
the same latents as training goes on.
"""

from typing import NamedTuple

import jax
import ml_collections
import numpy as np

from gan_jax import sampling
from gan_jax import visualize
from gan_jax.data import toy_mixtures
from gan_jax.metrics import mode_coverage
from gan_jax.state import GANState


class Evaluation(NamedTuple):
    scalars: dict[str, float]
    images: dict[str, np.ndarray]  # name -> (H, W, 3) uint8


def _evaluate_mixture(state: GANState, key: jax.Array,
                      config: ml_collections.ConfigDict, step: int) -> Evaluation:
    samples = sampling.generate(
        state, key, config.eval.num_samples, latent_dim=config.model.latent_dim,
        batch_size=min(config.eval.batch_size, config.eval.num_samples))
    samples = np.asarray(samples, np.float64)
    modes = toy_mixtures.mixture_modes(config.data.name)
    std = toy_mixtures.mixture_std(config.data.name)
    scalars = mode_coverage.mixture_mode_metrics(samples, modes, std)
    title = (f"{config.data.name} step {step}: "
             f"{scalars['modes_covered']:.0f}/{len(modes)} modes, "
             f"{100 * scalars['high_quality_fraction']:.1f}% high quality")
    image = visualize.mixture_scatter(samples, modes, std, title=title)
    return Evaluation(scalars=scalars, images={"samples": image})


def _render(state: GANState, inputs: sampling.GridInputs) -> np.ndarray:
    images = sampling.generate_from(state, inputs.latents, inputs.labels)
    return visualize.image_grid(np.asarray(jax.device_get(images)),
                                inputs.num_rows, inputs.num_columns)


def sample_grid(state: GANState, key: jax.Array,
                config: ml_collections.ConfigDict) -> np.ndarray:
    """The fixed-latent sample grid of `key`, as a uint8 image."""
    return _render(state, sampling.grid_inputs(
        key, config.model.latent_dim, config.model.num_classes))


def interpolation_strips(state: GANState, key: jax.Array,
                         config: ml_collections.ConfigDict) -> np.ndarray:
    """Rows of spherical interpolations between pairs of latents."""
    return _render(state, sampling.interpolation_inputs(
        key, latent_dim=config.model.latent_dim,
        num_classes=config.model.num_classes))


def evaluate(state: GANState, key: jax.Array, config: ml_collections.ConfigDict,
             step: int) -> Evaluation:
    """Measures and draws the generator of `state` at `step`."""
    if config.data.source == "toy":
        return _evaluate_mixture(state, key, config, step)
    return Evaluation(scalars={}, images={"samples": sample_grid(state, key, config)})
