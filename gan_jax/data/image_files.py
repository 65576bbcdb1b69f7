"""Images a user has, read into one float32 array in [-1, 1].

`read_images(path, sample_shape)` takes what is at `path`:
  - a folder of PNG/JPEG files (sorted by name); files of another size are
    skipped with a warning (such as the `grid.png` `gan_jax.sample` writes);
  - a `.npy` array `(N, H, W)` or `(N, H, W, C)`: uint8 in [0, 255], or
    floats already in [-1, 1];
  - an IDX image file (`*-images-idx3-ubyte[.gz]`, the MNIST format).
"""

import os

from absl import logging
from etils import epath
import numpy as np
import PIL.Image

from gan_jax.data import idx_folder
from gan_jax.data import image_folder

FORMATS = ("a folder of .png/.jpg/.jpeg files, a .npy array (N, H, W[, C]) of "
           "uint8 or of floats in [-1, 1], or an IDX image file "
           "(e.g. t10k-images-idx3-ubyte.gz)")


def read_image_folder(folder: epath.PathLike, sample_shape) -> np.ndarray:
    """The image files of `folder` (sorted) of `sample_shape`, in [-1, 1].

    Files of another size are skipped with a warning naming them.
    """
    paths = sorted(path for path in epath.Path(folder).iterdir()
                   if path.suffix.lower() in image_folder.EXTENSIONS)
    mode = "L" if sample_shape[-1] == 1 else "RGB"
    images, skipped = [], []
    for path in paths:
        with path.open("rb") as f:
            image = np.asarray(PIL.Image.open(f).convert(mode), np.float32)
        image = image.reshape(image.shape[0], image.shape[1], -1)
        if image.shape == tuple(sample_shape):
            images.append(image / 127.5 - 1.0)
        else:
            skipped.append(path.name)
    if skipped:
        logging.warning("Skipped %d file(s) that are not %s images: %s",
                        len(skipped), tuple(sample_shape), ", ".join(skipped[:5]))
    if not images:
        raise ValueError(f"No {tuple(sample_shape)} images "
                         f"({', '.join(image_folder.EXTENSIONS)}) in {folder}.")
    return np.stack(images)


def _scaled(array: np.ndarray, path: str, sample_shape) -> np.ndarray:
    """An `(N, H, W[, C])` uint8 or [-1, 1] float array as `(N, *sample_shape)`
    floats in [-1, 1]."""
    stored_shape = array.shape
    if array.ndim == len(sample_shape):  # (N, H, W) of a one-channel shape.
        array = array[..., None]
    if array.ndim != len(sample_shape) + 1 or array.shape[1:] != tuple(sample_shape):
        raise ValueError(f"{path} holds an array of shape {stored_shape}; this "
                         f"run needs (N, {', '.join(map(str, sample_shape))}).")
    if len(array) == 0:
        raise ValueError(f"{path} holds no images (shape {array.shape}).")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path} holds {array.dtype} values; use uint8 in "
                         "[0, 255] or floats in [-1, 1].")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)) or array.min() < -1 or array.max() > 1:
        raise ValueError(f"{path} holds floats outside [-1, 1] (or non-finite); "
                         "scale them to [-1, 1], or store uint8 in [0, 255].")
    return array


def read_images(path: str, sample_shape) -> np.ndarray:
    """The images at `path` (see the module docstring) as `(N, *sample_shape)`
    float32 in [-1, 1].

    Raises:
      FileNotFoundError: nothing is at `path`.
      ValueError: it is none of the formats, unreadable, or of another shape.
    """
    if os.path.isdir(path):
        return read_image_folder(path, sample_shape)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist; give {FORMATS}.")
    if path.endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"{path} is not a readable .npy array ({error}).") from None
        return _scaled(array, path, sample_shape)
    if "idx3-ubyte" in os.path.basename(path):
        return _scaled(idx_folder.read_idx(path, idx_folder.IMAGES_MAGIC), path,
                       sample_shape)
    raise ValueError(f"{path} is not one of the readable kinds: {FORMATS}.")
