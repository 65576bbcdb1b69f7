"""From a named data source to sharded batches on the accelerator.

Every source is a TFDS dataset (downloaded by TFDS, or built locally like the
toy mixtures, IDX files and image folders), so all data goes through one path:

    load this process's part of the split -> preprocess to {"x", "label"?}
    -> cache -> shuffle (seeded) -> repeat -> skip to the resumed step
    -> batch (per-process batch) -> batch n_critic minibatches
    -> global jax.Array sharded over the mesh -> prefetched onto devices

Resuming skips exactly the examples an uninterrupted run has consumed, so the
resumed run sees the same batches in the same order.
"""

import collections
from collections.abc import Callable, Iterable, Iterator, Sequence
import difflib
import itertools
from typing import NamedTuple

import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax import parallel
from gan_jax.data import idx_folder
from gan_jax.data import image_folder
from gan_jax.data import image_preprocessing
from gan_jax.data import in_memory
from gan_jax.data import sources
from gan_jax.data import stacked_mnist
from gan_jax.data import toy_mixtures


class Source(NamedTuple):
    """What `load` returns.

    Attributes:
      dataset: unbatched examples `{"x": float32}`, plus `"label": int32` when
        the source has class labels. Images are `(H, W, C)` in [-1, 1].
      num_classes: the number of class labels; None without labels.
    """
    dataset: tf.data.Dataset
    num_classes: int | None


_OFFLINE_SOURCES = (
    "--config.data.source=idx --config.data.path=DIR (DIR holding MNIST-format "
    "files train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and/or "
    "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]), or "
    "--config.data.source=folder --config.data.path=DIR (DIR holding one "
    "sub-folder of .png/.jpg/.jpeg images per class).")


def _process_split(split: str) -> tfds.typing.SplitArg:
    """This process's part of `split`: processes read disjoint, even parts.

    Splitting at read time (rather than `Dataset.shard`) means each process
    reads, decodes and caches only its own examples.
    """
    return tfds.split_for_jax_process(split)


def _split_names(split: str) -> set[str]:
    """The split names in a TFDS split string, e.g. "train[:90%]+test"."""
    return {part.split("[")[0].strip() for part in split.split("+")}


def _check_split(split: str, available: tuple[str, ...], where: str) -> None:
    missing = sorted(_split_names(split) - set(available))
    if missing:
        raise ValueError(
            f"{where} has no split {', '.join(map(repr, missing))}; available: "
            f"{', '.join(available)}. Set --config.data.split.")


def _prepared_local(builder_cls: type[tfds.core.DatasetBuilder],
                    builder_config: tfds.core.BuilderConfig,
                    data_dir: str | None) -> tfds.core.DatasetBuilder:
    """A locally generated dataset's builder, prepared first if needed.

    TFDS writes into a temporary directory and renames it when complete; when
    processes race, the loser's rename fails and it reads the winner's copy.
    """
    builder = builder_cls(config=builder_config, data_dir=data_dir)
    if not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except OSError:
            builder = builder_cls(config=builder_config, data_dir=data_dir)
            if not builder.is_prepared():
                raise
    return builder


def _tfds_builder(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(
            name.split(":")[0].split("/")[0],
            tfds.list_builders(with_community_datasets=False), n=3)
        did_you_mean = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"TFDS has no dataset named {name!r} (--config.data.name)."
            f"{did_you_mean} For data of your own, use " + _OFFLINE_SOURCES
        ) from None


def _prepared_tfds(name: str, data_dir: str | None) -> tfds.core.DatasetBuilder:
    """The builder of TFDS dataset `name`, downloaded and prepared if needed.

    Raises:
      ValueError: TFDS knows no dataset `name`.
      RuntimeError: preparing failed (no network, manual download needed,
        disk full, ...); the message says how to get the data another way.
    """
    builder = _tfds_builder(name, data_dir)
    if builder.is_prepared():
        return builder
    try:
        builder.download_and_prepare()
    # Whatever failed, the user needs the same advice, not a download
    # traceback; the cause's first line goes into the message.
    except Exception as error:  # pylint: disable=broad-except
        builder = _tfds_builder(name, data_dir)
        if builder.is_prepared():  # Another process prepared it meanwhile.
            return builder
        cause = (str(error).strip().splitlines() or [""])[0][:300]
        raise RuntimeError(
            f"TFDS dataset {name!r} is not prepared in data_dir "
            f"'{builder.data_dir_root}' (--config.data.data_dir) and preparing "
            f"it failed ({type(error).__name__}: {cause}). Without a network, "
            f"prepare it on a machine that has one (`tfds build {name} "
            "--data_dir=DIR`) and copy DIR here (--config.data.data_dir=DIR), "
            "or use an offline source: " + _OFFLINE_SOURCES) from None
    return builder


def _image_source(builder: tfds.core.DatasetBuilder,
                  data,
                  stored_shape: tuple[int, ...] | None = None) -> Source:
    """Reads a builder's "image" (and "label") features as model inputs.

    Args:
      builder: a prepared builder with an `Image` feature "image" of uint8 and
        optionally a `ClassLabel` feature "label".
      data: the run's data section (split, image_size, center_crop).
      stored_shape: the images' shape when the builder's feature leaves it
        open but every image is known to share it.
    """
    features = builder.info.features
    image_feature = features["image"] if "image" in features.keys() else None
    if (not isinstance(image_feature, tfds.features.Image)
            or image_feature.np_dtype != np.uint8):
        raise ValueError(
            f"Dataset {builder.info.full_name} has no uint8 image feature "
            f"'image' (its features: {', '.join(features.keys())}); the image "
            "sources need one.")
    label_feature = features["label"] if "label" in features.keys() else None
    if not isinstance(label_feature, tfds.features.ClassLabel):
        label_feature = None
    wanted = {"image": True,
              **({"label": True} if label_feature is not None else {})}
    dataset = builder.as_dataset(
        split=_process_split(data.split), shuffle_files=False,
        # Skip parsing features the model never sees (CelebA's attributes).
        decoders=tfds.decode.PartialDecoding(wanted))

    def preprocess(example):
        image = example["image"]
        if stored_shape is not None:
            image = tf.ensure_shape(image, stored_shape)
        processed = {"x": image_preprocessing.to_model_input(
            image, image_size=data.image_size, center_crop=data.center_crop)}
        if label_feature is not None:
            processed["label"] = tf.cast(example["label"], tf.int32)
        return processed

    dataset = dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    if not dataset.element_spec["x"].shape.is_fully_defined():
        raise ValueError(
            f"The images of {builder.info.full_name} differ in size, so they "
            "cannot be batched as stored. Set --config.data.image_size (and "
            "--config.data.center_crop=True to keep the aspect ratio).")
    return Source(dataset, None if label_feature is None
                  else label_feature.num_classes)


def _load_toy(data) -> Source:
    ds = toy_mixtures.load_toy_mixture(data.name, _process_split(data.split),
                                       data.data_dir)
    # The mixture component is not a class label: models stay unconditional.
    ds = ds.map(lambda example: {"x": example["point"]},
                num_parallel_calls=tf.data.AUTOTUNE)
    return Source(ds, None)


def _load_tfds(data) -> Source:
    return _image_source(_prepared_tfds(data.name, data.data_dir), data)


def _require_path(data) -> str:
    if not data.path:
        raise ValueError(f"The {data.source} source reads the folder "
                         "--config.data.path, which is not set.")
    return data.path


def _load_idx(data) -> Source:
    path = _require_path(data)
    builder_config = idx_folder.make_config(path)
    _check_split(data.split, builder_config.splits, f"IDX folder {path!r}")
    builder = _prepared_local(idx_folder.IdxFolder, builder_config,
                              data.data_dir)
    return _image_source(builder, data)


def _load_folder(data) -> Source:
    path = _require_path(data)
    skip_corrupt = data.corrupt_images == "skip"
    builder_config = image_folder.make_config(path, skip_corrupt)
    _check_split(data.split, builder_config.splits, f"Image folder {path!r}")
    builder = _prepared_local(image_folder.LabeledImageFolder, builder_config,
                              data.data_dir)
    skipped = image_folder.skipped_files(builder.info)
    if skipped and not skip_corrupt:
        # Prepared earlier by a run that skipped them.
        raise ValueError(image_folder.corrupt_files_message(
            path, [(name, "skipped when prepared") for name in skipped],
            skipped=False))
    num_sizes, sizes = image_folder.image_sizes(builder.info)
    if num_sizes > 1 and data.image_size is None:
        listed = ", ".join(f"{h}x{w}" for h, w in sizes)
        raise ValueError(
            f"The images in {path!r} come in {num_sizes} different sizes (e.g. "
            f"{listed}), so they cannot be batched as stored. Set "
            "--config.data.image_size (and --config.data.center_crop=True to "
            "keep the aspect ratio).")
    # One size for all: a static shape, so `sample_shape` can read it.
    stored_shape = (*sizes[0], 3) if num_sizes == 1 else None
    return _image_source(builder, data, stored_shape)


def _load_stacked_mnist(data) -> Source:
    """Stacked MNIST from the IDX files in `path`, or TFDS `mnist` without one."""
    digits = _load_idx(data) if data.path else _image_source(
        _prepared_tfds("mnist", data.data_dir), data)
    shape = tuple(digits.dataset.element_spec["x"].shape)
    if shape != (28, 28, 1):
        raise ValueError(f"Stacked MNIST needs 28x28 grey digits, got {shape}.")
    return Source(stacked_mnist.stack(digits.dataset), stacked_mnist.NUM_MODES)


# Each reads the run's data section (`spec.data`); one per name of
# `sources.SOURCES`, which the spec checks `config.data.source` against.
SOURCES: dict[str, Callable[..., Source]] = {
    "toy": _load_toy,
    "tfds": _load_tfds,
    "idx": _load_idx,
    "folder": _load_folder,
    "stacked_mnist": _load_stacked_mnist,
}


def load(data) -> Source:
    """This process's preprocessed, unbatched examples of `data`.

    Args:
      data: the run's data section, `spec.data` (a
        `gan_jax.run.gan_spec.Data`, checked; the type is not imported for a
        hint, the run's layer sits above this one).

    Raises:
      ValueError, FileNotFoundError, RuntimeError: the source cannot be read;
        the message says why and which `--config.data.*` flag to change.
    """
    if data.source not in SOURCES:
        raise ValueError(f"Unknown data source {data.source!r}. Valid sources: "
                         f"{', '.join(sorted(SOURCES))}. Set --config.data.source.")
    try:
        return _subset(SOURCES[data.source](data), data)
    except ValueError as error:
        # TFDS's words for a split (or slice) with no examples.
        if "corresponds to no data" not in str(error):
            raise
        raise ValueError(
            f"The split {data.split!r} of {data.name!r} ({data.source}) "
            "selects no examples: the dataset is empty, so there is nothing to "
            "train on. Check --config.data.split (e.g. 'train' or "
            "'train[:90%]').") from None


def _subset(source: Source, data) -> Source:
    """`data.classes` and `data.max_examples` applied to a loaded source.

    With P processes, each keeps the first ceil(max_examples / P) examples of
    its own part of the split.
    """
    dataset = source.dataset
    if data.classes is not None:
        where = f"{data.name!r} ({data.source})"
        if source.num_classes is None:
            raise ValueError(
                f"--config.data.classes={list(data.classes)} keeps examples by "
                f"class label, but {where} has no class labels. Leave "
                "--config.data.classes unset (None).")
        unknown = [label for label in data.classes if label >= source.num_classes]
        if unknown:
            raise ValueError(
                f"--config.data.classes names {unknown}, which {where} does not "
                f"have: its labels are 0..{source.num_classes - 1}. Set e.g. "
                f"--config.data.classes='{tuple(range(min(2, source.num_classes)))}'.")
        kept = tf.constant(data.classes, tf.int32)
        dataset = dataset.filter(
            lambda example: tf.reduce_any(tf.equal(example["label"], kept)))
    if data.max_examples is not None:
        dataset = dataset.take(-(-data.max_examples // jax.process_count()))
    return Source(dataset, source.num_classes)


def sample_shape(dataset: tf.data.Dataset) -> tuple[int, ...]:
    """Shape of one example's `x`, read from the element spec (no data read)."""
    return tuple(dataset.element_spec["x"].shape)


def train_batches(dataset: tf.data.Dataset, *, batch_size: int, n_critic: int,
                  seed: int, start_step: int = 0, shuffle_buffer: int = 10_000,
                  cache: bool = True) -> tf.data.Dataset:
    """This process's endless stream of `(n_critic, batch_size / processes, ...)`.

    Every feature is batched alike: `x` becomes `(n_critic, B, ...)` and
    `label`, when present, `(n_critic, B)`.

    Args:
      dataset: this process's examples, from `load(...).dataset`.
      batch_size: the global batch size (all processes together).
      n_critic: minibatches per train step, one per discriminator update.
      seed: shuffling seed; the same seed gives the same order.
      start_step: train steps already taken; their examples are skipped.
      shuffle_buffer: size of the shuffle buffer.
      cache: keep preprocessed examples in memory after the first epoch.
    """
    parallel.check_batch_size(batch_size)
    local_batch = batch_size // jax.process_count()
    ds = dataset.cache() if cache else dataset
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    ds = ds.skip(start_step * n_critic * local_batch)
    ds = ds.batch(local_batch, drop_remainder=True)
    ds = ds.batch(n_critic, drop_remainder=True)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def seeded_streams(dataset: tf.data.Dataset, data, *,
                   n_critic: int, seeds: Sequence[int], start_step: int = 0
                   ) -> list[Iterator[dict[str, np.ndarray]]]:
    """One stream of host batches per seed, read by `data.loader` (`data` is
    the run's `spec.data`).

    `tf_data` streams with a shuffle buffer (`train_batches`); `in_memory`
    holds the split in host memory once, shared by all seeds, and permutes it
    every epoch (`gan_jax.data.in_memory`). Either way a seed's stream is the
    same whether it is read alone or beside others.
    """
    sources.check_loader(data.loader)
    if data.loader == "in_memory":
        parallel.check_batch_size(data.batch_size)
        arrays = in_memory.load_arrays(dataset)
        return [in_memory.batches(
            arrays, batch_size=data.batch_size // jax.process_count(),
            n_critic=n_critic, seed=seed, start_step=start_step) for seed in seeds]
    return [iter(tfds.as_numpy(train_batches(
        dataset, batch_size=data.batch_size, n_critic=n_critic, seed=seed,
        start_step=start_step, shuffle_buffer=data.shuffle_buffer,
        cache=data.cache))) for seed in seeds]


def prefetch_to_device(host_batches: Iterable[dict[str, np.ndarray]],
                       sharding: jax.sharding.Sharding,
                       size: int = 2) -> Iterator[dict[str, jax.Array]]:
    """Yields global device arrays, keeping `size` batches in flight.

    Transfers are asynchronous, so the next batches travel to the devices while
    the current step runs and the step never waits on the host.
    """
    host_batches = iter(host_batches)
    queue = collections.deque()

    def enqueue(n):
        for batch in itertools.islice(host_batches, n):
            queue.append(parallel.host_to_global(batch, sharding))

    enqueue(size)
    while queue:
        yield queue.popleft()
        enqueue(1)
