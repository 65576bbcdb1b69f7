"""Inception Score on probabilities whose score is known by hand."""

import numpy as np
import pytest

from gan_jax.metrics import classifier_score


def test_uniform_probabilities_score_one():
    probabilities = np.full((100, 10), 0.1, dtype=np.float32)
    mean, std = classifier_score.inception_score(probabilities)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 5, 1000])
def test_even_one_hot_scores_num_classes(num_classes):
    # Labels cycle 0..K-1 and each of the 10 splits holds whole cycles, so
    # p(y) is uniform in every split and each KL is log K.
    labels = np.arange(10 * num_classes) % num_classes
    probabilities = np.eye(num_classes)[labels]
    mean, std = classifier_score.inception_score(probabilities)
    assert mean == pytest.approx(num_classes, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_hand_computed_two_splits():
    probabilities = np.array([[0.5, 0.5], [1.0, 0.0],   # Split 1.
                              [1.0, 0.0], [0.0, 1.0]])  # Split 2.
    # Split 1: p(y) = (3/4, 1/4);
    #   KL_1 = 1/2 log((1/2)/(3/4)) + 1/2 log((1/2)/(1/4)) = 1/2 log(4/3),
    #   KL_2 = log(1/(3/4)) = log(4/3);
    #   IS = exp(3/4 log(4/3)) = (4/3)^(3/4).
    # Split 2: p(y) = (1/2, 1/2), each KL = log 2, IS = 2.
    first, second = (4 / 3) ** 0.75, 2.0
    mean, std = classifier_score.inception_score(probabilities, num_splits=2)
    assert mean == pytest.approx((first + second) / 2, rel=1e-12)
    assert std == pytest.approx((second - first) / 2, rel=1e-12)


def test_split_boundaries_are_floored():
    # n = 5, 2 splits: rows [0, 2) and [2, 5) (floor(5 / 2) = 2), giving
    # IS 2 and 1. Cutting at 3 instead would give 6.75^(1/3) ~ 1.89 and 1.
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0],
                              [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    mean, std = classifier_score.inception_score(probabilities, num_splits=2)
    assert mean == pytest.approx(1.5, rel=1e-12)
    assert std == pytest.approx(0.5, rel=1e-12)


def test_tiny_round_off_in_row_sums_is_accepted():
    probabilities = np.full((20, 4), 0.25) + 1e-5
    mean, _ = classifier_score.inception_score(probabilities, num_splits=2)
    assert mean == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("probabilities, match", [
    (np.array([[0.5, 0.6], [0.5, 0.5]]), "sum to 1"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), "negative"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), "non-finite"),
    (np.array([0.5, 0.5]), r"\(n, K\)"),
])
def test_invalid_probabilities_raise(probabilities, match):
    with pytest.raises(ValueError, match=match):
        classifier_score.inception_score(probabilities, num_splits=1)


def test_too_few_rows_raise():
    with pytest.raises(ValueError, match="at least num_splits"):
        classifier_score.inception_score(np.full((5, 2), 0.5))
    with pytest.raises(ValueError, match="num_splits"):
        classifier_score.inception_score(np.full((5, 2), 0.5), num_splits=0)
