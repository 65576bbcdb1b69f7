"""Validation shared by the metrics that take `(n, d)` feature arrays."""

import numpy as np


def as_features(features, name: str, *, min_samples: int = 1,
                purpose: str = "") -> np.ndarray:
    """`features` as a finite float64 `(n, d)` array with `n >= min_samples`.

    Args:
      features: array-like of shape `(n, d)`.
      name: how error messages call it.
      min_samples: the fewest rows the metric can use.
      purpose: why it needs them, appended to that error message.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) array; got shape "
                         f"{features.shape}.")
    if len(features) < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples{purpose}; "
                         f"got {len(features)}.")
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name} has non-finite entries.")
    return features


def check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature dimensions differ: {a.shape[1]} and "
                         f"{b.shape[1]}.")
