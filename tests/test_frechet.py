"""Frechet distance against closed forms for Gaussians."""

import numpy as np
import pytest
from scipy import linalg

from gan_jax.metrics import frechet


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    m = rng.normal(size=(d, d))
    return m @ m.T + 0.1 * np.eye(d)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root by eigendecomposition (not sqrtm)."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return (eigenvectors * roots) @ eigenvectors.T


def _reference_distance(mu_a, sigma_a, mu_b, sigma_b) -> float:
    # (S_a S_b)^{1/2} is similar to (S_a^{1/2} S_b S_a^{1/2})^{1/2}, which is
    # symmetric PSD: its trace is the sum of square roots of eigenvalues.
    root_a = _psd_sqrt(sigma_a)
    inner = np.linalg.eigvalsh(root_a @ sigma_b @ root_a)
    trace_covmean = np.sum(np.sqrt(np.clip(inner, 0.0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a)
                 + np.trace(sigma_b) - 2.0 * trace_covmean)


def test_sampled_diagonal_gaussians():
    mu_a = np.array([0.0, 1.0, -1.0, 2.0])
    mu_b = np.array([0.5, 1.0, 0.0, 2.0])
    var_a = np.array([1.0, 2.0, 0.5, 4.0])
    var_b = np.array([2.0, 2.0, 1.0, 1.0])
    # Diagonal: sum (m_a - m_b)^2 + sum (s_a + s_b - 2 sqrt(s_a s_b))
    # = 1.25 + (3 - 2 sqrt 2) + 0 + (1.5 - sqrt 2) + 1 ~= 2.5074.
    expected = 1.25 + (3 - 2 * np.sqrt(2)) + (1.5 - np.sqrt(2)) + 1.0
    assert expected == pytest.approx(
        np.sum((mu_a - mu_b) ** 2)
        + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b)))
    rng = np.random.default_rng(0)
    n = 50_000
    a = mu_a + np.sqrt(var_a) * rng.normal(size=(n, 4))
    b = mu_b + np.sqrt(var_b) * rng.normal(size=(n, 4))
    # The estimate's sampling sd is ~0.02 at this n (measured over 40 seeds;
    # the first-order terms alone give ~0.015): 0.08 is about 4 sd.
    assert frechet.frechet_distance(a, b) == pytest.approx(expected, abs=0.08)


def test_from_statistics_commuting_covariances():
    # Shared eigenvectors: sqrt(S_a S_b) = Q diag(sqrt(a b)) Q^T, so the
    # distance is |dm|^2 + sum (a + b - 2 sqrt(a b)) = 9 + 4 + 1 + 0 = 14.
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    sigma_a = q @ np.diag([1.0, 4.0, 9.0]) @ q.T
    sigma_b = q @ np.diag([9.0, 1.0, 9.0]) @ q.T
    mu_a = np.array([1.0, 2.0, 3.0])
    mu_b = np.array([1.0, -1.0, 3.0])
    distance = frechet.frechet_distance_from_statistics(mu_a, sigma_a, mu_b,
                                                        sigma_b)
    assert distance == pytest.approx(14.0, rel=1e-12)


@pytest.mark.parametrize("d", [1, 5, 32])
def test_from_statistics_general_spd(d):
    rng = np.random.default_rng(d)
    mu_a, mu_b = rng.normal(size=(2, d))
    sigma_a, sigma_b = _random_spd(rng, d), _random_spd(rng, d)
    distance = frechet.frechet_distance_from_statistics(mu_a, sigma_a, mu_b,
                                                        sigma_b)
    assert isinstance(distance, float)
    assert distance == pytest.approx(
        _reference_distance(mu_a, sigma_a, mu_b, sigma_b), rel=1e-9)


def test_identical_sets():
    features = np.random.default_rng(2).normal(size=(1000, 16)) * 3.0 + 5.0
    assert 0.0 <= frechet.frechet_distance(features, features) < 1e-6


def test_rank_deficient_covariances():
    # n < d: singular covariances, and their product has a zero eigenspace.
    rng = np.random.default_rng(3)
    a = rng.normal(size=(10, 64))
    b = rng.normal(size=(12, 64)) + 0.5
    distance = frechet.frechet_distance(a, b)
    assert isinstance(distance, float)
    assert np.isfinite(distance)
    assert distance == pytest.approx(
        _reference_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0),
                            np.cov(b, rowvar=False)), rel=1e-6)


def test_retries_with_ridge_when_sqrtm_is_not_finite(monkeypatch):
    real_sqrtm = linalg.sqrtm
    calls = []

    def failing_once(matrix):
        calls.append(matrix)
        if len(calls) == 1:
            return np.full_like(matrix, np.nan)
        return real_sqrtm(matrix)

    monkeypatch.setattr(frechet.linalg, "sqrtm", failing_once)
    rng = np.random.default_rng(4)
    mu_a, mu_b = rng.normal(size=(2, 4))
    sigma_a, sigma_b = _random_spd(rng, 4), _random_spd(rng, 4)
    distance = frechet.frechet_distance_from_statistics(mu_a, sigma_a, mu_b,
                                                        sigma_b)
    assert len(calls) == 2
    # The ridge enters the square root only, not the two traces.
    ridge = 1e-6 * np.eye(4)
    root = _psd_sqrt(sigma_a + ridge)
    trace_covmean = np.sum(np.sqrt(np.linalg.eigvalsh(
        root @ (sigma_b + ridge) @ root)))
    expected = (np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a)
                + np.trace(sigma_b) - 2 * trace_covmean)
    assert distance == pytest.approx(expected, rel=1e-9)


def test_significant_imaginary_part_raises():
    # Not PSD: sqrtm(-I) = i I.
    with pytest.raises(ValueError, match="imaginary"):
        frechet.frechet_distance_from_statistics(
            np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2))


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="differ"):
        frechet.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        frechet.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="differ"):
        frechet.frechet_distance_from_statistics(
            np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="sigma_b"):
        frechet.frechet_distance_from_statistics(
            np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="non-finite"):
        frechet.frechet_distance_from_statistics(
            np.zeros(2), np.eye(2), np.array([0.0, np.nan]), np.eye(2))


def test_streaming_statistics_match_numpy():
    rng = np.random.default_rng(5)
    # A mean 10^4 times the spread: raw (unshifted) float64 sums lose ~1e-8
    # of the covariance to cancellation, well beyond the tolerance below.
    features = 1e4 + rng.normal(size=(1003, 6)) * np.arange(1, 7)
    stats = frechet.FeatureStatistics.empty(6)
    for start, stop in [(0, 1), (1, 8), (8, 508), (508, 508), (508, 1003)]:
        stats = stats.update(features[start:stop])
    assert stats.count == 1003
    np.testing.assert_allclose(stats.mean(), np.mean(features, axis=0),
                               rtol=1e-13)
    np.testing.assert_allclose(stats.covariance(),
                               np.cov(features, rowvar=False),
                               rtol=0, atol=1e-10)
    fid = frechet.frechet_distance_from_statistics(
        stats.mean(), stats.covariance(), np.zeros(6), np.eye(6))
    assert fid == pytest.approx(frechet.frechet_distance_from_statistics(
        np.mean(features, axis=0), np.cov(features, rowvar=False),
        np.zeros(6), np.eye(6)), rel=1e-12)


def test_streaming_update_is_pure():
    empty = frechet.FeatureStatistics.empty(2)
    one = empty.update(np.ones((3, 2)))
    assert empty.count == 0
    np.testing.assert_array_equal(empty.sum, np.zeros(2))
    two = one.update(np.zeros((1, 2)))
    assert one.count == 3
    assert two.count == 4
    np.testing.assert_allclose(two.mean(), [0.75, 0.75])


def test_streaming_invalid_inputs_raise():
    stats = frechet.FeatureStatistics.empty(3)
    with pytest.raises(ValueError, match=r"\(b, 3\)"):
        stats.update(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        stats.update(np.zeros((1, 3))).covariance()
    with pytest.raises(ValueError, match="no samples"):
        stats.mean()
