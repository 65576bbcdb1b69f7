"""A folder of image files, one sub-folder per class, as a local TFDS dataset.

    folder/cat/0001.png   folder/cat/more/0002.jpg   folder/dog/0003.jpeg ...

Labels are the indices of the sorted sub-folder names (`cat` 0, `dog` 1);
images are found at any depth inside a class folder by extension (.png, .jpg,
.jpeg, any case). For unlabelled data, put every image in one sub-folder.
The single split is `train`. Images are stored RGB at their own size; the
input pipeline resizes them (`config.data.image_size`).

Every file is decoded once while preparing, so a corrupt or truncated one is
found then, with its path, rather than mid-training: it is an error, or with
`skip_corrupt` it is left out and listed in the metadata ("skipped_files").

Each folder gets its own builder config, named after the folder and a hash of
its listing, so different folders never share a prepared copy:

    builder = make_builder("/data/faces", data_dir)
"""

import dataclasses
import os

from absl import logging

from etils import epath
import numpy as np
import PIL.Image
import tensorflow_datasets as tfds

from gan_jax.data import folder_fingerprint

EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLIT = "train"
# Distinct (height, width) sizes kept in the metadata; enough to show a user
# that sizes differ.
_MAX_SIZES_LISTED = 5


def _is_image(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS) and not name.startswith(".")


def _class_files(class_dir: str) -> list[str]:
    """The image files under `class_dir`, at any depth, in a stable order."""
    files = []
    for root, dirs, names in os.walk(class_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(os.path.join(root, name)
                     for name in sorted(names) if _is_image(name))
    return files


def list_images(folder: str) -> tuple[list[str], list[tuple[str, int]]]:
    """`(class_names, [(path, label), ...])` of `folder`, sorted.

    Raises:
      FileNotFoundError: `folder` is missing, has no class sub-folders, or
        holds no image files.
    """
    accepted = ", ".join(EXTENSIONS)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Image folder {folder!r} does not exist. Set --config.data.path to "
            f"a folder with one sub-folder of images ({accepted}) per class.")
    class_names = sorted(
        entry.name for entry in os.scandir(folder)
        if entry.is_dir() and not entry.name.startswith("."))
    if not class_names:
        raise FileNotFoundError(
            f"Image folder {folder!r} has no class sub-folders. Put the images "
            f"({accepted}) in one sub-folder per class, or all in one "
            f"sub-folder (e.g. {os.path.join(folder, 'all')}) for unlabelled "
            "data.")
    examples = [(path, label) for label, name in enumerate(class_names)
                for path in _class_files(os.path.join(folder, name))]
    if not examples:
        raise FileNotFoundError(
            f"No image files ({accepted}, any case) found in the class "
            f"sub-folders of {folder!r} ({', '.join(class_names)}).")
    return class_names, examples


@dataclasses.dataclass(eq=False)
class ImageFolderConfig(tfds.core.BuilderConfig):
    """One folder of class sub-folders; see `make_config`."""
    path: str = ""
    class_names: tuple[str, ...] = ()
    skip_corrupt: bool = False

    @property
    def splits(self) -> tuple[str, ...]:
        return (SPLIT,)


def make_config(folder: str, skip_corrupt: bool = False) -> ImageFolderConfig:
    """Lists `folder` (file names and sizes only) as a builder config."""
    class_names, examples = list_images(folder)
    return ImageFolderConfig(
        name=folder_fingerprint.config_name(folder, examples, default="images"),
        version=tfds.core.Version("1.0.0"),
        description=f"Images in the class sub-folders of "
                    f"{os.path.abspath(folder)}.",
        path=os.path.abspath(folder),
        class_names=tuple(class_names),
        skip_corrupt=skip_corrupt)


def skipped_files(info: tfds.core.DatasetInfo) -> list[str]:
    """The corrupt files left out when the folder was prepared."""
    return list(info.metadata.get("skipped_files", []))


def _decode(path: str) -> tuple[tuple[int, int] | None, str | None]:
    """`((height, width), None)`, or `(None, why)` when `path` cannot be
    decoded: the whole file is read, so a truncated image fails here too."""
    try:
        with PIL.Image.open(path) as image:
            image.load()
            return (image.height, image.width), None
    except (OSError, SyntaxError, ValueError) as error:
        return None, f"{type(error).__name__}: {error}"


def corrupt_files_message(folder: str, bad: list[tuple[str, str]],
                          skipped: bool) -> str:
    listed = "; ".join(f"{path} ({why})" for path, why in bad[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    if skipped:
        return (f"Skipped {len(bad)} image file(s) of {folder!r} that cannot be "
                f"decoded: {listed}{more}.")
    return (f"{len(bad)} image file(s) in {folder!r} cannot be decoded (corrupt "
            f"or truncated): {listed}{more}. Replace or delete them, or set "
            "--config.data.corrupt_images=skip to train without them.")


def image_sizes(info: tfds.core.DatasetInfo) -> tuple[int, list[list[int]]]:
    """`(number of distinct sizes, up to 5 of them as [height, width])`.

    Recorded while preparing, so a loader learns whether images can be
    batched without resizing, without reading them.
    """
    return info.metadata["num_image_sizes"], info.metadata["image_sizes"]


class LabeledImageFolder(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of one image folder; build it with `make_builder`.

    Examples are `{"image": (H, W, 3) uint8, "label": int64}` in listing order.
    Registered as `labeled_image_folder`: TFDS's own `ImageFolder` (a reader,
    not a builder) already has the shorter name.
    """

    name = "labeled_image_folder"
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
                # No encoding_format: PNG and JPEG files keep their bytes.
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=config.class_names),
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # The files are local: nothing to download.
        config = self.builder_config
        _, examples = list_images(config.path)
        decoded = {path: _decode(path) for path, _ in examples}
        bad = [(path, why) for path, (_, why) in decoded.items() if why is not None]
        if bad and not config.skip_corrupt:
            raise ValueError(corrupt_files_message(config.path, bad, skipped=False))
        if bad:
            logging.warning("%s", corrupt_files_message(config.path, bad,
                                                        skipped=True))
            skipped = {path for path, _ in bad}
            examples = [example for example in examples if example[0] not in skipped]
            if not examples:
                raise ValueError(f"No image in {config.path!r} can be decoded "
                                 f"({len(bad)} corrupt files): there is nothing "
                                 "to train on.")
        self.info.metadata["skipped_files"] = [path for path, _ in bad]
        sizes = {decoded[path][0] for path, _ in examples}
        self.info.metadata["num_image_sizes"] = len(sizes)
        self.info.metadata["image_sizes"] = [
            list(size) for size in sorted(sizes)[:_MAX_SIZES_LISTED]]
        return {SPLIT: self._generate_examples(examples)}

    def _generate_examples(self, examples: list[tuple[str, int]]):
        for path, label in examples:
            with PIL.Image.open(path) as image:
                if image.mode == "RGB" and image.format in ("PNG", "JPEG"):
                    # TensorFlow decodes these bytes itself: store them as is.
                    encoded = path
                else:  # Grayscale, palette, RGBA (alpha dropped), CMYK, ...
                    encoded = np.asarray(image.convert("RGB"))
            yield path, {"image": encoded, "label": label}


def make_builder(folder: str, data_dir: str | None = None,
                 skip_corrupt: bool = False) -> LabeledImageFolder:
    """The (possibly not yet prepared) builder of the images in `folder`."""
    return LabeledImageFolder(config=make_config(folder, skip_corrupt),
                              data_dir=data_dir)
