"""All sample-quality metrics of a set of generated features against real ones.

One call for the trainer and for `gan_jax.evaluate`, so both report the same
names. Inputs are host arrays from `gan_jax.metrics.features.extract_all`.
"""

import jax
import numpy as np

from gan_jax.metrics import classifier_score
from gan_jax.metrics import frechet
from gan_jax.metrics import kernel_distance
from gan_jax.metrics import manifold
from gan_jax.metrics import stacked_mnist

METRICS = ("fid", "kid", "is", "precision_recall", "density_coverage",
           "stacked_mnist")
DEFAULT_METRICS = METRICS[:5]


def check_metrics(names) -> None:
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"Unknown metric(s) {', '.join(unknown)}. Valid metrics: "
                         f"{', '.join(METRICS)}. Set --config.eval.metrics.")


def compute(real: dict[str, np.ndarray], fake: dict[str, np.ndarray], *,
            metrics, key: jax.Array) -> dict[str, float]:
    """The requested `metrics` as a flat dict of floats.

    Args:
      real, fake: `{"features": (n, d), "probabilities": (n, K)}` and, for
        Stacked MNIST, `"channel_digits": (n, 3)` of the fakes.
      metrics: names from `METRICS`.
      key: the randomness of KID's subsets.
    """
    check_metrics(metrics)
    result = {}
    if "fid" in metrics:
        result["fid"] = frechet.frechet_distance(real["features"], fake["features"])
    if "kid" in metrics:
        subset = min(1000, len(real["features"]), len(fake["features"]))
        mean, std = kernel_distance.kernel_inception_distance(
            real["features"], fake["features"], num_subsets=100,
            subset_size=subset, key=key)
        result.update(kid=mean, kid_std=std)
    if "is" in metrics:
        mean, std = classifier_score.inception_score(fake["probabilities"])
        result.update(inception_score=mean, inception_score_std=std)
    if "precision_recall" in metrics:
        precision, recall = manifold.precision_recall(real["features"],
                                                      fake["features"])
        result.update(precision=precision, recall=recall)
    if "density_coverage" in metrics:
        density, coverage = manifold.density_coverage(real["features"],
                                                      fake["features"])
        result.update(density=density, coverage=coverage)
    if "stacked_mnist" in metrics and "channel_digits" in fake:
        result.update({f"stacked_{k}": v for k, v in
                       stacked_mnist.stacked_mnist_metrics(
                           fake["channel_digits"]).items()})
    return {name: float(value) for name, value in result.items()}
