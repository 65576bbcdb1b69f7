"""Kernel Inception Distance against a naive double-loop reference."""

import jax
import numpy as np
import pytest

from gan_jax.metrics import kernel_distance


def _naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Binkowski et al. 2018's unbiased MMD^2, one kernel value at a time."""
    d = x.shape[1]

    def k(u, v):
        return (sum(ui * vi for ui, vi in zip(u, v)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


@pytest.mark.parametrize("m, n", [(2, 2), (7, 9), (12, 5)])
def test_mmd2_matches_naive_reference(m, n):
    rng = np.random.default_rng(m * n)
    x = rng.normal(size=(m, 3))
    y = rng.normal(size=(n, 3)) + 0.7
    assert kernel_distance.mmd2_unbiased(x, y) == pytest.approx(
        _naive_mmd2(x, y), rel=1e-12)


def test_full_subsets_equal_mmd2_of_the_sets():
    # With subset_size >= n every subset is a permutation of the whole set,
    # and MMD^2_u does not depend on the order of the rows.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 60, 4))
    mean, std = kernel_distance.kernel_inception_distance(
        x, y, num_subsets=5, subset_size=1000, key=jax.random.key(0))
    assert mean == pytest.approx(kernel_distance.mmd2_unbiased(x, y),
                                 rel=1e-10)
    assert std < 1e-12


def test_same_distribution_near_zero_and_shift_positive():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 16))
    same = rng.normal(size=(500, 16))
    shifted = rng.normal(size=(500, 16)) + 0.5
    key = jax.random.key(3)
    mean, std = kernel_distance.kernel_inception_distance(
        x, same, num_subsets=50, subset_size=100, key=key)
    # Overlapping subsets are correlated, so the mean's sd is above
    # std / sqrt(50) but well below std; the biased V-statistic would sit
    # near 2 (E k(x, x) - E k(x, y)) / m ~ 0.14, several std above 0.
    assert std > 0.0
    assert abs(mean) < std
    shift_mean, shift_std = kernel_distance.kernel_inception_distance(
        x, shifted, num_subsets=50, subset_size=100, key=key)
    assert shift_mean > 5 * shift_std
    assert shift_mean > 10 * abs(mean)


def test_key_determines_subsets():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 5))
    y = rng.normal(size=(60, 5)) + 0.2
    kwargs = dict(num_subsets=5, subset_size=20)
    first = kernel_distance.kernel_inception_distance(
        x, y, key=jax.random.key(7), **kwargs)
    again = kernel_distance.kernel_inception_distance(
        x, y, key=jax.random.key(7), **kwargs)
    other = kernel_distance.kernel_inception_distance(
        x, y, key=jax.random.key(8), **kwargs)
    assert first == again
    assert first != other


def test_subsets_are_drawn_without_replacement():
    # Shapes shared with the tests above, so nothing new is compiled.
    indices = kernel_distance._subset_indices(jax.random.key(5), 60, 60, 5)
    assert indices.shape == (5, 60)
    for row in indices:
        np.testing.assert_array_equal(np.sort(row), np.arange(60))
    indices = kernel_distance._subset_indices(jax.random.key(5), 60, 20, 5)
    assert all(len(np.unique(row)) == 20 for row in indices)


def test_invalid_inputs_raise():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="differ"):
        kernel_distance.mmd2_unbiased(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        kernel_distance.mmd2_unbiased(np.zeros((1, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="num_subsets"):
        kernel_distance.kernel_inception_distance(
            np.zeros((4, 2)), np.zeros((4, 2)), num_subsets=0, key=key)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_distance.kernel_inception_distance(
            np.zeros((4, 2)), np.zeros((4, 2)), subset_size=1, key=key)
