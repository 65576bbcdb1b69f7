"""Training batches from a dataset held in host memory (`data.loader=in_memory`).

For splits that fit in RAM (the toy mixtures, MNIST, CIFAR-10) this replaces
tf.data's shuffle buffer, whose per-example cost (about 17 us per example on
the 2-core development machine, 4.5 ms per batch of 256) is larger than a small
model's whole train step: gathering a batch from a NumPy array by index costs
microseconds. Every epoch is a uniform permutation of the whole split, drawn
from `(seed, epoch)`, so the stream depends only on the seed and resuming at
step s reproduces it exactly.
"""

from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds


def load_arrays(dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
    """Every example of `dataset` as one array per feature."""
    chunks = list(tfds.as_numpy(dataset.batch(4096)))
    if not chunks:
        raise ValueError("The dataset is empty: there is nothing to train on. Check "
                         "config.data.split and the files of the source.")
    return {name: np.concatenate([chunk[name] for chunk in chunks])
            for name in chunks[0]}


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the examples in `epoch`: a permutation seeded by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def batches(arrays: dict[str, np.ndarray], *, batch_size: int, n_critic: int,
            seed: int, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Endless `(n_critic, batch_size, ...)` batches, epoch after epoch.

    A batch that crosses the end of an epoch continues into the next epoch's
    order, as `repeat` then `batch` would. `start_step` train steps' examples
    are skipped without being read.
    """
    num_examples = len(next(iter(arrays.values())))
    per_step = n_critic * batch_size
    epoch, offset = divmod(start_step * per_step, num_examples)
    order = epoch_order(num_examples, seed, epoch)
    while True:
        chunks, needed = [], per_step
        while needed:
            chunk = order[offset:offset + needed]
            chunks.append(chunk)
            needed -= len(chunk)
            offset += len(chunk)
            if offset == num_examples:
                epoch, offset = epoch + 1, 0
                order = epoch_order(num_examples, seed, epoch)
        index = np.concatenate(chunks)
        yield {name: values[index].reshape(n_critic, batch_size, *values.shape[1:])
               for name, values in arrays.items()}
