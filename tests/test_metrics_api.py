"""The package-level metrics API (`from gan_jax import metrics`), each name
checked on inputs whose answer is known by hand."""

import jax
import numpy as np
import pytest

from gan_jax import metrics


def _points(n=200, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float64)


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift():
    # Shifting a set moves its mean and keeps its covariance: FID = ||shift||^2.
    x = _points()
    shift = np.array([1.0, -2.0, 0.5])
    assert metrics.frechet_distance(x, x + shift) == pytest.approx(
        float(shift @ shift), rel=1e-6)
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_inception_score_is_one_for_equal_rows_and_k_for_spread_one_hot_rows():
    uniform = np.full((40, 4), 0.25)
    one_hot = np.eye(4)[np.arange(40) % 4]
    assert metrics.inception_score(uniform, num_splits=2)[0] == pytest.approx(1.0)
    assert metrics.inception_score(one_hot, num_splits=2)[0] == pytest.approx(4.0)


def test_kernel_inception_distance_separates_a_set_from_a_shifted_copy():
    x, y = _points(seed=1), _points(seed=2)
    same, _ = metrics.kernel_inception_distance(x, y, num_subsets=10, subset_size=100,
                                                key=jax.random.key(0))
    moved, _ = metrics.kernel_inception_distance(x, y + 3.0, num_subsets=10,
                                                 subset_size=100, key=jax.random.key(0))
    # Two draws of one distribution: unbiased MMD^2 near 0 (its spread over
    # subsets of 100 is ~0.1); a mean shift of 3 in each of 3 dimensions
    # moves the cubic kernel's terms by hundreds.
    assert abs(same) < 1e-3 * moved


def test_precision_recall_and_density_coverage_of_a_set_against_itself():
    x = _points()
    assert metrics.precision_recall(x, x) == (1.0, 1.0)
    # Each point lies in its own ball and in those of the real points that
    # count it among their k nearest: k balls per point on average, so the
    # density (the count over k M) is exactly 1 when no distances tie.
    assert metrics.density_coverage(x, x) == (1.0, 1.0)
    far = x + 100.0
    assert metrics.precision_recall(x, far) == (0.0, 0.0)
    assert metrics.density_coverage(x, far) == (0.0, 0.0)
