"""MNIST-format IDX files in a folder, as a local TFDS dataset.

LeCun's MNIST distribution (and Fashion-MNIST, KMNIST, ... which copy it) is
four IDX files; this builder turns a folder of them into a TFDS dataset that
needs no network, so it goes through the same input pipeline as any other:

    folder/train-images-idx3-ubyte[.gz]  folder/train-labels-idx1-ubyte[.gz]
    folder/t10k-images-idx3-ubyte[.gz]   folder/t10k-labels-idx1-ubyte[.gz]

A split (`train`, `test`) exists when both of its files are there. Each folder
gets its own builder config, named after the folder and a hash of its path and
files, so different folders never share a prepared copy in the TFDS data dir:

    builder = make_builder("../shared/data/mnist", data_dir)
"""

import dataclasses
import gzip
import os

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import folder_fingerprint

# IDX magic numbers: two zero bytes, the element type (0x08: unsigned byte)
# and the number of dimensions.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# File stems of each split, as the MNIST distribution names them.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# MNIST-like datasets have 10 classes; a small split may not show them all.
_MIN_NUM_CLASSES = 10


def _open(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _read_bytes(path: str, num_bytes: int | None = None) -> bytes:
    try:
        with _open(path) as f:
            return f.read() if num_bytes is None else f.read(num_bytes)
    except (gzip.BadGzipFile, EOFError) as error:
        raise ValueError(f"{path} is not a readable gzip file ({error}).") from None


def _parse_header(path: str, data: bytes, expected_magic: int
                  ) -> tuple[int, ...]:
    """The dimensions in an IDX header, after checking its magic number."""
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic != expected_magic:
        found = "a file too short for one" if magic is None else f"0x{magic:08x}"
        raise ValueError(
            f"{path} is not an IDX file of the expected kind: its magic number "
            f"is {found}, expected 0x{expected_magic:08x} (unsigned bytes, "
            f"{expected_magic & 0xFF} dimensions).")
    ndim = expected_magic & 0xFF
    header = data[4:4 + 4 * ndim]
    if len(header) < 4 * ndim:
        raise ValueError(f"{path} is truncated inside its IDX header.")
    return tuple(int(d) for d in np.frombuffer(header, dtype=">u4"))


def read_idx_shape(path: str, expected_magic: int) -> tuple[int, ...]:
    """The array shape an IDX file declares, reading only its header."""
    ndim = expected_magic & 0xFF
    return _parse_header(path, _read_bytes(path, 4 + 4 * ndim), expected_magic)


def read_idx(path: str, expected_magic: int) -> np.ndarray:
    """The uint8 array stored in an IDX file (gzipped when named `*.gz`).

    Args:
      path: the file.
      expected_magic: `IMAGES_MAGIC` or `LABELS_MAGIC`; a different magic
        number means a different kind of file, so it is an error.
    """
    data = _read_bytes(path)
    shape = _parse_header(path, data, expected_magic)
    offset = 4 + 4 * len(shape)
    size = int(np.prod(shape))
    if len(data) - offset < size:
        raise ValueError(
            f"{path} is truncated: its header declares shape {shape} "
            f"({size} bytes of data) but it holds {len(data) - offset}.")
    return np.frombuffer(data, dtype=np.uint8, count=size,
                         offset=offset).reshape(shape)


def _find_file(folder: str, stem: str) -> str | None:
    # Uncompressed first: it reads faster when both are there.
    for name in (stem, stem + ".gz"):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def _expected_files_text() -> str:
    return "; ".join(f"{split}: {images}[.gz] and {labels}[.gz]"
                     for split, (images, labels) in SPLIT_FILES.items())


def find_split_files(folder: str) -> dict[str, tuple[str, str]]:
    """`{split: (images_path, labels_path)}` for each split present in `folder`.

    Raises:
      FileNotFoundError: `folder` is missing, holds no complete split, or holds
        only one of a split's two files.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"IDX folder {folder!r} does not exist. Set --config.data.path to a "
            f"folder with MNIST-format files ({_expected_files_text()}).")
    splits = {}
    for split, stems in SPLIT_FILES.items():
        images, labels = (_find_file(folder, stem) for stem in stems)
        if images and labels:
            splits[split] = (images, labels)
        elif images or labels:
            missing = stems[1] if images else stems[0]
            raise FileNotFoundError(
                f"IDX folder {folder!r} has half of the {split!r} split: "
                f"{missing}[.gz] is missing.")
    if not splits:
        raise FileNotFoundError(
            f"IDX folder {folder!r} holds none of the expected files "
            f"({_expected_files_text()}).")
    return splits


@dataclasses.dataclass(eq=False)
class IdxFolderConfig(tfds.core.BuilderConfig):
    """One folder of IDX files; see `make_config`."""
    path: str = ""
    split_files: dict[str, tuple[str, str]] = dataclasses.field(
        default_factory=dict)
    image_shape: tuple[int, int] = (0, 0)
    num_classes: int = _MIN_NUM_CLASSES

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.split_files)


def make_config(folder: str) -> IdxFolderConfig:
    """Validates the files of `folder` and describes them as a builder config.

    Reads the image headers and the (small) label files, so wrong files fail
    here, with the file named, rather than midway through preparation.
    """
    split_files = find_split_files(folder)
    image_shapes, max_label = {}, 0
    for split, (images_path, labels_path) in split_files.items():
        num_images, height, width = read_idx_shape(images_path, IMAGES_MAGIC)
        labels = read_idx(labels_path, LABELS_MAGIC)
        if len(labels) != num_images:
            raise ValueError(
                f"Split {split!r} of {folder!r} has {num_images} images in "
                f"{images_path} but {len(labels)} labels in {labels_path}.")
        image_shapes[split] = (height, width)
        max_label = max(max_label, int(labels.max(initial=0)))
    if len(set(image_shapes.values())) > 1:
        raise ValueError(f"The splits of {folder!r} have images of different "
                         f"sizes (height, width): {image_shapes}.")
    return IdxFolderConfig(
        name=folder_fingerprint.config_name(
            folder, sorted((p, "") for pair in split_files.values() for p in pair),
            default="idx"),
        version=tfds.core.Version("1.0.0"),
        description=f"MNIST-format IDX files in {os.path.abspath(folder)}.",
        path=os.path.abspath(folder),
        split_files=split_files,
        image_shape=next(iter(image_shapes.values())),
        num_classes=max(max_label + 1, _MIN_NUM_CLASSES))


class IdxFolder(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of one folder of IDX files; build it with `make_builder`.

    Examples are `{"image": (H, W, 1) uint8, "label": int64}` in file order.
    """

    name = "idx_folder"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    # See toy_mixtures.ToyMixture: avoids TFDS 4.9.10's importlib_resources
    # lookup (tensorflow/datasets#11212).
    code_path = epath.Path(__file__)
    pkg_dir_path = epath.Path(__file__).parent

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=config.description,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(*config.image_shape, 1)),
                "label": tfds.features.ClassLabel(
                    num_classes=config.num_classes),
            }),
            supervised_keys=("image", "label"),
            # File order, so record i is image i of the IDX file.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # The files are local: nothing to download.
        return {split: self._generate_examples(split)
                for split in self.builder_config.split_files}

    def _generate_examples(self, split: str):
        images_path, labels_path = self.builder_config.split_files[split]
        images = read_idx(images_path, IMAGES_MAGIC)
        labels = read_idx(labels_path, LABELS_MAGIC)
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image[..., None], "label": int(label)}


def make_builder(folder: str, data_dir: str | None = None) -> IdxFolder:
    """The (possibly not yet prepared) builder of the IDX files in `folder`."""
    return IdxFolder(config=make_config(folder), data_dir=data_dir)
