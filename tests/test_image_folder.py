"""The folder source: class sub-folders of PNG/JPEG files as a TFDS dataset."""

import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds

from gan_jax import defaults
from gan_jax.data import image_folder
from gan_jax.data import input_pipeline


def _config(folder, tmp_path, **overrides):
    config = defaults.base_config().data
    config.update(source="folder", path=str(folder),
                  data_dir=str(tmp_path / "tfds"), **overrides)
    return config


def _save(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(pixels).save(path, quality=95)
    return pixels


def _read(source):
    examples = list(tfds.as_numpy(source.dataset))
    return (np.stack([e["x"] for e in examples]),
            np.array([e["label"] for e in examples]))


def _to_pixels(x):
    return np.round((x + 1.0) * 127.5).astype(np.int64)


@pytest.fixture
def same_size_folder(tmp_path):
    """Classes zebra/ and ant/ (ant sorts first), 4x6 PNGs incl. grayscale."""
    folder = tmp_path / "animals"
    rng = np.random.default_rng(0)
    pixels = {
        "ant/b.png": rng.integers(0, 256, (4, 6, 3), dtype=np.uint8),
        "ant/nested/c.PNG": rng.integers(0, 256, (4, 6, 3), dtype=np.uint8),
        "zebra/a.png": rng.integers(0, 256, (4, 6), dtype=np.uint8),
    }
    for name, image in pixels.items():
        _save(folder / name, image)
    (folder / "zebra" / "notes.txt").write_text("not an image")
    (folder / "zebra" / ".hidden.png").write_bytes(b"editor junk")
    return folder, pixels


def test_png_pixels_exact_and_labels_from_sorted_folders(same_size_folder,
                                                         tmp_path):
    folder, pixels = same_size_folder
    source = input_pipeline.load(_config(folder, tmp_path))
    assert source.num_classes == 2
    assert input_pipeline.sample_shape(source.dataset) == (4, 6, 3)
    x, labels = _read(source)
    assert x.dtype == np.float32 and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [0, 0, 1])  # ant, ant, zebra.
    np.testing.assert_allclose(x[0], pixels["ant/b.png"] / 127.5 - 1.0,
                               rtol=0, atol=1e-7)
    np.testing.assert_array_equal(_to_pixels(x[1]), pixels["ant/nested/c.PNG"])
    # Grayscale becomes RGB with three equal channels.
    gray = pixels["zebra/a.png"]
    np.testing.assert_array_equal(_to_pixels(x[2]),
                                  np.repeat(gray[..., None], 3, axis=-1))
    builder = image_folder.make_builder(str(folder), str(tmp_path / "tfds"))
    assert builder.info.features["label"].names == ["ant", "zebra"]


def test_center_crop_of_stored_size_is_static_and_exact(same_size_folder,
                                                        tmp_path):
    folder, pixels = same_size_folder
    source = input_pipeline.load(_config(folder, tmp_path, center_crop=True))
    assert input_pipeline.sample_shape(source.dataset) == (4, 4, 3)
    x, _ = _read(source)
    np.testing.assert_array_equal(_to_pixels(x[0]), pixels["ant/b.png"][:, 1:5])


def test_mixed_sizes_and_jpeg_need_image_size(tmp_path):
    folder = tmp_path / "mixed"
    red = np.zeros((12, 8, 3), np.uint8)
    red[..., 0] = 200
    _save(folder / "one" / "red.JPG", red)
    _save(folder / "one" / "blue.jpeg", np.tile([[[0, 0, 220]]], (5, 9, 1))
          .astype(np.uint8))
    _save(folder / "two" / "grey.png", np.full((7, 7, 3), 90, np.uint8))

    with pytest.raises(ValueError) as excinfo:
        input_pipeline.load(_config(folder, tmp_path))
    assert "3 different sizes" in str(excinfo.value)
    assert "--config.data.image_size" in str(excinfo.value)

    source = input_pipeline.load(_config(folder, tmp_path, image_size=4))
    assert source.num_classes == 2
    assert input_pipeline.sample_shape(source.dataset) == (4, 4, 3)
    x, labels = _read(source)
    np.testing.assert_array_equal(labels, [0, 0, 1])
    # Flat colours survive resizing; JPEG is lossy, so within a few levels.
    expected = [(0, 0, 220), (200, 0, 0), (90, 90, 90)]  # blue < red by name.
    for image, colour in zip(x, expected):
        np.testing.assert_allclose(_to_pixels(image),
                                   np.broadcast_to(colour, (4, 4, 3)), atol=4)


def test_split_other_than_train_is_rejected(same_size_folder, tmp_path):
    folder, _ = same_size_folder
    with pytest.raises(ValueError, match="available: train"):
        input_pipeline.load(_config(folder, tmp_path, split="test"))


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        input_pipeline.load(_config(tmp_path / "nowhere", tmp_path))


def test_images_without_class_folders(tmp_path):
    folder = tmp_path / "flat"
    _save(folder / "a.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        input_pipeline.load(_config(folder, tmp_path))


def test_no_images_lists_folder_and_extensions(tmp_path):
    folder = tmp_path / "no_images"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "cat.gif").write_bytes(b"GIF89a")
    with pytest.raises(FileNotFoundError) as excinfo:
        input_pipeline.load(_config(folder, tmp_path))
    message = str(excinfo.value)
    assert str(folder) in message and ".png, .jpg, .jpeg" in message


def test_config_name_changes_with_the_listing(same_size_folder):
    folder, _ = same_size_folder
    name = image_folder.make_config(str(folder)).name
    assert name.startswith("animals_")
    assert image_folder.make_config(str(folder)).name == name
    _save(folder / "zebra" / "new.png", np.zeros((4, 6, 3), np.uint8))
    assert image_folder.make_config(str(folder)).name != name
