"""The idx source: IDX parsing, the local TFDS builder, errors, real MNIST."""

import gzip
import pathlib

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import defaults
from gan_jax.data import idx_folder
from gan_jax.data import input_pipeline

MNIST_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _write_idx(path, array, magic, gzipped=False):
    ndim = magic & 0xFF
    assert array.ndim == ndim
    data = (magic.to_bytes(4, "big")
            + np.asarray(array.shape, dtype=">u4").tobytes()
            + array.astype(np.uint8).tobytes())
    if gzipped:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _write_split(folder, split, images, labels, gzipped=False):
    images_stem, labels_stem = idx_folder.SPLIT_FILES[split]
    _write_idx(folder / images_stem, images, idx_folder.IMAGES_MAGIC, gzipped)
    _write_idx(folder / labels_stem, labels, idx_folder.LABELS_MAGIC, gzipped)


def _random_split(seed, num, height=5, width=3, max_label=12):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (num, height, width), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # The extremes map to -1 and 1.
    labels = rng.integers(0, max_label + 1, num, dtype=np.uint8)
    labels[0] = max_label
    return images, labels


def _config(folder, tmp_path, **overrides):
    config = defaults.base_config().data
    config.update(source="idx", path=str(folder),
                  data_dir=str(tmp_path / "tfds"), **overrides)
    return config


def _read(source):
    examples = list(tfds.as_numpy(source.dataset))
    return (np.stack([e["x"] for e in examples]),
            np.array([e["label"] for e in examples]))


@pytest.fixture
def folder(tmp_path):
    """Train (gzipped, 7 images) and test (plain, 4 images) of 5x3 pixels."""
    folder = tmp_path / "digits"
    folder.mkdir()
    _write_split(folder, "train", *_random_split(0, 7), gzipped=True)
    _write_split(folder, "test", *_random_split(1, 4))
    return folder


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_round_trip(tmp_path, gzipped):
    images, labels = _random_split(0, 6, height=4, width=9)
    images_path = _write_idx(tmp_path / "images", images,
                             idx_folder.IMAGES_MAGIC, gzipped)
    labels_path = _write_idx(tmp_path / "labels", labels,
                             idx_folder.LABELS_MAGIC, gzipped)
    read = idx_folder.read_idx(str(images_path), idx_folder.IMAGES_MAGIC)
    assert read.shape == (6, 4, 9) and read.dtype == np.uint8
    np.testing.assert_array_equal(read, images)
    assert idx_folder.read_idx_shape(str(images_path),
                                     idx_folder.IMAGES_MAGIC) == (6, 4, 9)
    np.testing.assert_array_equal(
        idx_folder.read_idx(str(labels_path), idx_folder.LABELS_MAGIC), labels)


@pytest.mark.parametrize("split, seed, num", [("train", 0, 7), ("test", 1, 4)])
def test_idx_source_exact_pixels_labels_and_order(folder, tmp_path, split, seed,
                                                  num):
    images, labels = _random_split(seed, num)
    source = input_pipeline.load(_config(folder, tmp_path, split=split))
    assert source.num_classes == 13  # Largest label 12, plus one.
    assert input_pipeline.sample_shape(source.dataset) == (5, 3, 1)
    x, read_labels = _read(source)
    assert x.dtype == np.float32 and read_labels.dtype == np.int32
    np.testing.assert_allclose(x[..., 0], images / 127.5 - 1.0, rtol=0,
                               atol=1e-7)
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 1, 0] == 1.0
    np.testing.assert_array_equal(read_labels, labels)


def test_num_classes_is_at_least_ten(tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    _write_split(folder, "test", *_random_split(0, 3, max_label=2))
    assert idx_folder.make_config(str(folder)).num_classes == 10


def test_process_parts_are_disjoint_and_cover_the_split(folder, tmp_path,
                                                        monkeypatch):
    images, _ = _random_split(0, 7)
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    parts = []
    for index in range(2):
        monkeypatch.setattr(jax, "process_index", lambda index=index: index)
        x, _ = _read(input_pipeline.load(_config(folder, tmp_path)))
        parts.append(np.round((x[..., 0] + 1.0) * 127.5).astype(np.uint8))
    assert [len(p) for p in parts] == [4, 3]
    np.testing.assert_array_equal(np.concatenate(parts), images)


def test_missing_split_names_available_splits(tmp_path):
    folder = tmp_path / "train_only"
    folder.mkdir()
    _write_split(folder, "train", *_random_split(0, 2))
    with pytest.raises(ValueError) as excinfo:
        input_pipeline.load(_config(folder, tmp_path, split="test[:50%]"))
    message = str(excinfo.value)
    assert "'test'" in message and "available: train" in message
    assert "--config.data.split" in message


def test_missing_folder_or_files_list_expected_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        input_pipeline.load(_config(tmp_path / "nowhere", tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as excinfo:
        input_pipeline.load(_config(empty, tmp_path))
    message = str(excinfo.value)
    assert str(empty) in message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message


def test_half_a_split_names_the_missing_file(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    images, _ = _random_split(0, 2)
    _write_idx(folder / "t10k-images-idx3-ubyte", images, idx_folder.IMAGES_MAGIC)
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        input_pipeline.load(_config(folder, tmp_path, split="test"))


def test_bad_magic_names_the_file(tmp_path):
    folder = tmp_path / "swapped"
    folder.mkdir()
    images, labels = _random_split(0, 2)
    # Labels written with the images' magic number: a wrong file.
    _write_idx(folder / "t10k-images-idx3-ubyte", images, idx_folder.IMAGES_MAGIC)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(
        idx_folder.IMAGES_MAGIC.to_bytes(4, "big") + bytes(20))
    with pytest.raises(ValueError) as excinfo:
        input_pipeline.load(_config(folder, tmp_path, split="test"))
    message = str(excinfo.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert "0x00000803" in message and "expected 0x00000801" in message


def test_truncated_images_name_the_file(tmp_path):
    folder = tmp_path / "short"
    folder.mkdir()
    images, labels = _random_split(0, 3)
    _write_split(folder, "test", images, labels)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte is truncated"):
        input_pipeline.load(_config(folder, tmp_path, split="test"))


def test_config_name_tells_folders_and_contents_apart(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        _write_split(folder, "test", *_random_split(0, 2))
    name = idx_folder.make_config(str(first)).name
    assert name.startswith("a_")
    assert idx_folder.make_config(str(first)).name == name
    assert idx_folder.make_config(str(second)).name != name
    _write_split(first, "train", *_random_split(0, 2))
    assert idx_folder.make_config(str(first)).name != name


def _parse_mnist(name, header_bytes):
    """A file of the real MNIST, parsed independently of `idx_folder`."""
    with gzip.open(MNIST_DIR / name, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header_bytes)


def test_real_mnist_test_split(tmp_path):
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Real MNIST IDX files not found in {MNIST_DIR}.")
    source = input_pipeline.load(_config(MNIST_DIR, tmp_path, split="test"))
    assert source.num_classes == 10
    assert input_pipeline.sample_shape(source.dataset) == (28, 28, 1)
    batches = list(tfds.as_numpy(source.dataset.batch(2_000)))
    x = np.concatenate([b["x"] for b in batches])
    labels = np.concatenate([b["label"] for b in batches])
    assert x.shape == (10_000, 28, 28, 1)
    counts = np.bincount(labels)
    np.testing.assert_array_equal(  # As listed in shared/data/mnist/README.md.
        counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])

    np.testing.assert_array_equal(
        labels, _parse_mnist("t10k-labels-idx1-ubyte.gz", 8))
    images = _parse_mnist("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    for i in (0, 1, 4_999, 9_999):
        np.testing.assert_allclose(x[i, ..., 0], images[i] / 127.5 - 1.0,
                                   rtol=0, atol=1e-7)
