"""Mode-coverage metrics on samples whose answers are known by construction."""

import numpy as np
import pytest

from gan_jax.data import toy_mixtures
from gan_jax.metrics import mode_coverage

RING = toy_mixtures.mixture_modes("ring8")
RING_STD = toy_mixtures.mixture_std("ring8")


def _on_modes(counts: list[int], modes=RING) -> np.ndarray:
    """`counts[k]` samples exactly on mode k."""
    return np.repeat(modes, counts, axis=0)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_true_mixture_samples(name):
    modes = toy_mixtures.mixture_modes(name)
    std = toy_mixtures.mixture_std(name)
    num = 50_000
    samples, _ = toy_mixtures.sample_mixture(name, num,
                                             np.random.default_rng(1))
    metrics = mode_coverage.mixture_mode_metrics(samples, modes, std)
    assert metrics["modes_covered"] == len(modes)
    assert metrics["num_modes"] == len(modes)
    # |noise| / std is Rayleigh in 2-D: P(r <= 3) = 1 - exp(-9 / 2).
    p = 1.0 - np.exp(-4.5)
    tolerance = 5 * np.sqrt(p * (1 - p) / num)  # 5 binomial std: ~0.0024.
    assert metrics["high_quality_fraction"] == pytest.approx(p, abs=tolerance)
    # E[KL] of a multinomial histogram is ~(K - 1) / (2 n); 5x that is loose.
    assert 0.0 <= metrics["reverse_kl"] < 5 * (len(modes) - 1) / (2 * num)


def test_all_samples_on_one_mode():
    metrics = mode_coverage.mixture_mode_metrics(_on_modes([100] + [0] * 7),
                                                 RING, RING_STD)
    assert metrics["modes_covered"] == 1
    assert metrics["high_quality_fraction"] == 1.0
    assert metrics["reverse_kl"] == np.log(8)


def test_half_of_the_modes():
    # p = 1/4 on 4 of 8 modes: KL = 4 * (1/4) * log(8 / 4) = log 2.
    samples = _on_modes([50, 0, 50, 0, 50, 0, 50, 0]) + 0.01
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD)
    assert metrics["modes_covered"] == 4
    assert metrics["reverse_kl"] == pytest.approx(np.log(2.0), abs=1e-12)


def test_far_away_samples():
    samples = np.full((500, 2), 50.0, dtype=np.float32)
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD)
    assert metrics["high_quality_fraction"] == 0.0
    assert metrics["modes_covered"] == 0
    # Still registered to their nearest mode (mode 1, at 45 degrees).
    assert metrics["reverse_kl"] == np.log(8)


def test_quality_radius_is_three_std():
    # 20 samples 2.9 std and 20 samples 3.1 std to the right of mode 0.
    offsets = np.array([[2.9 * RING_STD, 0.0]] * 20
                       + [[3.1 * RING_STD, 0.0]] * 20)
    samples = RING[0].astype(np.float64) + offsets
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD)
    assert metrics["high_quality_fraction"] == 0.5
    assert metrics["modes_covered"] == 1


def test_min_samples_per_mode_threshold():
    samples = _on_modes([20, 19, 0, 0, 0, 0, 0, 0])
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD,
                                                 min_samples_per_mode=20)
    assert metrics["modes_covered"] == 1  # 20 counts, 19 does not.
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD,
                                                 min_samples_per_mode=19)
    assert metrics["modes_covered"] == 2
    # Low-quality samples on a mode do not make it covered.
    far = RING[1] * 1.5  # Nearest to mode 1 but 1.0 away from it.
    samples = np.concatenate([_on_modes([0, 19] + [0] * 6),
                              np.repeat(far[None], 5, axis=0)])
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD,
                                                 min_samples_per_mode=20)
    assert metrics["modes_covered"] == 0


def test_non_finite_samples():
    good = _on_modes([25] * 8)  # 200 perfectly balanced samples.
    bad = np.array([[np.nan, 0.0], [np.inf, 1.0], [-np.inf, np.nan]] * 100)
    metrics = mode_coverage.mixture_mode_metrics(
        np.concatenate([good, bad]), RING, RING_STD)
    assert metrics["modes_covered"] == 8
    assert metrics["high_quality_fraction"] == pytest.approx(200 / 500)
    # The histogram over the finite samples alone is uniform.
    assert metrics["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_no_finite_samples():
    samples = np.full((10, 2), np.nan, dtype=np.float32)
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD)
    assert metrics == {"modes_covered": 0.0, "high_quality_fraction": 0.0,
                       "reverse_kl": float(np.log(8)), "num_modes": 8.0}


def test_huge_finite_samples_do_not_crash():
    samples = np.array([[1e300, -1e300], [0.0, 2.0]])
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD)
    assert metrics["high_quality_fraction"] == 0.5


def test_chunked_distances_match_unchunked():
    rng = np.random.default_rng(2)
    samples = rng.uniform(-3, 3, size=(10_000, 2))  # Spans several chunks.
    modes = RING.astype(np.float64)
    nearest, distance = mode_coverage._nearest_modes(samples, modes)
    full = np.linalg.norm(samples[:, None] - modes[None], axis=-1)
    np.testing.assert_array_equal(nearest, np.argmin(full, axis=1))
    np.testing.assert_allclose(distance, np.min(full, axis=1), rtol=1e-12)


def test_empty_input_raises():
    with pytest.raises(ValueError, match="at least one sample"):
        mode_coverage.mixture_mode_metrics(np.zeros((0, 2)), RING, RING_STD)
    with pytest.raises(ValueError, match="match"):
        mode_coverage.mixture_mode_metrics(np.zeros((5, 3)), RING, RING_STD)


# The covered-mode rule scales with the number of samples: at least 20 high
# quality per 2,500 samples (Metz et al. 2017; Srivastava et al. 2017,
# VEEGAN; Lin et al. 2018, PacGAN), i.e. 20 n / 2,500. Hand-computed
# thresholds: n = 1,250 -> 10; 1,010 -> 8.08, so 9; 2,500 -> 20 (unchanged);
# 5,000 -> 40.
@pytest.mark.parametrize("num_samples, enough", [(1_250, 10), (1_010, 9),
                                                 (2_500, 20), (5_000, 40)])
def test_covered_threshold_scales_with_the_number_of_samples(num_samples, enough):
    # Mode 0 gets `enough` samples on it, mode 1 one fewer, mode 2 none; the
    # rest lie far from every mode (low quality, registered to mode 1).
    on_modes = _on_modes([enough, enough - 1, 0, 0, 0, 0, 0, 0])
    far = np.full((num_samples - len(on_modes), 2), 50.0)
    samples = np.concatenate([on_modes, far])
    assert len(samples) == num_samples
    metrics = mode_coverage.mixture_mode_metrics(samples, RING, RING_STD)
    print(f"n = {num_samples}: {metrics['modes_covered']:.0f} covered (want 1)")
    assert metrics["modes_covered"] == 1
    assert metrics["high_quality_fraction"] == (2 * enough - 1) / num_samples
    assert mode_coverage.covered_threshold(num_samples) == pytest.approx(
        20 * num_samples / 2500)
