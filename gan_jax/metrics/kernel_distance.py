"""Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel.

Binkowski et al. 2018, "Demystifying MMD GANs". Unlike the Frechet distance,
the estimator is unbiased, so values from different sample sizes compare and
small sample sets are usable. The functions here only see `(n, d)` feature
arrays; with Inception pool features this is KID.

The subsets are drawn with `jax.random`; the kernel sums are host-side
float64 NumPy: KID values (often 1e-3 or less) are small differences of
kernel means of order one, and float64 keeps them clear of round-off.
"""

import jax
import numpy as np

from gan_jax.metrics import feature_arrays

_NEEDS_PAIRS = dict(min_samples=2, purpose=" for the unbiased estimate")


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for all pairs of rows."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(a: np.ndarray, b: np.ndarray) -> float:
    m, n = len(a), len(b)
    k_aa = _polynomial_kernel(a, a)
    k_bb = _polynomial_kernel(b, b)
    k_ab = _polynomial_kernel(a, b)
    # The i = j terms k(x_i, x_i) are what make the plain V-statistic biased.
    within_a = (np.sum(k_aa) - np.trace(k_aa)) / (m * (m - 1))
    within_b = (np.sum(k_bb) - np.trace(k_bb)) / (n * (n - 1))
    return float(within_a + within_b - 2.0 * np.mean(k_ab))


def mmd2_unbiased(features_a, features_b) -> float:
    """Unbiased MMD^2 between two feature sets, cubic polynomial kernel.

    With k(x, y) = (x . y / d + 1)^3, x_1..x_m from `features_a` and
    y_1..y_n from `features_b` (Gretton et al. 2012, eq. 3; Binkowski et al.
    2018):

        MMD^2_u = 1/(m (m-1)) sum_{i != j} k(x_i, x_j)
                + 1/(n (n-1)) sum_{i != j} k(y_i, y_j)
                - 2/(m n) sum_{i, j} k(x_i, y_j)

    Its expectation is the population MMD^2, so it can be negative when the
    distributions are equal.

    Args:
      features_a: `(m, d)` features, m >= 2.
      features_b: `(n, d)` features, n >= 2.

    Returns:
      MMD^2_u as a Python float.

    Raises:
      ValueError: on fewer than 2 samples in a set or mismatched dimensions.
    """
    a = feature_arrays.as_features(features_a, "features_a", **_NEEDS_PAIRS)
    b = feature_arrays.as_features(features_b, "features_b", **_NEEDS_PAIRS)
    feature_arrays.check_same_dim(a, b)
    return _mmd2_unbiased(a, b)


def _subset_indices(key: jax.Array, n: int, size: int,
                    num_subsets: int) -> np.ndarray:
    """`(num_subsets, size)` row indices, each row without replacement."""
    keys = jax.random.split(key, num_subsets)
    choose = jax.vmap(
        lambda k: jax.random.choice(k, n, shape=(size,), replace=False))
    return np.asarray(choose(keys))


def kernel_inception_distance(features_a, features_b, *,
                              num_subsets: int = 100, subset_size: int = 1000,
                              key: jax.Array) -> tuple[float, float]:
    """KID: unbiased MMD^2 averaged over random subsets (Binkowski et al. 2018).

    Each of `num_subsets` estimates is `mmd2_unbiased` on m = min(subset_size,
    n_a, n_b) rows of each set, drawn without replacement (independently for
    each subset and each set), as in the reference implementation and
    torch-fidelity. Subsets bound the cost at O(num_subsets m^2 d) and give a
    spread; the mean is unbiased for the population MMD^2 at any m.

    Args:
      features_a: `(n_a, d)` features, n_a >= 2.
      features_b: `(n_b, d)` features, n_b >= 2.
      num_subsets: number of subset pairs to average over.
      subset_size: rows per subset, capped at the smaller set's size.
      key: a `jax.random` key; the same key gives the same subsets.

    Returns:
      `(mean, std)` over the subsets, as Python floats; std is the population
      standard deviation (ddof = 0) of the per-subset estimates, as in the
      reference code. It is their spread, not the standard error of the mean.

    Raises:
      ValueError: on fewer than 2 samples, mismatched dimensions,
        num_subsets < 1 or subset_size < 2.
    """
    a = feature_arrays.as_features(features_a, "features_a", **_NEEDS_PAIRS)
    b = feature_arrays.as_features(features_b, "features_b", **_NEEDS_PAIRS)
    feature_arrays.check_same_dim(a, b)
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be positive; got {num_subsets}.")
    if subset_size < 2:
        raise ValueError(f"subset_size must be at least 2; got {subset_size}.")
    size = min(subset_size, len(a), len(b))
    key_a, key_b = jax.random.split(key)
    subsets_a = _subset_indices(key_a, len(a), size, num_subsets)
    subsets_b = _subset_indices(key_b, len(b), size, num_subsets)
    estimates = np.array([_mmd2_unbiased(a[i], b[j])
                          for i, j in zip(subsets_a, subsets_b)],
                         dtype=np.float64)
    return float(np.mean(estimates)), float(np.std(estimates))
