"""Inception Score from a classifier's class probabilities.

Salimans et al. 2016, "Improved Techniques for Training GANs". High when each
sample is classified confidently (low entropy p(y|x)) and the classes are
spread evenly (high entropy marginal p(y)). The function here only sees the
`(n, K)` probabilities; which classifier produced them is the caller's
business (Inception v3 for the published numbers, whose probabilities are
softmax(pool_3 @ W) without the classifier's bias, as in the reference code:
`gan_jax.metrics.features.inception_outputs`).

Host-side float64 NumPy/SciPy, pure.
"""

import numpy as np
from scipy import special

# Row sums further than this from 1 are not probabilities; float32 softmax
# over 1,000 classes is within ~1e-6.
_SUM_TOLERANCE = 1e-3


def _split_score(probabilities: np.ndarray) -> float:
    """exp(mean_i KL(p(y|x_i) || p(y))) with p(y) the mean over the split."""
    marginal = np.mean(probabilities, axis=0)
    # xlogy(0, .) = 0 gives 0 log 0 = 0; where p(y|x) > 0, p(y) > 0 too, so
    # no log 0 is ever multiplied by a positive probability.
    kl = np.sum(special.xlogy(probabilities, probabilities)
                - special.xlogy(probabilities, marginal[None, :]), axis=1)
    return float(np.exp(np.mean(kl)))


def inception_score(probabilities, *,
                    num_splits: int = 10) -> tuple[float, float]:
    """Inception Score: mean and spread over splits (Salimans et al. 2016).

    The n rows are cut into `num_splits` contiguous splits (boundaries at
    floor(s n / num_splits), as in the original code); for each split S,

        IS_S = exp( (1/|S|) sum_{i in S} KL(p(y|x_i) || p_S(y)) ),
        p_S(y) = (1/|S|) sum_{i in S} p(y|x_i),

    with 0 log 0 = 0. IS lies in [1, K]: 1 when every row is the same
    distribution, K when the rows are one-hot and evenly spread over the K
    classes. The rows are used as given, not renormalised.

    Args:
      probabilities: `(n, K)` class probabilities p(y|x_i), each row
        non-negative and summing to 1 within 1e-3; n >= num_splits.
      num_splits: number of splits (10 in the original).

    Returns:
      `(mean, std)` of IS over the splits as Python floats; std is the
      population standard deviation (ddof = 0), as in the original code.

    Raises:
      ValueError: on a non-2-D array, fewer rows than splits, or rows that
        are not probability vectors (non-finite, negative, or not summing
        to 1).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] == 0:
        raise ValueError("probabilities must be an (n, K) array; got shape "
                         f"{probabilities.shape}.")
    if num_splits < 1:
        raise ValueError(f"num_splits must be positive; got {num_splits}.")
    n = len(probabilities)
    if n < num_splits:
        raise ValueError(f"Need at least num_splits = {num_splits} rows; got "
                         f"{n}.")
    if not np.all(np.isfinite(probabilities)):
        raise ValueError("probabilities has non-finite entries.")
    if np.any(probabilities < 0):
        raise ValueError("probabilities has negative entries; pass softmax "
                         "outputs, not logits.")
    sums = np.sum(probabilities, axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"Rows of probabilities must sum to 1; row {worst} "
                         f"sums to {sums[worst]}.")

    bounds = [s * n // num_splits for s in range(num_splits + 1)]
    scores = np.array([_split_score(probabilities[start:stop])
                       for start, stop in zip(bounds[:-1], bounds[1:])],
                      dtype=np.float64)
    return float(np.mean(scores)), float(np.std(scores))
