"""Evaluation metrics: pure functions of samples or feature arrays.

    from gan_jax import metrics
    fid = metrics.frechet_distance(real_features, fake_features)

`features/` holds the networks that turn images into those arrays (the MNIST
classifier, InceptionV3); no metric knows which generator made the samples.
`suite.compute` runs a named set of them, as training's evaluations do.
"""

from gan_jax.metrics.roc import auroc
from gan_jax.metrics.classifier_score import inception_score
from gan_jax.metrics.frechet import frechet_distance
from gan_jax.metrics.frechet import frechet_distance_from_statistics
from gan_jax.metrics.kernel_distance import kernel_inception_distance
from gan_jax.metrics.kernel_distance import mmd2_unbiased
from gan_jax.metrics.manifold import density_coverage
from gan_jax.metrics.manifold import precision_recall
from gan_jax.metrics.memorization import memorization_gap
from gan_jax.metrics.mode_coverage import mixture_mode_metrics

__all__ = [
    "auroc",
    "density_coverage",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "inception_score",
    "kernel_inception_distance",
    "memorization_gap",
    "mixture_mode_metrics",
    "mmd2_unbiased",
    "precision_recall",
]
