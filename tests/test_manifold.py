"""Precision/recall and density/coverage on point sets solved by hand."""

import numpy as np
import pytest

from gan_jax.metrics import manifold


def _column(values) -> np.ndarray:
    """1-D points as an (n, 1) feature array."""
    return np.asarray(values, dtype=np.float64)[:, None]


# Reals at 0, 1, 2, 3: with k = 1 every real radius is 1.
REALS = _column([0, 1, 2, 3])


def _brute_force(real, fake, k_pr, k_dc):
    """Both metrics from full distance matrices of explicit differences."""
    def radii(x, k):
        full = np.linalg.norm(x[:, None] - x[None], axis=-1)
        return np.sort(full, axis=1)[:, k]  # Column 0 is the point itself.

    cross = np.linalg.norm(fake[:, None] - real[None], axis=-1)  # (M, N).
    real_r, fake_r = radii(real, k_pr), radii(fake, k_pr)
    precision = np.mean(np.any(cross <= real_r[None], axis=1))
    recall = np.mean(np.any(cross <= fake_r[:, None], axis=0))
    real_r = radii(real, k_dc)
    density = np.sum(cross < real_r[None]) / (k_dc * len(fake))
    coverage = np.mean(np.min(cross, axis=0) < real_r)
    return precision, recall, density, coverage


def test_precision_recall_1d_by_hand():
    fakes = _column([0, 0.5, 4, 4.5, 9, 10, 10.5])
    # k = 1 fake radii: 0 -> 0.5, 0.5 -> 0.5, 4 -> 0.5, 4.5 -> 0.5, 9 -> 1,
    # 10 -> 0.5, 10.5 -> 0.5.
    # Precision: 0 and 0.5 lie in the balls of reals 0 and 1; 4 lies on the
    # boundary of real 3's ball (closed: inside); 4.5, 9, 10, 10.5 are out.
    # -> 3/7.
    # Recall: real 0 is in fake 0's ball; real 1 on the boundary of fake
    # 0.5's ball (inside); reals 2 and 3 are 1.5 and 1 from the nearest
    # fakes, beyond radius 0.5. -> 2/4.
    precision, recall = manifold.precision_recall(REALS, fakes, k=1)
    assert precision == 3 / 7
    assert recall == 2 / 4
    assert isinstance(precision, float) and isinstance(recall, float)


def test_precision_recall_2d_by_hand():
    square = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
    # k = 2: each corner's 2nd nearest other corner is an adjacent one at 1.
    fakes = np.array([[0.5, 0.5], [2, 0], [2, 2]], dtype=np.float64)
    # (0.5, 0.5) is sqrt(0.5) from every corner: in. (2, 0) is exactly 1
    # from (1, 0): on the boundary, in. (2, 2) is sqrt 2 > 1 from (1, 1): out.
    # Fake radii (k = 2, 2nd nearest of the other two fakes): sqrt 4.5,
    # sqrt 2.5, sqrt 4.5; every corner is within sqrt 0.5 of (0.5, 0.5).
    precision, recall = manifold.precision_recall(square, fakes, k=2)
    assert precision == 2 / 3
    assert recall == 1.0


def test_density_coverage_1d_by_hand():
    fakes = _column([0.5, 1.5, 1, 4, 10])
    # Open real balls of radius 1 (k = 1). Real balls holding each fake:
    # 0.5 -> {0, 1}; 1.5 -> {1, 2}; 1 -> {1} (0 and 2 are on the boundary,
    # outside); 4 -> {} (on real 3's boundary); 10 -> {}.
    # Density = (2 + 2 + 1 + 0 + 0) / (k M) = 5 / 5 = 1.
    # Coverage: reals 0, 1, 2 have a fake at 0.5, 0, 0.5 < 1; real 3's
    # nearest fake (4) is at exactly 1, not < 1. -> 3/4.
    density, coverage = manifold.density_coverage(REALS, fakes, k=1)
    assert density == 1.0
    assert coverage == 3 / 4


def test_density_coverage_2d_k2():
    square = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
    # All radii 1 with k = 2. (0.5, 0.5) is in all 4 balls; (0.5, 0) in the
    # balls of (0, 0) and (1, 0) (distance 0.5) but not of (0, 1), (1, 1)
    # (sqrt 1.25). Density = (4 + 2) / (2 * 2) = 1.5; coverage = 4/4.
    fakes = np.array([[0.5, 0.5], [0.5, 0.0]])
    density, coverage = manifold.density_coverage(square, fakes, k=2)
    assert density == 1.5
    assert coverage == 1.0


@pytest.mark.parametrize("batch_size", [1, 5, 16, 10_000])
def test_blocking_matches_brute_force(batch_size):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(37, 3))
    fake = rng.normal(size=(29, 3)) + 1.0
    expected = _brute_force(real, fake, k_pr=3, k_dc=5)
    precision, recall = manifold.precision_recall(real, fake, k=3,
                                                  batch_size=batch_size)
    density, coverage = manifold.density_coverage(real, fake, k=5,
                                                  batch_size=batch_size)
    assert (precision, recall, density, coverage) == pytest.approx(expected,
                                                                   abs=1e-12)
    # The answers are not trivial, so the comparison can tell them apart.
    assert 0 < precision < 1 and 0 < recall < 1 and 0 < coverage < 1


def test_identical_sets():
    features = np.random.default_rng(1).normal(size=(50, 4))
    assert manifold.precision_recall(features, features) == (1.0, 1.0)
    _, coverage = manifold.density_coverage(features, features)
    assert coverage == 1.0


def test_radii_exclude_the_point_itself():
    # k = 1 radii of 0, 1, 3, 7: 1, 1, 2, 4. A zero-based off-by-one would
    # give 0 (itself) or the 2nd neighbour (1 -> 2, 2 -> 2, 4 -> 4, 6 -> 6).
    sq = manifold._kth_neighbour_sq_radii(_column([0, 1, 3, 7]), 1, 2)
    np.testing.assert_array_equal(sq, [1, 1, 4, 16])


def test_pairwise_squared_distances():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    expected = np.sum((a[:, None] - b[None]) ** 2, axis=-1)
    np.testing.assert_allclose(manifold.pairwise_squared_distances(a, b),
                               expected, rtol=1e-12)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="differ"):
        manifold.precision_recall(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="k must be"):
        manifold.precision_recall(np.zeros((5, 2)), np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match="k must be"):
        manifold.density_coverage(np.zeros((5, 2)), np.zeros((3, 2)), k=5)
    with pytest.raises(ValueError, match="non-empty"):
        manifold.density_coverage(np.zeros((5, 2)), np.zeros((0, 2)), k=1)
    with pytest.raises(ValueError, match="non-finite"):
        manifold.density_coverage(np.zeros((5, 2)),
                                  np.array([[np.nan, 0.0]]), k=1)
    with pytest.raises(ValueError, match="batch_size"):
        manifold.density_coverage(np.zeros((5, 2)), np.zeros((3, 2)), k=1,
                                  batch_size=0)
