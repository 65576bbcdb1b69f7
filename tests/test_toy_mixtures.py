"""The toy 2-D mixtures: mode layout, sampling statistics, the TFDS builder."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax.data import toy_mixtures


def test_ring8_modes_on_circle_45_degrees_apart():
    modes = toy_mixtures.mixture_modes("ring8")
    assert modes.shape == (8, 2) and modes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 2.0, rtol=1e-6)
    angles = np.degrees(np.arctan2(modes[:, 1], modes[:, 0]))
    np.testing.assert_allclose(np.mod(angles, 360.0), 45.0 * np.arange(8),
                               atol=1e-4)
    assert toy_mixtures.mixture_std("ring8") == 0.02


def test_grid25_modes_are_5x5_lattice():
    modes = toy_mixtures.mixture_modes("grid25")
    assert modes.shape == (25, 2) and modes.dtype == np.float32
    coords = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    lattice = {(x, y) for x in coords for y in coords}
    assert {tuple(m) for m in modes.tolist()} == lattice
    assert toy_mixtures.mixture_std("grid25") == 0.05


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="grid25, ring8"):
        toy_mixtures.mixture_modes("ring7")
    with pytest.raises(ValueError, match="Valid names"):
        toy_mixtures.load_toy_mixture("ring7", "train", None)


def test_mixture_modes_returns_a_copy():
    toy_mixtures.mixture_modes("ring8")[0] = 100.0
    assert toy_mixtures.mixture_modes("ring8")[0, 0] == 2.0


def _check_statistics(points, mode_index, modes, std):
    """Per-mode counts are uniform and per-mode noise has the spec's std."""
    num, num_modes = len(points), len(modes)
    counts = np.bincount(mode_index, minlength=num_modes)
    expected = num / num_modes
    # Binomial counts: 5 standard deviations of slack, so no flaky failures.
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    residual = points.astype(np.float64) - modes[mode_index]
    for k in range(num_modes):
        per_mode = residual[mode_index == k]
        np.testing.assert_allclose(per_mode.mean(axis=0), 0.0, atol=6 * std /
                                   np.sqrt(len(per_mode)))
        # Sample std of ~n normals is off by ~1/sqrt(2n) relatively.
        np.testing.assert_allclose(per_mode.std(axis=0), std,
                                   rtol=6 / np.sqrt(2 * len(per_mode)))


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_sample_mixture_statistics(name):
    rng = np.random.default_rng(0)
    points, mode_index = toy_mixtures.sample_mixture(name, 50_000, rng)
    assert points.shape == (50_000, 2) and points.dtype == np.float32
    assert mode_index.shape == (50_000,) and mode_index.dtype == np.int64
    _check_statistics(points, mode_index, toy_mixtures.mixture_modes(name),
                      toy_mixtures.mixture_std(name))


def _read(dataset, num=None):
    if num is not None:
        dataset = dataset.take(num)
    # A parallel batch reads ~15x faster than a sequential one here.
    batches = list(tfds.as_numpy(
        dataset.batch(10_000, num_parallel_calls=tf.data.AUTOTUNE)))
    return (np.concatenate([b["point"] for b in batches]),
            np.concatenate([b["mode"] for b in batches]).astype(np.int64))


@pytest.fixture(scope="module")
def ring8_dir(tmp_path_factory):
    tfds.disable_progress_bar()
    data_dir = tmp_path_factory.mktemp("tfds_a")
    toy_mixtures.load_toy_mixture("ring8", "test", str(data_dir))
    return str(data_dir)


def test_builder_registered_as_toy_mixture():
    assert "toy_mixture" in tfds.list_builders(with_community_datasets=False)
    assert [c.name for c in toy_mixtures.ToyMixture.BUILDER_CONFIGS] == [
        "ring8", "grid25"]


@pytest.mark.slow
def test_builder_splits_and_statistics(ring8_dir):
    builder = tfds.builder("toy_mixture/ring8", data_dir=ring8_dir)
    assert builder.is_prepared()
    assert builder.info.features["mode"].num_classes == 8
    modes = toy_mixtures.mixture_modes("ring8")
    std = toy_mixtures.mixture_std("ring8")
    for split, size in [("train", 100_000), ("test", 10_000)]:
        dataset = toy_mixtures.load_toy_mixture("ring8", split, ring8_dir)
        points, mode_index = _read(dataset)  # Counted by iterating.
        assert len(points) == size and points.dtype == np.float32
        _check_statistics(points, mode_index, modes.astype(np.float64), std)
    train, _ = _read(builder.as_dataset(split="train"), 1000)
    test, _ = _read(builder.as_dataset(split="test"), 1000)
    assert not np.array_equal(train, test)  # Independent seeds per split.


@pytest.mark.slow
def test_builder_is_deterministic_across_prepares(ring8_dir, tmp_path):
    first, first_modes = _read(
        toy_mixtures.load_toy_mixture("ring8", "train", ring8_dir), 100)
    second, second_modes = _read(
        toy_mixtures.load_toy_mixture("ring8", "train", str(tmp_path)), 100)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_modes, second_modes)
