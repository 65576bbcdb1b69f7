"""FID's input resizes against independent references, and the statistics
files of `--save_stats` / `--ref_stats`.

The clean resize is checked against PIL itself (clean-fid's resize: each
channel a float32 'F' image, `Image.resize(..., Image.BICUBIC)`, clipped to
the pixel range); the pytorch-fid resize against a NumPy transcription of
PyTorch's `F.interpolate(mode="bilinear", align_corners=False)`.
"""

import jax.numpy as jnp
import numpy as np
import PIL.Image
import pytest

from gan_jax import defaults
from gan_jax.evaluation import evaluator
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import frechet
from gan_jax.metrics.features import fid_resize
from gan_jax.metrics.features import inception_v3
from gan_jax.run import gan_spec

SIZE = inception_v3.INPUT_SIZE
EPS = float(np.finfo(np.float32).eps)


def _keys_cubic(x):
    """Keys' (1981) cubic convolution kernel with a = -0.5 (PIL's
    `bicubic_filter`), float64."""
    x = np.abs(x)
    return np.where(x < 1, (1.5 * x - 2.5) * x * x + 1,
                    np.where(x < 2, ((-0.5 * x + 2.5) * x - 4) * x + 2, 0.0))


def _keys_cubic_slope(x):
    """|d/dx| of `_keys_cubic`."""
    x = np.abs(x)
    return np.abs(np.where(x < 1, (4.5 * x - 5) * x,
                           np.where(x < 2, (-1.5 * x + 5) * x - 4, 0.0)))


def _kernel_bounds(kernel, slope, n_in: int, n_out: int):
    """`S`: the largest sum of |weights| and `K1`: the largest sum of
    |d weight / d position| of one output pixel of a resize from `n_in` to
    `n_out` pixels (weights normalised to sum to 1, kernel stretched by
    `r = max(n_in / n_out, 1)`), over a fine grid of sample positions."""
    r = max(n_in / n_out, 1.0)
    positions = np.linspace(-0.5, n_in - 0.5, 20_001)
    offsets = (np.arange(n_in)[None, :] - positions[:, None]) / r
    total = kernel(offsets).sum(axis=1)
    s = np.max(np.abs(kernel(offsets)).sum(axis=1) / np.abs(total))
    k1 = np.max(slope(offsets).sum(axis=1) / r / np.abs(total))
    return float(s), float(k1)


def _float32_tolerance(s: float, k1: float, n_in: int, magnitude: float) -> float:
    """How far a float32 separable resize of values up to `magnitude` may be
    from the same resize computed in float64 (PIL's 'F' mode accumulates
    in double and rounds each pass to float32).

    Two sources, per pass, each carried through the other pass (x S):
      * the sample position `(i + 1/2) n_in / n_out - 1/2 - j` in float32 is
        off by delta <= 2 n_in eps (three roundings of numbers below n_in),
        which moves the output by at most delta * K1 * magnitude;
      * the weighted sum: at most 4 taps (more when downscaling, their
        |weights| summing to S) and the normalisation, about 8 eps S
        magnitude, plus float32 rounding of the input and of PIL's own
        intermediate image, eps S magnitude each.
    """
    delta = 2 * n_in * EPS
    per_pass = delta * k1 * magnitude + 10 * EPS * s * magnitude
    return 2 * s * per_pass


def _pil_clean(channel_255: np.ndarray) -> np.ndarray:
    """clean-fid's resize of one channel in [0, 255]."""
    image = PIL.Image.fromarray(channel_255.astype(np.float32), mode="F")
    resized = image.resize((SIZE, SIZE), resample=PIL.Image.BICUBIC)
    return np.asarray(resized, np.float64)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (512, 1)])
def test_clean_resize_matches_pil_bicubic(size, channels):
    """Upscaling (MNIST, CIFAR-10) and downscaling (antialiased), edges
    included; clipping is tested separately, so smooth random images."""
    rng = np.random.default_rng(size)
    pixels = rng.integers(0, 256, (2, size, size, channels)).astype(np.float64)
    images = (pixels / 127.5 - 1.0).astype(np.float32)
    ours = np.asarray(fid_resize.clean_resize(images, SIZE), np.float64)
    assert ours.shape == (2, SIZE, SIZE, channels) and ours.dtype == np.float64
    reference = np.stack([np.stack([
        np.clip(_pil_clean(pixels[b, :, :, c]), 0, 255) / 127.5 - 1.0
        for c in range(channels)], axis=-1) for b in range(2)])
    difference = np.max(np.abs(ours - reference))
    s, k1 = _kernel_bounds(_keys_cubic, _keys_cubic_slope, size, SIZE)
    tolerance = _float32_tolerance(s, k1, size, magnitude=1.0)
    print(f"{size}x{size} -> {SIZE}: max |ours - PIL| = {difference:.3g} "
          f"(x 127.5 = {127.5 * difference:.3g} in [0, 255]), tolerance "
          f"{tolerance:.3g}")
    assert difference <= tolerance


def test_clean_resize_clips_the_bicubic_overshoot_as_clean_fid():
    pixels = np.zeros((28, 28), np.float64)
    pixels[:, 14:] = 255.0  # A step: the cubic's negative lobes overshoot it.
    unclipped = _pil_clean(pixels)
    assert unclipped.max() > 255 and unclipped.min() < 0
    ours = np.asarray(fid_resize.clean_resize(
        (pixels / 127.5 - 1.0)[None, :, :, None].astype(np.float32), SIZE))[0, :, :, 0]
    assert ours.max() == 1.0 and ours.min() == -1.0
    np.testing.assert_allclose(ours, np.clip(unclipped, 0, 255) / 127.5 - 1.0,
                               atol=_float32_tolerance(
                                   *_kernel_bounds(_keys_cubic, _keys_cubic_slope,
                                                   28, SIZE), 28, 1.0))


def _torch_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """PyTorch's `F.interpolate(mode="bilinear", align_corners=False)` of an
    (H, W) image, float64, as written in its ATen kernel: source position
    `max((i + 1/2) H / size - 1/2, 0)`, its floor and the next pixel
    (clamped), weighted by the fraction."""
    def along(x, axis):
        n = x.shape[axis]
        source = np.maximum((np.arange(size) + 0.5) * n / size - 0.5, 0.0)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n - 1)
        frac = source - low
        shape = [1, 1]
        shape[axis] = size
        return (np.take(x, low, axis) * (1 - frac).reshape(shape)
                + np.take(x, high, axis) * frac.reshape(shape))
    return along(along(image, 0), 1)


def _triangle(x):
    return np.maximum(1 - np.abs(x), 0.0)


def _triangle_slope(x):
    return (np.abs(x) < 1).astype(np.float64)


@pytest.mark.parametrize("size", [28, 32])
def test_pytorch_fid_resize_is_pytorchs_bilinear(size):
    """What the code did before `eval.fid_resize` existed, and still does by
    default: pytorch-fid's bilinear resize, no antialiasing."""
    rng = np.random.default_rng(size)
    images = rng.uniform(-1, 1, (1, size, size, 1)).astype(np.float32)
    ours = np.asarray(fid_resize.pytorch_fid_resize(images, SIZE), np.float64)
    reference = _torch_bilinear(images[0, :, :, 0].astype(np.float64), SIZE)
    s, k1 = _kernel_bounds(_triangle, _triangle_slope, size, SIZE)
    assert np.max(np.abs(ours[0, :, :, 0] - reference)) <= _float32_tolerance(
        s, k1, size, magnitude=1.0)


def test_the_inception_input_is_resized_by_the_chosen_method():
    rng = np.random.default_rng(0)
    grey = rng.uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    rgb = np.tile(grey, (1, 1, 1, 3))
    default = inception_v3.preprocess_images(grey)
    np.testing.assert_array_equal(default,
                                  fid_resize.pytorch_fid_resize(rgb, SIZE))
    clean = inception_v3.preprocess_images(grey, method=fid_resize.CLEAN)
    np.testing.assert_array_equal(clean, fid_resize.clean_resize(rgb, SIZE))
    assert clean.shape == (2, SIZE, SIZE, 3) and clean.dtype == jnp.float32
    # The two differ by far more than round-off: that is the point of choosing.
    assert float(jnp.max(jnp.abs(clean - default))) > 0.1


def test_an_unknown_fid_resize_is_refused_naming_the_flag_and_the_values():
    config = defaults.image_config()
    config.eval.fid_resize = "lanczos"
    with pytest.raises(ValueError) as refused:
        gan_spec.build(config)
    text = str(refused.value)
    assert "\n" not in text
    assert text.startswith("Unknown --config.eval.fid_resize='lanczos'. Valid "
                           "resizes: pytorch_fid, clean.")
    with pytest.raises(ValueError, match="--config.eval.fid_resize"):
        features_lib.create("inception", "unused.npz", fid_resize="lanczos")
    assert gan_spec.build(defaults.image_config()).eval.fid_resize == "pytorch_fid"


# Statistics files.

def _statistics(dim=5, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(50, dim))
    return features.mean(axis=0), np.cov(features, rowvar=False)


def test_statistics_round_trip_with_their_labels(tmp_path):
    mu, sigma = _statistics()
    path = tmp_path / "stats.npz"
    frechet.save_statistics(path, mu, sigma, features="inception",
                            fid_resize="clean")
    loaded_mu, loaded_sigma, labels = frechet.load_statistics(
        path, flag="ref_stats", dim=5)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    assert labels == {"features": "inception", "fid_resize": "clean"}
    # Readable as pytorch-fid reads it: np.load(...)["mu"], ["sigma"], no pickle.
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["mu"], mu)
        np.testing.assert_array_equal(data["sigma"], sigma)


def test_a_pytorch_fid_statistics_file_loads_without_labels(tmp_path):
    mu, sigma = _statistics()
    path = tmp_path / "fid_stats.npz"
    np.savez(path, mu=mu.astype(np.float32), sigma=sigma.astype(np.float32))
    loaded_mu, loaded_sigma, labels = frechet.load_statistics(path, flag="ref_stats")
    assert loaded_mu.dtype == loaded_sigma.dtype == np.float64 and labels == {}
    np.testing.assert_array_equal(loaded_mu, mu.astype(np.float32))
    extractor = features_lib.FeatureExtractor("inception", None, 1, resize="clean")
    evaluator.reference_statistics(str(path), extractor, dim=5)  # Accepted.


def _refusal(path, dim=None, exception=ValueError) -> str:
    with pytest.raises(exception) as refused:
        frechet.load_statistics(path, flag="ref_stats", dim=dim)
    text = str(refused.value)
    assert "\n" not in text and text.startswith(f"--ref_stats={path}"), text
    return text


def test_bad_statistics_files_are_refused_in_one_paragraph_naming_the_flag(tmp_path):
    mu, sigma = _statistics()
    assert "no such file" in _refusal(tmp_path / "missing.npz",
                                      exception=FileNotFoundError)
    (tmp_path / "text.npz").write_text("not numpy")
    assert "not a .npz file" in _refusal(tmp_path / "text.npz")
    np.save(tmp_path / "one.npy", mu)
    assert "holds one array" in _refusal(tmp_path / "one.npy")
    np.savez(tmp_path / "no_sigma.npz", mu=mu, cov=sigma)
    assert "has no sigma (it holds cov, mu)" in _refusal(tmp_path / "no_sigma.npz")
    np.savez(tmp_path / "shapes.npz", mu=mu, sigma=sigma[:4, :4])
    assert "statistics of d-dimensional features" in _refusal(tmp_path / "shapes.npz")
    np.savez(tmp_path / "dim.npz", mu=mu, sigma=sigma)
    text = _refusal(tmp_path / "dim.npz", dim=2048)
    assert "5-dimensional features" in text and "2048 dimensions" in text
    np.savez(tmp_path / "nan.npz", mu=mu * np.nan, sigma=sigma)
    assert "NaN or inf" in _refusal(tmp_path / "nan.npz")


def test_statistics_of_another_resize_or_network_are_refused(tmp_path):
    mu, sigma = _statistics()
    path = tmp_path / "stats.npz"
    frechet.save_statistics(path, mu, sigma, features="inception",
                            fid_resize="pytorch_fid")
    clean = features_lib.FeatureExtractor("inception", None, 1, resize="clean")
    with pytest.raises(ValueError) as refused:
        evaluator.reference_statistics(str(path), clean)
    text = str(refused.value)
    assert "\n" not in text and text.startswith(f"--ref_stats={path}")
    assert "fid_resize=pytorch_fid" in text and "--fid_resize=pytorch_fid" in text
    classifier = features_lib.FeatureExtractor("mnist_classifier", None, 1)
    with pytest.raises(ValueError, match="--features=inception"):
        evaluator.reference_statistics(str(path), classifier)
