"""AUROC (`gan_jax.metrics.roc`) against hand-computed and independent values."""

import numpy as np
import pytest
import scipy.stats

from gan_jax import metrics
from gan_jax.metrics import roc


def _pairwise_auroc(scores, is_positive):
    """The Mann-Whitney definition itself: every (positive, negative) pair,
    1 for a win, 1/2 for a tie, averaged (O(n^2), float64)."""
    positive = scores[is_positive][:, None]
    negative = scores[~is_positive][None, :]
    return float(np.mean((positive > negative) + 0.5 * (positive == negative)))


def test_hand_computed_case_with_ties():
    # Positives 3, 2, 2 against negatives 2, 1: wins 3>2, 3>1, 2>1, 2>1 and
    # ties 2=2 twice: (4 + 2 * 1/2) / 6 = 5/6.
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    is_positive = np.array([True, True, True, False, False])
    assert metrics.auroc(scores, is_positive) == pytest.approx(5 / 6, abs=1e-15)


def test_perfect_reversed_and_constant_scores():
    labels = np.array([0, 0, 1, 1])
    assert metrics.auroc(np.array([0.1, 0.2, 0.3, 0.4]), labels) == 1.0
    assert metrics.auroc(np.array([0.4, 0.3, 0.2, 0.1]), labels) == 0.0
    assert metrics.auroc(np.full(4, 7.0), labels) == 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pair_count_and_scipy(seed):
    rng = np.random.default_rng(seed)
    # Integer scores: many ties.
    scores = rng.integers(0, 6, 301).astype(np.float64)
    is_positive = rng.random(301) < 0.3
    expected = _pairwise_auroc(scores, is_positive)
    got = metrics.auroc(scores, is_positive)
    # Both are ratios of integers and half-integers over n+ n- < 2^53: exact
    # up to the last division's rounding.
    assert got == pytest.approx(expected, rel=1e-12)
    u_statistic = scipy.stats.mannwhitneyu(scores[is_positive], scores[~is_positive],
                                           alternative="greater").statistic
    assert got == pytest.approx(
        u_statistic / (is_positive.sum() * (~is_positive).sum()), rel=1e-12)
    # Flipping the score or the classes gives the complement.
    assert metrics.auroc(-scores, is_positive) == pytest.approx(1 - got, rel=1e-12)
    assert metrics.auroc(scores, ~is_positive) == pytest.approx(1 - got, rel=1e-12)


def test_average_ranks_match_scipy():
    values = np.array([5.0, 1.0, 5.0, 3.0, 1.0, 1.0, 9.0])
    np.testing.assert_array_equal(roc.average_ranks(values),
                                  scipy.stats.rankdata(values))


@pytest.mark.parametrize("scores, labels, message", [
    ([1.0, 2.0], [1, 1], "both classes"),
    ([1.0, 2.0], [0, 0], "both classes"),
    ([1.0, np.nan], [0, 1], "non-finite"),
    ([1.0, 2.0, 3.0], [0, 1], "one length"),
    ([1.0, 2.0], [0, 2], "booleans"),
])
def test_errors(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        metrics.auroc(np.array(scores), np.array(labels))
