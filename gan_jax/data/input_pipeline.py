"""From a named data source to sharded batches on the accelerator.

Every source is a TFDS dataset (downloaded by TFDS, or built locally like the
toy mixtures), so all data goes through one path:

    load (per-process shard) -> preprocess to {"x": float32, ...} -> cache
    -> shuffle (seeded) -> repeat -> skip to the resumed step
    -> batch (per-process batch) -> batch n_critic minibatches
    -> global jax.Array sharded over the mesh -> prefetched onto devices

Resuming skips exactly the examples an uninterrupted run has consumed, so the
resumed run sees the same batches in the same order.
"""

import collections
from collections.abc import Callable, Iterator
import itertools

import jax
import ml_collections
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax import parallel
from gan_jax.data import toy_mixtures


def _load_toy(config: ml_collections.ConfigDict) -> tf.data.Dataset:
    ds = toy_mixtures.load_toy_mixture(config.name, config.split, config.data_dir)
    return ds.map(lambda example: {"x": example["point"]},
                  num_parallel_calls=tf.data.AUTOTUNE)


SOURCES: dict[str, Callable[[ml_collections.ConfigDict], tf.data.Dataset]] = {
    "toy": _load_toy,
}


def load(config: ml_collections.ConfigDict) -> tf.data.Dataset:
    """The preprocessed, unbatched examples of `config` (a `config.data`)."""
    if config.source not in SOURCES:
        raise ValueError(f"Unknown data source {config.source!r}. Valid sources: "
                         f"{', '.join(sorted(SOURCES))}. Set --config.data.source.")
    return SOURCES[config.source](config)


def sample_shape(dataset: tf.data.Dataset) -> tuple[int, ...]:
    """Shape of one example's `x`, read from the element spec (no data read)."""
    return tuple(dataset.element_spec["x"].shape)


def train_batches(dataset: tf.data.Dataset, *, batch_size: int, n_critic: int,
                  seed: int, start_step: int = 0,
                  shuffle_buffer: int = 10_000) -> tf.data.Dataset:
    """This process's endless stream of `(n_critic, batch_size / processes, ...)`.

    Args:
      dataset: examples from `load`.
      batch_size: the global batch size (all processes together).
      n_critic: minibatches per train step, one per discriminator update.
      seed: shuffling seed; the same seed gives the same order.
      start_step: train steps already taken; their examples are skipped.
      shuffle_buffer: size of the shuffle buffer.
    """
    parallel.check_batch_size(batch_size)
    local_batch = batch_size // jax.process_count()
    ds = dataset.shard(jax.process_count(), jax.process_index()).cache()
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    ds = ds.skip(start_step * n_critic * local_batch)
    ds = ds.batch(local_batch, drop_remainder=True)
    ds = ds.batch(n_critic, drop_remainder=True)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def prefetch_to_device(batches: tf.data.Dataset, sharding: jax.sharding.Sharding,
                       size: int = 2) -> Iterator[dict[str, jax.Array]]:
    """Yields global device arrays, keeping `size` batches in flight.

    Transfers are asynchronous, so the next batches travel to the devices while
    the current step runs and the step never waits on the host.
    """
    host_batches = iter(tfds.as_numpy(batches))
    queue = collections.deque()

    def enqueue(n):
        for batch in itertools.islice(host_batches, n):
            queue.append(parallel.host_to_global(batch, sharding))

    enqueue(size)
    while queue:
        yield queue.popleft()
        enqueue(1)
