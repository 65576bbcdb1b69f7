"""Nearest training neighbours of generated samples: a memorisation check.

A generator that copies its training set puts its samples closer to training
points than fresh real data is. Comparing the two nearest-neighbour distance
distributions, generated-to-train against held-out-to-train, is the idea of
the data-copying test of Meehan et al. 2020, "A Non-Parametric Test to Detect
Data-Copying in Generative Models"; `memorization_gap` reports their means.
The nearest neighbours themselves are what the usual figure of samples beside
their closest training images shows.

Host-side float64 NumPy, pure; distances are computed a block of query rows
at a time, so memory is O(batch_size * n_references).
"""

import numpy as np

from gan_jax.metrics import feature_arrays
from gan_jax.metrics import manifold

# Query rows per distance block: 512 x 50,000 float64 distances is ~200 MB.
_BATCH_SIZE = 512


def nearest_neighbours(queries, references, *,
                       batch_size: int = _BATCH_SIZE
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest reference point of each query, by Euclidean distance.

    The search ranks squared distances from ||q||^2 + ||r||^2 - 2 q.r (one
    matrix product per block); the returned distance is then recomputed from
    the explicit difference q - r, so an exact copy is at distance exactly 0
    rather than round-off of order 1e-8 ||q||. On ties the lowest index wins.

    Args:
      queries: `(n, d)` points to look up (e.g. generated features).
      references: `(m, d)` points to search (e.g. training features).
      batch_size: query rows per distance block.

    Returns:
      `(indices, distances)`: `(n,)` int64 indices into `references` and the
      `(n,)` float64 Euclidean distances to those points.

    Raises:
      ValueError: on empty, non-finite or mismatched inputs, or
        batch_size < 1.
    """
    queries = feature_arrays.as_features(queries, "queries")
    references = feature_arrays.as_features(references, "references")
    if queries.shape[1] != references.shape[1]:
        raise ValueError(f"Feature dimensions differ: {queries.shape[1]} and "
                         f"{references.shape[1]}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}.")

    reference_sq_norms = np.einsum("ij,ij->i", references, references)
    indices = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), batch_size):
        block = queries[start:start + batch_size]
        sq = manifold.pairwise_squared_distances(
            block, references, b_sq_norms=reference_sq_norms)
        indices[start:start + len(block)] = np.argmin(sq, axis=1)
    distances = np.linalg.norm(queries - references[indices], axis=1)
    return indices, distances


def memorization_gap(generated, train, held_out, *,
                     batch_size: int = _BATCH_SIZE) -> dict[str, float]:
    """Mean nearest-training-neighbour distances of generated and held-out data.

    With NN_T(x) = min_{t in train} ||x - t||,

        generated_to_train = mean_{g in generated} NN_T(g)
        held_out_to_train  = mean_{h in held_out} NN_T(h)
        ratio              = generated_to_train / held_out_to_train

    Held-out real data sets the scale of "close" for unseen samples of the
    true distribution (Meehan et al. 2020): a generator that memorises
    training images has a ratio well below 1, while one that only matches
    the distribution has a ratio near 1 or above. Means hide a few copies
    among many novel samples; `nearest_neighbours` gives the per-sample
    distances for a closer look.

    Args:
      generated: `(n_g, d)` features of generated samples.
      train: `(n_t, d)` features of the training set.
      held_out: `(n_h, d)` features of real data not trained on.
      batch_size: query rows per distance block.

    Returns:
      A dict of floats: `generated_to_train`, `held_out_to_train` and
      `ratio` (inf when only held_out_to_train is 0, NaN when both are).

    Raises:
      ValueError: as `nearest_neighbours`.
    """
    _, generated_distances = nearest_neighbours(generated, train,
                                                batch_size=batch_size)
    _, held_out_distances = nearest_neighbours(held_out, train,
                                               batch_size=batch_size)
    generated_to_train = float(np.mean(generated_distances))
    held_out_to_train = float(np.mean(held_out_distances))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.float64(generated_to_train) / held_out_to_train)
    return {
        "generated_to_train": generated_to_train,
        "held_out_to_train": held_out_to_train,
        "ratio": ratio,
    }
