"""Frechet distance between Gaussians fitted to two feature sets (FID).

Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to
a Local Nash Equilibrium". With Inception pool features this is the Frechet
Inception Distance; the functions here only see `(n, d)` feature arrays.

Host-side float64 NumPy/SciPy, pure. `FeatureStatistics` accumulates the mean
and covariance batch by batch, so that 50,000 feature vectors need not sit in
memory at once. `save_statistics` and `load_statistics` write and read
the `.npz` statistics files (`mu`, `sigma`) of pytorch-fid and clean-fid.
"""

import dataclasses
import os
import zipfile

import numpy as np
from scipy import linalg

from gan_jax.metrics import feature_arrays

_NEEDS_COVARIANCE = dict(min_samples=2, purpose=" for a covariance")

# Ridge added to both covariances when sqrtm of their product is not finite
# (singular product, e.g. fewer samples than dimensions): pytorch-fid's value.
_SQRTM_EPS = 1e-6
# Largest imaginary part of diag(sqrtm) that is still round-off: the product
# of two PSD matrices has a real non-negative spectrum, so anything bigger
# means the square root itself failed (pytorch-fid's tolerance).
_MAX_IMAG = 1e-3
# Negative distances down to -_ROUND_OFF * scale are round-off and become 0.
_ROUND_OFF = 1e-9


def _as_mean(mu, name: str) -> np.ndarray:
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"{name} must be a non-empty (d,) vector; got shape "
                         f"{mu.shape}.")
    return mu


def _as_covariance(sigma, d: int, name: str) -> np.ndarray:
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.shape != (d, d):
        raise ValueError(f"{name} must be ({d}, {d}) to match the mean; got "
                         f"shape {sigma.shape}.")
    return sigma


def _covariance(features: np.ndarray) -> np.ndarray:
    # Not np.cov: it squeezes d = 1 down to a 0-d array.
    centred = features - np.mean(features, axis=0)
    return centred.T @ centred / (len(features) - 1)


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) -> float:
    """Frechet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b).

    The squared 2-Wasserstein distance between two Gaussians (Dowson & Landau
    1982), used as FID by Heusel et al. 2017:

        d^2 = ||mu_a - mu_b||^2
              + Tr(sigma_a + sigma_b - 2 (sigma_a sigma_b)^{1/2})

    The square root is `scipy.linalg.sqrtm` in float64, guarded as in
    pytorch-fid and TF-GAN: when it is not finite, eps * I (eps = 1e-6) is
    added to both covariances and it is taken again; the imaginary part that
    round-off leaves on its diagonal is dropped. A result that rounding makes
    slightly negative (above -1e-9 times the size of the terms) is returned
    as 0; a clearly negative one is returned as is, as a sign of a failed
    square root rather than hidden.

    Args:
      mu_a: `(d,)` mean of the first Gaussian.
      sigma_a: `(d, d)` covariance of the first Gaussian (symmetric PSD).
      mu_b: `(d,)` mean of the second Gaussian.
      sigma_b: `(d, d)` covariance of the second Gaussian (symmetric PSD).

    Returns:
      The distance d^2 (not its square root), as a Python float.

    Raises:
      ValueError: on mismatched shapes, non-finite statistics, or when the
        square root keeps an imaginary part larger than 1e-3 on its diagonal.
    """
    mu_a = _as_mean(mu_a, "mu_a")
    mu_b = _as_mean(mu_b, "mu_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"Dimensions differ: mu_a has shape {mu_a.shape}, "
                         f"mu_b {mu_b.shape}.")
    d = len(mu_a)
    sigma_a = _as_covariance(sigma_a, d, "sigma_a")
    sigma_b = _as_covariance(sigma_b, d, "sigma_b")
    for name, value in (("mu_a", mu_a), ("sigma_a", sigma_a),
                        ("mu_b", mu_b), ("sigma_b", sigma_b)):
        if not np.all(np.isfinite(value)):
            # A diverged generator's NaN features: sqrtm would fail obscurely.
            raise ValueError(f"{name} has non-finite entries.")

    covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.all(np.isfinite(covmean)):
        ridge = _SQRTM_EPS * np.eye(d)
        covmean = linalg.sqrtm((sigma_a + ridge) @ (sigma_b + ridge))
    if not np.all(np.isfinite(covmean)):
        raise ValueError("sqrtm(sigma_a @ sigma_b) is not finite even with "
                         f"{_SQRTM_EPS} * I added to both covariances.")
    # Only the trace enters the distance, so only the diagonal is checked.
    trace_covmean = np.trace(covmean)
    if np.iscomplexobj(covmean):
        max_imag = np.max(np.abs(np.diagonal(covmean).imag))
        if max_imag > _MAX_IMAG:
            raise ValueError("sqrtm(sigma_a @ sigma_b) has an imaginary "
                             f"component of {max_imag:.3g} on its diagonal; "
                             "the covariances are not valid PSD matrices or "
                             "the square root is numerically unreliable.")
        trace_covmean = trace_covmean.real

    diff = mu_a - mu_b
    mean_term = float(diff @ diff)
    trace_a = float(np.trace(sigma_a))
    trace_b = float(np.trace(sigma_b))
    distance = mean_term + trace_a + trace_b - 2.0 * float(trace_covmean)
    scale = mean_term + abs(trace_a) + abs(trace_b)
    if -_ROUND_OFF * scale <= distance < 0.0:
        return 0.0
    return distance


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    Fits N(mu, sigma) to each set (sample mean and unbiased covariance, as
    `np.cov`) and returns

        ||mu_a - mu_b||^2 + Tr(sigma_a + sigma_b - 2 (sigma_a sigma_b)^{1/2})

    (Heusel et al. 2017); see `frechet_distance_from_statistics` for the
    numerical safeguards. Fewer samples than dimensions give singular
    covariances: the result is finite but heavily biased, so use thousands of
    samples (50,000 is the FID convention).

    Args:
      features_a: `(n_a, d)` features, n_a >= 2.
      features_b: `(n_b, d)` features, n_b >= 2.

    Returns:
      The distance, a non-negative Python float.

    Raises:
      ValueError: on fewer than 2 samples in a set or mismatched dimensions.
    """
    features_a = feature_arrays.as_features(features_a, "features_a",
                                            **_NEEDS_COVARIANCE)
    features_b = feature_arrays.as_features(features_b, "features_b",
                                            **_NEEDS_COVARIANCE)
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"Feature dimensions differ: {features_a.shape[1]} "
                         f"and {features_b.shape[1]}.")
    return frechet_distance_from_statistics(
        np.mean(features_a, axis=0), _covariance(features_a),
        np.mean(features_b, axis=0), _covariance(features_b))


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureStatistics:
    """Streaming mean and covariance of feature vectors, in float64.

    Sums are taken about a fixed `shift`, the mean of the first non-empty
    batch: with the raw sums, the covariance sum_outer / n - mean mean^T
    would cancel catastrophically for features with a mean far larger than
    their spread. With x' = x - shift,

        mean = shift + sum / count
        covariance = (sum_outer - sum sum^T / count) / (count - 1)

    which is exact whatever the shift, and well conditioned when the shift is
    near the mean.

    Usage:

        stats = FeatureStatistics.empty(2048)
        for batch in batches:
            stats = stats.update(batch)
        fid = frechet_distance_from_statistics(
            stats.mean(), stats.covariance(), mu_ref, sigma_ref)

    Attributes:
      count: number of feature vectors seen.
      shift: `(d,)` offset subtracted before summing (zeros while empty).
      sum: `(d,)` sum of the shifted features.
      sum_outer: `(d, d)` sum of the outer products of the shifted features.
    """
    count: int
    shift: np.ndarray
    sum: np.ndarray
    sum_outer: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> "FeatureStatistics":
        """Statistics of no samples of dimension `dim`."""
        if dim < 1:
            raise ValueError(f"dim must be positive; got {dim}.")
        return cls(count=0, shift=np.zeros(dim, dtype=np.float64),
                   sum=np.zeros(dim, dtype=np.float64),
                   sum_outer=np.zeros((dim, dim), dtype=np.float64))

    @property
    def dim(self) -> int:
        return len(self.sum)

    def update(self, batch) -> "FeatureStatistics":
        """New statistics with the `(b, d)` `batch` added; self is unchanged."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise ValueError(f"batch must be (b, {self.dim}); got shape "
                             f"{batch.shape}.")
        if len(batch) == 0:
            return self
        shift = np.mean(batch, axis=0) if self.count == 0 else self.shift
        shifted = batch - shift
        return FeatureStatistics(
            count=self.count + len(batch), shift=shift,
            sum=self.sum + np.sum(shifted, axis=0),
            sum_outer=self.sum_outer + shifted.T @ shifted)

    def mean(self) -> np.ndarray:
        """`(d,)` sample mean."""
        if self.count == 0:
            raise ValueError("The mean of no samples is undefined.")
        return self.shift + self.sum / self.count

    def covariance(self) -> np.ndarray:
        """`(d, d)` unbiased sample covariance (divided by n - 1, as np.cov)."""
        if self.count < 2:
            raise ValueError("The covariance needs at least 2 samples; got "
                             f"{self.count}.")
        centred_outer = (self.sum_outer
                         - np.outer(self.sum, self.sum) / self.count)
        return centred_outer / (self.count - 1)


# The arrays of a statistics file, as pytorch-fid (`--save-stats`) and
# clean-fid (`fid.save_custom_stats`) write them: np.savez(mu=..., sigma=...).
STATISTICS_KEYS = ("mu", "sigma")


def save_statistics(path, mu, sigma, **labels: str) -> None:
    """Writes `mu` (d,) and `sigma` (d, d) to the `.npz` file `path`, float64,
    in the format of pytorch-fid's and clean-fid's statistics files, so that
    theirs load here and ours load there (both read only `mu` and `sigma`).

    `labels` are strings saved beside them (e.g. `features="inception"`,
    `fid_resize="clean"`) as 0-d unicode arrays, which `np.load` reads
    without pickling; `load_statistics` returns them.
    """
    mu = _as_mean(mu, "mu")
    sigma = _as_covariance(sigma, len(mu), "sigma")
    with open(path, "wb") as f:
        np.savez(f, mu=mu, sigma=sigma,
                 **{name: np.asarray(str(value)) for name, value in labels.items()})


def load_statistics(path, *, flag: str, dim: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """`(mu, sigma, labels)` of a statistics `.npz` file (`save_statistics`,
    pytorch-fid's or clean-fid's), checked.

    Args:
      path: the file.
      flag: the command-line flag that named it ("ref_stats"), for messages.
      dim: the feature dimension the statistics must have (2048 for
        Inception pool features), or None to accept any.

    Returns:
      `mu` (d,) and `sigma` (d, d) float64, finite, and the file's other
      entries that are strings (e.g. "fid_resize").

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: not an `.npz` file, no `mu` or `sigma`, shapes that are not
        (d,) and (d, d), a dimension other than `dim`, or non-finite values;
        one paragraph naming `--flag`.
    """
    where = f"--{flag}={path}"
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{where}: no such file. Give a .npz file of Frechet statistics "
            "(arrays mu and sigma), as `python -m gan_jax.evaluate "
            "--save_stats=FILE`, pytorch-fid's --save-stats or clean-fid's "
            "save_custom_stats write.")
    not_npz = (f"{where} is not a .npz file of arrays ({{}}). Give the .npz "
               "of Frechet statistics (arrays mu and sigma) that `python -m "
               "gan_jax.evaluate --save_stats=FILE` or pytorch-fid's "
               "--save-stats writes.")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError:  # NumPy's guess: pickled data, which is refused.
        raise ValueError(not_npz.format("not a NumPy file")) from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(not_npz.format(error)) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(not_npz.format("it holds one array, as .npy files do"))
    with data:
        arrays = {name: data[name] for name in data.files}
    missing = [name for name in STATISTICS_KEYS if name not in arrays]
    if missing:
        raise ValueError(
            f"{where} has no {' or '.join(missing)} (it holds "
            f"{', '.join(sorted(arrays)) or 'nothing'}). A statistics file "
            "holds the feature mean `mu` (d,) and covariance `sigma` (d, d), "
            "as `python -m gan_jax.evaluate --save_stats=FILE` writes it.")
    mu, sigma = arrays["mu"], arrays["sigma"]
    if (mu.ndim != 1 or sigma.shape != (len(mu), len(mu))
            or not np.issubdtype(mu.dtype, np.number)
            or not np.issubdtype(sigma.dtype, np.number)):
        raise ValueError(
            f"{where}: mu has shape {mu.shape} and sigma {sigma.shape}; "
            "statistics of d-dimensional features are a numeric mu (d,) and "
            "sigma (d, d).")
    if dim is not None and len(mu) != dim:
        raise ValueError(
            f"{where} holds statistics of {len(mu)}-dimensional features, but "
            f"this evaluation's features have {dim} dimensions. Give "
            "statistics computed with the same feature network (2048 for "
            "Inception pool features), e.g. by `python -m gan_jax.evaluate "
            f"--save_stats=FILE` with the same --features.")
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError(f"{where}: mu or sigma holds NaN or inf values.")
    labels = {name: str(value) for name, value in arrays.items()
              if name not in STATISTICS_KEYS and value.ndim == 0
              and value.dtype.kind == "U"}
    return mu, sigma, labels
