"""The input pipeline: sources, image preprocessing, batching, resume, errors."""

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax import defaults
from gan_jax.data import image_preprocessing
from gan_jax.data import input_pipeline
from gan_jax.data import sources


def _data_config(tmp_path, **overrides):
    config = defaults.base_config().data
    config.data_dir = str(tmp_path / "tfds")
    config.update(overrides)
    return config


def _examples(dataset, num=None):
    return list(tfds.as_numpy(dataset.take(num) if num else dataset))


def _is_scaled_uint8(x):
    """True when every value is `v / 127.5 - 1` for an integer v in [0, 255]."""
    pixels = (x.astype(np.float64) + 1.0) * 127.5
    return (np.allclose(pixels, np.round(pixels), atol=1e-3)
            and pixels.min() > -1e-3 and pixels.max() < 255 + 1e-3)


# --- The tfds source, on TFDS's mock data (no download). ---


def test_tfds_mnist_shapes_range_and_labels(tmp_path):
    with tfds.testing.mock_data(num_examples=20):
        source = input_pipeline.load(
            _data_config(tmp_path, source="tfds", name="mnist"))
        examples = _examples(source.dataset)
    assert source.num_classes == 10
    assert input_pipeline.sample_shape(source.dataset) == (28, 28, 1)
    assert source.dataset.element_spec["label"].dtype == tf.int32
    assert len(examples) == 20
    x = np.stack([e["x"] for e in examples])
    labels = np.array([e["label"] for e in examples])
    assert x.dtype == np.float32 and x.shape == (20, 28, 28, 1)
    assert _is_scaled_uint8(x)
    assert x.min() < -0.9 and x.max() > 0.9  # Mock pixels span 0..255.
    assert labels.dtype == np.int32 and np.all((labels >= 0) & (labels < 10))


def test_tfds_cifar10_resized(tmp_path):
    with tfds.testing.mock_data(num_examples=4):
        source = input_pipeline.load(_data_config(
            tmp_path, source="tfds", name="cifar10", image_size=16))
        examples = _examples(source.dataset)
    assert source.num_classes == 10
    assert input_pipeline.sample_shape(source.dataset) == (16, 16, 3)
    x = np.stack([e["x"] for e in examples])
    assert x.shape == (4, 16, 16, 3)
    assert x.min() >= -1.0 and x.max() <= 1.0


@pytest.mark.parametrize("image_size, shape", [(None, (178, 178, 3)),
                                               (32, (32, 32, 3))])
def test_tfds_celeba_center_crop_without_labels(tmp_path, image_size, shape):
    with tfds.testing.mock_data(num_examples=2):
        source = input_pipeline.load(_data_config(
            tmp_path, source="tfds", name="celeb_a", center_crop=True,
            image_size=image_size))
        examples = _examples(source.dataset)
    assert source.num_classes is None  # CelebA has attributes, no class label.
    assert set(source.dataset.element_spec) == {"x"}
    assert input_pipeline.sample_shape(source.dataset) == shape
    assert examples[0]["x"].shape == shape


def test_tfds_images_of_varying_size_need_image_size(tmp_path):
    config = _data_config(tmp_path, source="tfds", name="oxford_flowers102")
    with tfds.testing.mock_data(num_examples=3):
        with pytest.raises(ValueError, match="--config.data.image_size"):
            input_pipeline.load(config)
        config.image_size = 8
        source = input_pipeline.load(config)
        examples = _examples(source.dataset)
    assert source.num_classes == 102
    assert [e["x"].shape for e in examples] == [(8, 8, 3)] * 3


def test_tfds_dataset_without_images_is_rejected(tmp_path):
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match="no uint8 image feature 'image'"):
            input_pipeline.load(
                _data_config(tmp_path, source="tfds", name="imdb_reviews"))


def test_tfds_unprepared_without_network_says_how_to_fix(tmp_path, monkeypatch):
    def fail_like_no_network(self, *args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        fail_like_no_network)
    config = _data_config(tmp_path, source="tfds", name="mnist")
    with pytest.raises(RuntimeError) as excinfo:
        input_pipeline.load(config)
    message = str(excinfo.value)
    for expected in ("'mnist'", config.data_dir, "ConnectionError",
                     "tfds build mnist", "--config.data.source=idx",
                     "--config.data.source=folder", "--config.data.path",
                     "t10k-images-idx3-ubyte"):
        assert expected in message
    # The download traceback is not chained onto the user's error.
    assert excinfo.value.__suppress_context__


def test_tfds_unknown_name_suggests_close_names(tmp_path):
    with pytest.raises(ValueError, match=r"'mnistt'.*Did you mean.*mnist"):
        input_pipeline.load(_data_config(tmp_path, source="tfds", name="mnistt"))


def test_unknown_source_lists_valid_sources(tmp_path):
    with pytest.raises(ValueError) as excinfo:
        input_pipeline.load(_data_config(tmp_path, source="imagenet"))
    assert "folder, idx, stacked_mnist, tfds, toy" in str(excinfo.value)
    assert "--config.data.source" in str(excinfo.value)


def test_every_source_name_the_spec_accepts_has_a_reader():
    """The spec checks `config.data.source` against `sources.SOURCES` (no
    TensorFlow needed), the pipeline reads with `input_pipeline.SOURCES`."""
    assert tuple(input_pipeline.SOURCES) == sources.SOURCES


@pytest.mark.parametrize("source", ["idx", "folder"])
def test_local_sources_need_a_path(tmp_path, source):
    with pytest.raises(ValueError, match="--config.data.path"):
        input_pipeline.load(_data_config(tmp_path, source=source))


def test_toy_source_has_points_and_no_labels(tmp_path):
    source = input_pipeline.load(
        _data_config(tmp_path, source="toy", name="ring8", split="test"))
    assert source.num_classes is None
    assert set(source.dataset.element_spec) == {"x"}  # The mode is no label.
    assert input_pipeline.sample_shape(source.dataset) == (2,)
    radii = np.linalg.norm([e["x"] for e in _examples(source.dataset, 100)],
                           axis=1)
    np.testing.assert_allclose(radii, 2.0, atol=0.2)


# --- Image preprocessing. ---


def test_center_square_crop_static_and_dynamic_shapes():
    image = tf.constant(np.arange(4 * 6, dtype=np.uint8).reshape(4, 6, 1))
    expected = image.numpy()[:, 1:5]
    static = image_preprocessing.center_square_crop(image)
    assert static.shape == (4, 4, 1)
    np.testing.assert_array_equal(static.numpy(), expected)

    crop = tf.function(image_preprocessing.center_square_crop,
                       input_signature=[tf.TensorSpec((None, None, 1), tf.uint8)])
    np.testing.assert_array_equal(crop(image).numpy(), expected)
    tall = tf.transpose(image, (1, 0, 2))
    np.testing.assert_array_equal(crop(tall).numpy(),
                                  tall.numpy()[1:5, :])


def test_to_model_input_scales_exactly_and_resizes():
    image = tf.constant([[[0], [255]], [[127], [128]]], tf.uint8)
    x = image_preprocessing.to_model_input(image)
    assert x.dtype == tf.float32
    np.testing.assert_allclose(x.numpy()[..., 0],
                               [[-1.0, 1.0], [127 / 127.5 - 1, 128 / 127.5 - 1]],
                               rtol=0, atol=1e-7)

    # Resizing 6x6 white to 4x4 sums filter weights to 255.00005 unclipped.
    white = tf.fill((6, 6, 3), tf.constant(255, tf.uint8))
    resized = image_preprocessing.to_model_input(white, image_size=4).numpy()
    assert resized.shape == (4, 4, 3)
    assert resized.max() <= 1.0
    np.testing.assert_allclose(resized, 1.0, atol=1e-6)

    # A 1-pixel line every 4 columns, shrunk 4x: antialiasing keeps the lines
    # as grey (about the input's mean), where plain bilinear sampling lands
    # between them and returns black.
    lines = np.zeros((8, 8, 1), np.uint8)
    lines[:, ::4] = 255
    shrunk = image_preprocessing.to_model_input(lines, image_size=2).numpy()
    assert shrunk.min() > -0.9
    assert abs(shrunk.mean() - (lines.mean() / 127.5 - 1)) < 0.1


# --- Batching. ---


def _labelled_dataset(num):
    """Examples whose label is a function of x, to check pairs stay together."""
    index = np.arange(num)
    return tf.data.Dataset.from_tensor_slices({
        "x": np.stack([index, -index], axis=1).astype(np.float32),
        "label": (index % 3).astype(np.int32)})


def _batches(dataset, num, **kwargs):
    kwargs = {"batch_size": 4, "n_critic": 2, "seed": 0, "shuffle_buffer": 64,
              **kwargs}
    batches = input_pipeline.train_batches(dataset, **kwargs)
    return list(itertools.islice(tfds.as_numpy(batches), num))


def test_train_batches_shapes_and_labels_follow_their_examples():
    batches = _batches(_labelled_dataset(10), 6)
    for batch in batches:
        assert batch["x"].shape == (2, 4, 2) and batch["x"].dtype == np.float32
        assert batch["label"].shape == (2, 4) and batch["label"].dtype == np.int32
        np.testing.assert_array_equal(batch["label"],
                                      batch["x"][..., 0].astype(int) % 3)
    # Six steps of 8 examples is ~5 epochs of 10: every example was seen.
    seen = np.concatenate([b["x"][..., 0].ravel() for b in batches])
    assert set(seen.astype(int)) == set(range(10))


def test_train_batches_seeded_and_shuffled():
    first = _batches(_labelled_dataset(64), 3, seed=1)
    again = _batches(_labelled_dataset(64), 3, seed=1)
    other = _batches(_labelled_dataset(64), 3, seed=2)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(first[0]["x"], other[0]["x"])
    assert not np.array_equal(first[0]["x"][..., 0].ravel(), np.arange(8))


def test_train_batches_resume_equals_uninterrupted_stream():
    # 10 examples, 8 per step: resuming at step 3 crosses epoch boundaries,
    # where the reshuffled order must match too.
    uninterrupted = _batches(_labelled_dataset(10), 6)
    resumed = _batches(_labelled_dataset(10), 3, start_step=3)
    for a, b in zip(uninterrupted[3:], resumed):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["label"], b["label"])


@pytest.mark.parametrize("cache", [True, False])
def test_train_batches_cache_keeps_first_epoch(cache):
    # Unseeded random values differ on every pass unless the pass is cached.
    dataset = tf.data.Dataset.range(8).map(
        lambda i: {"x": tf.random.uniform(())})
    first, second = _batches(dataset, 2, batch_size=8, n_critic=1,
                             shuffle_buffer=1, cache=cache)
    assert np.array_equal(np.sort(first["x"]), np.sort(second["x"])) == cache


def test_a_split_of_several_splits_reads_all_of_them(tmp_path):
    """TFDS's "a+b" split syntax (configs/dcgan64_reference.py reads celeb_a's
    "train+validation+test") goes through this pipeline's per-process split
    and reads every example of each part, here of an IDX folder's train (20)
    and test (12) splits."""
    import idx_digits  # tests/idx_digits.py
    folder = tmp_path / "idx"
    idx_digits.write(folder, num=12)  # The test split.
    idx_digits.write(tmp_path / "more", num=20)
    for kind in ("images-idx3", "labels-idx1"):
        (tmp_path / "more" / f"t10k-{kind}-ubyte.gz").rename(
            folder / f"train-{kind}-ubyte.gz")
    counts = {}
    for split in ("train", "test", "train+test"):
        source = input_pipeline.load(_data_config(
            tmp_path, source="idx", path=str(folder), split=split))
        counts[split] = len(_examples(source.dataset))
    assert counts == {"train": 20, "test": 12, "train+test": 32}


def _idx_source(tmp_path, **overrides):
    import idx_digits  # tests/idx_digits.py
    folder = tmp_path / "idx"
    if not folder.exists():
        idx_digits.write(folder, num=40)  # Labels 0..9, four times over.
    return input_pipeline.load(_data_config(
        tmp_path, source="idx", path=str(folder), split="test", **overrides))


def test_classes_and_max_examples_select_a_subset_in_split_order(tmp_path):
    """`data.classes` keeps the examples with those labels, unrenumbered and
    in the split's order, and `data.max_examples` then keeps the first N."""
    everything = _examples(_idx_source(tmp_path).dataset)
    expected = [e for e in everything if e["label"] in (7, 2, 5)]
    subset = _idx_source(tmp_path, classes=(7, 2, 5))
    assert subset.num_classes == 10
    kept = _examples(subset.dataset)
    assert [e["label"] for e in kept] == [e["label"] for e in expected]
    for got, want in zip(kept, expected):
        np.testing.assert_array_equal(got["x"], want["x"])
    first = _examples(_idx_source(tmp_path, classes=(7, 2, 5),
                                  max_examples=5).dataset)
    assert [e["label"] for e in first] == [e["label"] for e in expected[:5]]
    assert len(_examples(_idx_source(tmp_path, max_examples=3).dataset)) == 3


def test_classes_the_source_lacks_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"--config.data.classes names \[10, 12\].*"
                       r"labels are 0\.\.9"):
        _idx_source(tmp_path, classes=(3, 10, 12))
    with pytest.raises(ValueError, match=r"--config.data.classes=\[1\].*'ring8' "
                       r"\(toy\) has no class labels"):
        input_pipeline.load(_data_config(tmp_path, source="toy", name="ring8",
                                         classes=(1,)))
