"""What a run measures and draws at each evaluation.

Samples come from the EMA generator in inference mode. For the 2-D mixtures:
mode coverage and a scatter plot. For images: a grid from a fixed batch of
latents (one row per class for conditional models), so successive grids show
the same latents as training goes on, and, with a feature extractor
(`spec.eval.features`), FID, KID, IS, precision/recall and density/coverage
of `spec.eval.num_samples` samples against as many real images.

With `spec.eval.standing_stats_batches > 0` every evaluation first replaces
the generator's BatchNorm statistics by standing statistics of the EMA weights
(Brock et al. 2019; `standing_stats.with_standing_stats`), once, and measures and
draws with those. (`gan_spec.build` sets it for an EMA generator with
BatchNorm unless the config does.) Every evaluation says which generator it
measured (`measured_generator`: "ema+standing_stats", "ema" or "raw") and,
with image metrics, in which features and after which resize to 299x299
(`feature_labels`: "features", "fid_resize") in its `labels`, which
`final_metrics.json` records beside the numbers. InfoGAN latents (`spec.tricks.infogan_categories`) carry
their categorical code in every draw.

`spec` is the run's `gan_jax.run.gan_spec.GanSpec`, of which these functions
read the `eval`, `model`, `tricks` and `data` sections (the type is not
imported for a hint: the run's layer sits above this one).
"""

from collections.abc import Mapping
import types
from typing import NamedTuple

from absl import logging
import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax.data import toy_mixtures
from gan_jax.evaluation import ensemble
from gan_jax.evaluation import sampling
from gan_jax.evaluation import standing_stats
from gan_jax.evaluation import visualize
from gan_jax.game import growth
from gan_jax.game.state import GANState
from gan_jax import models
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import mode_coverage
from gan_jax.metrics import suite


# `evaluate`'s key streams: the grid uses the key itself and the image metrics
# `fold_in(key, 1)`; standing statistics take a new index so that turning them
# on changes no other draw.
_STANDING_STATS_STREAM = 2

# What is measured: one run's trained state, or an ensemble of them.
Generator = GANState | ensemble.Ensemble


class ImageReference(NamedTuple):
    """The feature extractor and the features of the real images."""
    extractor: features_lib.FeatureExtractor
    real: dict[str, np.ndarray]


def real_image_batches(dataset: tf.data.Dataset, num: int,
                       batch_size: int = 500):
    """The first `num` images of `dataset` (in stored order), in host batches."""
    for batch in tfds.as_numpy(dataset.take(num).batch(batch_size)):
        yield batch["x"]


def load_extractor(eval_options) -> features_lib.FeatureExtractor | None:
    """The extractor of `eval_options` (`spec.eval`), or None (with a warning
    saying how to get its weights) when it is off or its weights are missing:
    a run without metrics still trains and draws its grids."""
    if eval_options.features == "none":
        return None
    try:
        return features_lib.create(eval_options.features, eval_options.feature_path,
                                   fid_resize=eval_options.fid_resize)
    except FileNotFoundError as error:
        logging.warning("Sample-quality metrics are off for this run: %s", error)
        return None


def prepare_reference(spec, dataset: tf.data.Dataset) -> ImageReference | None:
    """Features of the first `spec.eval.num_samples` real images, once per run."""
    extractor = load_extractor(spec.eval)
    if extractor is None:
        return None
    real = features_lib.extract_all(
        extractor, real_image_batches(dataset, spec.eval.num_samples))
    if len(real["features"]) < 2:
        raise ValueError("The dataset has fewer than 2 images to compare with.")
    return ImageReference(extractor, real)


def image_metrics(state: Generator, key: jax.Array, spec,
                  reference: ImageReference) -> dict[str, float]:
    """Sample-quality metrics of the EMA generator (or ensemble) against
    `reference`."""
    num = spec.eval.num_samples
    labels = None
    if spec.model.num_classes:
        labels = sampling.balanced_labels(num, spec.model.num_classes,
                                          spec.data.classes)
    sample_key, kid_key = jax.random.split(key)
    fake = features_lib.extract_all(reference.extractor, sampling.generate_batches(
        state, sample_key, num, latent_dim=spec.model.latent_dim,
        batch_size=min(spec.eval.batch_size, num), labels=labels,
        categories=spec.tricks.infogan_categories))
    return suite.compute(reference.real, fake, metrics=tuple(spec.eval.metrics),
                         key=kid_key)


class Evaluation(NamedTuple):
    scalars: dict[str, float]
    images: dict[str, np.ndarray]  # name -> (H, W, 3) uint8
    # What was measured, in words (e.g. "generator": "ema+standing_stats"):
    # kept beside the scalars in final_metrics.json, never logged as a scalar.
    labels: Mapping[str, str] = types.MappingProxyType({})


def feature_labels(extractor: features_lib.FeatureExtractor) -> dict[str, str]:
    """What the metrics' numbers were measured in: "features" (the network's
    name) and, for a network that resizes its input, "fid_resize" (the
    resize, `gan_jax.metrics.features.fid_resize`), without which a FID is
    not comparable with another."""
    labels = {"features": extractor.name}
    if extractor.resize is not None:
        labels["fid_resize"] = extractor.resize
    return labels


def reference_statistics(path: str, extractor: features_lib.FeatureExtractor,
                         dim: int | None = None):
    """`(mu, sigma, labels)` of `gan_jax.evaluate`'s `--ref_stats` file
    (`frechet.load_statistics`), refused (ValueError,
    FileNotFoundError: one paragraph naming the flag) when it is not a
    statistics file, has another dimension than `dim`, or says it was made
    with other features or another resize than `extractor`'s (a file
    without those labels, such as pytorch-fid's, is taken as it is)."""
    mu, sigma, labels = frechet.load_statistics(path, flag="ref_stats", dim=dim)
    made_with = {"features": extractor.name, "fid_resize": extractor.resize}
    for name, ours in made_with.items():
        theirs = labels.get(name)
        if theirs is not None and ours is not None and theirs != ours:
            option = "--features" if name == "features" else "--fid_resize"
            raise ValueError(
                f"--ref_stats={path} holds statistics of {name}={theirs}, but "
                f"this evaluation uses {name}={ours}: FIDs are comparable only "
                f"with the same {name}. Pass {option}={theirs}, or statistics "
                f"made with {name}={ours} (`--save_stats=FILE`).")
    return mu, sigma, labels


def measured_generator(spec) -> str:
    """The generator an evaluation of `spec` measures, as recorded in
    `final_metrics.json` and `evaluation_<step>.json`.

    "ema" (the EMA weights, `optim.ema_decay > 0`) or "raw" (the training
    weights, `ema_decay = 0`, where `ema_params` equals them), followed by
    "+standing_stats" when the generator has BatchNorm and its statistics are
    re-estimated (`eval.standing_stats_batches > 0`, Brock et al. 2019);
    without that suffix a BatchNorm generator runs with the running
    statistics of the training weights.
    """
    name = "ema" if spec.optim.ema_decay > 0 else "raw"
    if (spec.eval.standing_stats_batches
            and spec.model.name in models.BATCH_NORM_GENERATORS):
        name += "+standing_stats"
    return name


def generator_label(generator: Generator, spec) -> str:
    """`measured_generator` of a run's generator, or of each member of an
    ensemble (the distinct ones, joined by ", ")."""
    if not isinstance(generator, ensemble.Ensemble):
        return measured_generator(spec)
    return ", ".join(dict.fromkeys(measured_generator(member_spec)
                                   for member_spec in generator.specs))


def _evaluate_mixture(state: Generator, key: jax.Array, spec, step: int,
                      draw: bool) -> Evaluation:
    samples = sampling.generate(
        state, key, spec.eval.num_samples, latent_dim=spec.model.latent_dim,
        batch_size=min(spec.eval.batch_size, spec.eval.num_samples),
        categories=spec.tricks.infogan_categories)
    samples = np.asarray(samples, np.float64)
    modes = toy_mixtures.mixture_modes(spec.data.name)
    std = toy_mixtures.mixture_std(spec.data.name)
    # A mode is covered with 20 high-quality samples per 2,500 drawn, so the
    # threshold scales with spec.eval.num_samples (len(samples)).
    scalars = mode_coverage.mixture_mode_metrics(samples, modes, std)
    labels = {"generator": generator_label(state, spec)}
    if not draw:
        return Evaluation(scalars=scalars, images={}, labels=labels)
    title = (f"{spec.data.name} step {step}: "
             f"{scalars['modes_covered']:.0f}/{len(modes)} modes, "
             f"{100 * scalars['high_quality_fraction']:.1f}% high quality")
    members = None
    if isinstance(state, ensemble.Ensemble):  # Coloured by member.
        members = ensemble.member_indices(len(samples), state.weights)
    image = visualize.mixture_scatter(samples, modes, std, title=title,
                                      members=members)
    return Evaluation(scalars=scalars, images={"samples": image}, labels=labels)


def _render(state: Generator, inputs: sampling.GridInputs) -> np.ndarray:
    images = sampling.draw(state, inputs.latents, inputs.labels)
    return visualize.image_grid(images, inputs.num_rows, inputs.num_columns)


def sample_grid(state: Generator, key: jax.Array, spec) -> np.ndarray:
    """The fixed-latent sample grid of `key`, as a uint8 image."""
    return _render(state, sampling.grid_inputs(
        key, spec.model.latent_dim, spec.model.num_classes,
        categories=spec.tricks.infogan_categories, classes=spec.data.classes))


def interpolation_strips(state: Generator, key: jax.Array, spec) -> np.ndarray:
    """Rows of spherical interpolations between pairs of latents."""
    return _render(state, sampling.interpolation_inputs(
        key, latent_dim=spec.model.latent_dim,
        num_classes=spec.model.num_classes,
        categories=spec.tricks.infogan_categories, classes=spec.data.classes))


def evaluation_state(state: Generator, key: jax.Array, spec) -> Generator:
    """The state `evaluate(state, key, ...)` measures: `state` itself, or with
    `spec.eval.standing_stats_batches > 0` its generator with standing
    statistics drawn from `fold_in(key, 2)`. A progressive run's networks
    are those of its current stage and fade-in (`growth.evaluation_view`),
    their images shown at the full size.

    Pictures made outside `evaluate` (e.g. the final interpolation strips)
    should come from this state to show the generator that was measured.
    """
    if isinstance(state, ensemble.Ensemble):  # Each member as its run asks.
        return state._replace(states=tuple(
            evaluation_state(member, key, member_spec)
            for member, member_spec in zip(state.states, state.specs)))
    if spec.model.name == "progressive":
        state = growth.evaluation_view(state, spec.model, spec.data.image_size)
    return standing_stats.with_standing_stats(
        state, jax.random.fold_in(key, _STANDING_STATS_STREAM), spec)


def evaluate(state: Generator, key: jax.Array, spec, step: int,
             reference: ImageReference | None = None, *,
             draw: bool = True) -> Evaluation:
    """Measures (and, with `draw`, draws) the generator of `state` at `step`.

    `state` may be an `ensemble.Ensemble`: its mixture is measured as one
    generator, with `spec` (a member's) for the data and evaluation options;
    a grid then shows the members as consecutive blocks.

    Image metrics need the `reference` from `prepare_reference`; without one,
    an image evaluation only draws the sample grid. Metrics and pictures share
    one `evaluation_state` (standing statistics are estimated once).
    """
    state = evaluation_state(state, key, spec)
    if spec.data.source == "toy":
        return _evaluate_mixture(state, key, spec, step, draw)
    scalars, labels = {}, {"generator": generator_label(state, spec)}
    if reference is not None:
        scalars = image_metrics(state, jax.random.fold_in(key, 1), spec, reference)
        labels.update(feature_labels(reference.extractor))
    images = {"samples": sample_grid(state, key, spec)} if draw else {}
    return Evaluation(scalars=scalars, images=images, labels=labels)
