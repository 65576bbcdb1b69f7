"""Mode coverage of samples from a Gaussian mixture with known modes.

The usual mode-collapse measurements on the 2-D ring and grid mixtures
(Srivastava et al. 2017, "VEEGAN"; Lin et al. 2018, "PacGAN"): how many modes
a generator reaches, how many of its samples are close to a mode, and how
evenly it spreads over the modes. Host-side NumPy, pure.
"""

import numpy as np

# Samples per distance block: bounds memory at chunk * K * D float64 values.
_CHUNK = 4096

# The covered-mode rule of the ring and grid protocol (Srivastava et al. 2017,
# VEEGAN; Lin et al. 2018, PacGAN): 20 high-quality samples of 2,500.
PROTOCOL_MIN_SAMPLES = 20
PROTOCOL_NUM_SAMPLES = 2_500


def covered_threshold(num_samples: int) -> float:
    """High-quality samples that make a mode covered among `num_samples`:

        20 * num_samples / 2500,

    the protocol's 20 of 2,500 (VEEGAN; PacGAN) at the same rate, so that
    coverage does not depend on how many samples are drawn: 20 at 2,500,
    10 at 1,250, 400 at 50,000.
    """
    return PROTOCOL_MIN_SAMPLES * num_samples / PROTOCOL_NUM_SAMPLES


def _nearest_modes(points: np.ndarray,
                   modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and Euclidean distance to the nearest mode of each point."""
    nearest = np.empty(len(points), dtype=np.int64)
    distance = np.empty(len(points), dtype=np.float64)
    for start in range(0, len(points), _CHUNK):
        block = points[start:start + _CHUNK]
        # Explicit differences rather than the |x|^2 - 2x.m + |m|^2 expansion:
        # no cancellation near a mode, where the quality threshold is decided.
        # Huge finite points overflow to inf: low quality, not a crash.
        with np.errstate(over="ignore"):
            sq_dist = np.sum((block[:, None, :] - modes[None, :, :]) ** 2,
                             axis=-1)
        nearest[start:start + _CHUNK] = np.argmin(sq_dist, axis=1)
        distance[start:start + _CHUNK] = np.sqrt(np.min(sq_dist, axis=1))
    return nearest, distance


def mixture_mode_metrics(samples: np.ndarray, modes: np.ndarray, std: float, *,
                         quality_threshold: float = 3.0,
                         min_samples_per_mode: float | None = None
                         ) -> dict[str, float]:
    """Mode coverage, sample quality and mode balance of generated samples.

    Each sample is registered to its nearest mode (Euclidean distance). Then,
    following Srivastava et al. 2017 (VEEGAN) and Lin et al. 2018 (PacGAN):

    * A sample is high quality when it lies within `quality_threshold`
      standard deviations (default 3) of its nearest mode, i.e. at distance
      <= `quality_threshold * std`.
    * A mode is covered when at least `min_samples_per_mode` high-quality
      samples are registered to it. By default that is
      `covered_threshold(n) = 20 n / 2500` for the n samples given (finite
      or not): PacGAN's rule, which counts a mode as lost when fewer than 20
      of 2,500 samples are high quality for it, at the same rate for any n
      (exactly 20 at n = 2,500). The comparison is done in integers,
      count * 2500 >= 20 n, so it is exact.
    * The reverse KL is KL(p_gen || uniform) = sum_k p_k log(K p_k), where
      p_gen is the histogram of all finite samples (high quality or not) over
      their nearest modes, with 0 log 0 = 0 (PacGAN). It is 0 for a perfectly
      balanced histogram and log K when every sample falls on one mode.

    Non-finite samples (NaN or inf, from a diverged generator) are low quality
    and registered to no mode: they count in the denominator of
    `high_quality_fraction` but not in the histogram, which is normalised by
    the number of finite samples. With no finite sample at all, the result is
    `modes_covered = 0`, `high_quality_fraction = 0` and `reverse_kl = log K`.

    Args:
      samples: `(n, D)` generated points, n >= 1 (D = 2 for the mixtures).
      modes: `(K, D)` mode centres.
      std: per-coordinate standard deviation of each mixture component.
      quality_threshold: high-quality radius, in standard deviations.
      min_samples_per_mode: high-quality samples that make a mode covered;
        None (the default) for `covered_threshold(len(samples))`.

    Returns:
      A dict of floats: `modes_covered` (a count), `high_quality_fraction`
      (in [0, 1]), `reverse_kl` (nats) and `num_modes` (K).

    Raises:
      ValueError: on empty `samples` or `modes`, or mismatched shapes.
    """
    samples = np.asarray(samples, dtype=np.float64)
    modes = np.asarray(modes, dtype=np.float64)
    if samples.size == 0:
        raise ValueError("mixture_mode_metrics needs at least one sample; got "
                         f"samples of shape {samples.shape}.")
    if modes.ndim != 2 or len(modes) == 0:
        raise ValueError(f"modes must be a non-empty (K, D) array; got shape "
                         f"{modes.shape}.")
    if samples.ndim != 2 or samples.shape[1] != modes.shape[1]:
        raise ValueError(f"samples must be (n, {modes.shape[1]}) to match "
                         f"modes {modes.shape}; got shape {samples.shape}.")
    if not std > 0:
        raise ValueError(f"std must be positive; got {std}.")

    num_modes = len(modes)
    finite = np.all(np.isfinite(samples), axis=1)
    nearest, distance = _nearest_modes(samples[finite], modes)
    high_quality = distance <= quality_threshold * std

    quality_counts = np.bincount(nearest[high_quality], minlength=num_modes)
    if min_samples_per_mode is None:
        covered = (quality_counts.astype(np.int64) * PROTOCOL_NUM_SAMPLES
                   >= PROTOCOL_MIN_SAMPLES * len(samples))
    else:
        covered = quality_counts >= min_samples_per_mode
    modes_covered = int(np.sum(covered))

    num_finite = int(np.sum(finite))
    if num_finite == 0:
        # No mass on any mode: as far from uniform as a single-mode collapse.
        reverse_kl = float(np.log(num_modes))
    else:
        p = np.bincount(nearest, minlength=num_modes) / num_finite
        p = p[p > 0]  # 0 log 0 = 0.
        reverse_kl = float(np.sum(p * np.log(num_modes * p)))

    return {
        "modes_covered": float(modes_covered),
        "high_quality_fraction": float(np.sum(high_quality)) / len(samples),
        # Rounding can leave a balanced histogram at -1e-17; KL is >= 0.
        "reverse_kl": max(reverse_kl, 0.0),
        "num_modes": float(num_modes),
    }
