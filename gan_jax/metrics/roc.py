"""Area under the ROC curve of a scalar score, in its Mann-Whitney form.

    AUROC = P(s+ > s-) + 1/2 P(s+ = s-)
          = (1 / (n+ n-)) sum_{i in +} sum_{j in -} [s_i > s_j] + 1/2 [s_i = s_j]

over every (positive, negative) pair: the probability that a positive (here
an anomaly) scores above a negative, ties counting one half (Hanley & McNeil
1982, "The meaning and use of the area under a receiver operating
characteristic (ROC) curve"). It equals the trapezoidal area under the ROC
curve and the Mann-Whitney U statistic divided by n+ n-. Computed from
average ranks (ties share the mean of their ranks), O(n log n):

    AUROC = (R+ - n+ (n+ + 1) / 2) / (n+ n-),   R+ = sum of positives' ranks.

Host-side float64 NumPy, pure.
"""

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values` (1-D), tied values sharing their mean rank."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Starts of the runs of equal values in sorted order.
    starts = np.flatnonzero(np.concatenate(
        [[True], sorted_values[1:] != sorted_values[:-1]]))
    ends = np.concatenate([starts[1:], [len(values)]])
    # A run covering sorted positions s..e-1 holds ranks s+1..e: mean (s+1+e)/2.
    run_ranks = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def auroc(scores, is_positive) -> float:
    """AUROC of `scores` for telling `is_positive` examples from the others.

    Args:
      scores: `(n,)` finite scores, higher meaning more positive (anomalous).
      is_positive: `(n,)` booleans (or 0/1), the positive class.

    Returns:
      The area in [0, 1]: 1 when every positive outscores every negative,
      0.5 for a constant score.

    Raises:
      ValueError: shapes differ, scores are not finite, or one class is empty
        (the area is then undefined).
    """
    scores = np.asarray(scores, np.float64)
    is_positive = np.asarray(is_positive)
    if scores.ndim != 1 or is_positive.shape != scores.shape:
        raise ValueError("scores and is_positive must be 1-D arrays of one length; "
                         f"got shapes {scores.shape} and {is_positive.shape}.")
    if not np.all(np.isin(is_positive, (0, 1))):
        raise ValueError("is_positive must hold booleans (or 0/1).")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores has non-finite entries.")
    is_positive = is_positive.astype(bool)
    num_positive = int(is_positive.sum())
    num_negative = len(scores) - num_positive
    if not num_positive or not num_negative:
        raise ValueError(f"AUROC needs both classes; got {num_positive} positive "
                         f"and {num_negative} negative examples.")
    positive_rank_sum = float(average_ranks(scores)[is_positive].sum())
    u_statistic = positive_rank_sum - num_positive * (num_positive + 1) / 2.0
    return u_statistic / (num_positive * num_negative)
