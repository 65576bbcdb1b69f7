"""k-NN manifold metrics: precision/recall and density/coverage.

Each feature set's manifold is estimated as the union of balls around its
points, ball i having radius r_i, the distance from point i to its k-th
nearest neighbour in the same set (not counting itself). Then:

* Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models": precision is the fraction of generated
  points inside the real manifold, recall the fraction of real points inside
  the generated manifold.
* Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models": density counts how many real balls hold each generated point
  (robust to real outliers with big balls), coverage is the fraction of real
  balls holding at least one generated point (only the real manifold, which
  generated outliers cannot inflate).

Host-side float64 NumPy, pure. Distances are computed a block of rows at a
time, so memory is O(batch_size * n), never n x n.
"""

from collections.abc import Iterator

import numpy as np

from gan_jax.metrics import feature_arrays

# Rows per distance block: 512 x 50,000 float64 distances is ~200 MB.
_BATCH_SIZE = 512


def _check_k(k: int, features: np.ndarray, name: str) -> None:
    if not 1 <= k < len(features):
        raise ValueError(f"k must be in [1, n - 1] for the k-th neighbour of "
                         f"each point of {name}; got k = {k} with n = "
                         f"{len(features)}.")


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}.")


def _squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def pairwise_squared_distances(a, b, a_sq_norms=None,
                               b_sq_norms=None) -> np.ndarray:
    """`(n_a, n_b)` squared Euclidean distances ||a_i - b_j||^2, in float64.

    Uses ||a_i||^2 + ||b_j||^2 - 2 a_i . b_j, one matrix product instead of
    an (n_a, n_b, d) difference array, clipped at 0 against round-off. The
    absolute error is ~1e-16 (||a_i||^2 + ||b_j||^2), exact for small
    integer coordinates.

    Args:
      a: `(n_a, d)` points.
      b: `(n_b, d)` points.
      a_sq_norms: optional precomputed `(n_a,)` squared norms of `a`.
      b_sq_norms: optional precomputed `(n_b,)` squared norms of `b`.

    Returns:
      The `(n_a, n_b)` float64 squared distances.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a_sq_norms is None:
        a_sq_norms = _squared_norms(a)
    if b_sq_norms is None:
        b_sq_norms = _squared_norms(b)
    sq = a_sq_norms[:, None] + b_sq_norms[None, :] - 2.0 * (a @ b.T)
    return np.maximum(sq, 0.0)


def _blocks(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _kth_neighbour_sq_radii(features: np.ndarray, k: int,
                            batch_size: int) -> np.ndarray:
    """Squared distance of each point to its k-th nearest other point."""
    sq_norms = _squared_norms(features)
    radii = np.empty(len(features), dtype=np.float64)
    for rows in _blocks(len(features), batch_size):
        sq = pairwise_squared_distances(features[rows], features,
                                        sq_norms[rows], sq_norms)
        # The point itself is at distance 0, the smallest, so position k
        # (0-based) is the k-th neighbour excluding it. Duplicates of a point
        # count as neighbours, as in the reference implementations.
        radii[rows] = np.partition(sq, k, axis=1)[:, k]
    return radii


def precision_recall(real_features, fake_features, *, k: int = 3,
                     batch_size: int = _BATCH_SIZE) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    With r_i the distance from real point x_i to its k-th nearest real
    neighbour and s_j the same for generated point y_j among the generated,

        precision = (1/M) sum_j 1[exists i: ||y_j - x_i|| <= r_i]
        recall    = (1/N) sum_i 1[exists j: ||x_i - y_j|| <= s_j]

    The balls are closed (<=), as in the reference implementation. The paper
    uses k = 3 and N = M = 50,000.

    Args:
      real_features: `(N, d)` real features, N > k.
      fake_features: `(M, d)` generated features, M > k.
      k: neighbourhood size for the radii.
      batch_size: rows per distance block (memory ~ 8 batch_size max(N, M)
        bytes per block).

    Returns:
      `(precision, recall)` as Python floats in [0, 1].

    Raises:
      ValueError: on empty, non-finite or mismatched features, or k outside
        [1, n - 1] for either set.
    """
    real = feature_arrays.as_features(real_features, "real_features")
    fake = feature_arrays.as_features(fake_features, "fake_features")
    feature_arrays.check_same_dim(real, fake)
    _check_k(k, real, "real_features")
    _check_k(k, fake, "fake_features")
    _check_batch_size(batch_size)

    real_radii = _kth_neighbour_sq_radii(real, k, batch_size)
    fake_radii = _kth_neighbour_sq_radii(fake, k, batch_size)
    real_sq_norms = _squared_norms(real)
    fake_sq_norms = _squared_norms(fake)
    fake_in_real = np.zeros(len(fake), dtype=bool)
    real_in_fake = np.zeros(len(real), dtype=bool)
    # One pass over fake row blocks serves both directions: the block's rows
    # answer precision, its columns accumulate recall.
    for rows in _blocks(len(fake), batch_size):
        sq = pairwise_squared_distances(fake[rows], real, fake_sq_norms[rows],
                                        real_sq_norms)
        fake_in_real[rows] = np.any(sq <= real_radii[None, :], axis=1)
        real_in_fake |= np.any(sq <= fake_radii[rows, None], axis=0)
    return float(np.mean(fake_in_real)), float(np.mean(real_in_fake))


def density_coverage(real_features, fake_features, *, k: int = 5,
                     batch_size: int = _BATCH_SIZE) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020).

    With r_i the distance from real point x_i to its k-th nearest real
    neighbour, B(x_i, r_i) the open ball around it, and generated points
    y_1..y_M,

        density  = 1/(k M) sum_j sum_i 1[y_j in B(x_i, r_i)]
        coverage = (1/N) sum_i 1[min_j ||x_i - y_j|| < r_i]

    The balls are open (<), as in the reference implementation. Density is
    about 1 (in expectation) when real and generated come from one
    distribution and can exceed 1; coverage is in [0, 1]. The paper uses
    k = 5.

    Args:
      real_features: `(N, d)` real features, N > k.
      fake_features: `(M, d)` generated features, M >= 1.
      k: neighbourhood size for the real radii.
      batch_size: rows per distance block (memory ~ 8 batch_size M bytes).

    Returns:
      `(density, coverage)` as Python floats.

    Raises:
      ValueError: on empty, non-finite or mismatched features, or k outside
        [1, N - 1].
    """
    real = feature_arrays.as_features(real_features, "real_features")
    fake = feature_arrays.as_features(fake_features, "fake_features")
    feature_arrays.check_same_dim(real, fake)
    _check_k(k, real, "real_features")
    _check_batch_size(batch_size)

    real_radii = _kth_neighbour_sq_radii(real, k, batch_size)
    real_sq_norms = _squared_norms(real)
    fake_sq_norms = _squared_norms(fake)
    balls_per_fake = np.zeros(len(fake), dtype=np.int64)
    covered = np.empty(len(real), dtype=bool)
    # One pass over real row blocks: rows give coverage, columns add up the
    # density counts.
    for rows in _blocks(len(real), batch_size):
        sq = pairwise_squared_distances(real[rows], fake, real_sq_norms[rows],
                                        fake_sq_norms)
        inside = sq < real_radii[rows, None]
        balls_per_fake += np.sum(inside, axis=0)
        covered[rows] = np.any(inside, axis=1)
    density = float(np.sum(balls_per_fake)) / (k * len(fake))
    return density, float(np.mean(covered))
