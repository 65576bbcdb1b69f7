"""Trains the MNIST feature classifier on any labelled 28x28 source.

Random translations of up to 2 pixels augment the training images, so the
small network generalises from the 8,000 offline training images too.
"""

import functools
from typing import NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax import defaults
from gan_jax.data import input_pipeline
from gan_jax.metrics.features import mnist_classifier


OFFLINE_TRAIN_SPLIT, OFFLINE_TEST_SPLIT = "test[:8000]", "test[8000:]"


def data_configs(offline: bool, data_path: str, data_dir: str | None):
    """`config.data`-style configs of the training and the test split."""
    def config(split):
        data = defaults.base_config().data
        data.update(source="idx" if offline else "tfds", name="mnist",
                    split=split, data_dir=data_dir,
                    path=data_path if offline else None, batch_size=128)
        return data

    if offline:
        return config(OFFLINE_TRAIN_SPLIT), config(OFFLINE_TEST_SPLIT)
    return config("train"), config("test")


class FitResult(NamedTuple):
    params: dict
    test_accuracy: float
    num_test_examples: int


def _translate(images, key, max_shift: int = 2):
    """Shifts each image by up to `max_shift` pixels (zero = background -1)."""
    padded = jnp.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)),
                     constant_values=-1.0)
    size = images.shape[1]
    offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * max_shift + 1)
    return jax.vmap(lambda image, offset: jax.lax.dynamic_slice(
        image, (offset[0], offset[1], 0), (size, size, image.shape[-1])))(
            padded, offsets)


@functools.partial(jax.jit, static_argnames=("tx",), donate_argnums=(0, 1))
def _train_step(params, opt_state, images, labels, key, *, tx):
    def loss_fn(params):
        logits = mnist_classifier.MNISTClassifier().apply(
            {"params": params}, _translate(images, key))["logits"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


@jax.jit
def _predict(params, images):
    return jnp.argmax(mnist_classifier.MNISTClassifier().apply(
        {"params": params}, images)["logits"], axis=-1)


def accuracy(params, dataset: tf.data.Dataset, batch_size: int = 1000
             ) -> tuple[float, int]:
    """Fraction of `dataset`'s examples classified correctly, and their number."""
    correct = total = 0
    for batch in tfds.as_numpy(dataset.batch(batch_size)):
        predicted = np.asarray(_predict(params, batch["x"]))
        correct += int(np.sum(predicted == batch["label"]))
        total += len(predicted)
    if not total:
        raise ValueError("The test split is empty; choose a non-empty split.")
    return correct / total, total


def fit(train_config, test_config, *, num_steps: int = 2000, batch_size: int = 128,
        learning_rate: float = 1e-3, seed: int = 0) -> FitResult:
    """Trains on `train_config`'s data and measures accuracy on `test_config`'s.

    Args:
      train_config, test_config: `config.data`-style ConfigDicts (source,
        name/path, split, data_dir) of two disjoint labelled 28x28x1 splits.
      num_steps, batch_size, learning_rate: Adam with cosine decay.
      seed: initialisation, data order and augmentation all derive from it.
    """
    train_source = input_pipeline.load(train_config)
    if train_source.num_classes != mnist_classifier.NUM_CLASSES:
        raise ValueError(f"The classifier needs 10 labelled classes; the training "
                         f"data has {train_source.num_classes}.")
    shape = input_pipeline.sample_shape(train_source.dataset)
    if shape != (28, 28, 1):
        raise ValueError(f"The MNIST classifier takes 28x28x1 images, got {shape}.")
    key = jax.random.key(seed)
    params = mnist_classifier.MNISTClassifier().init(
        jax.random.fold_in(key, 0), jnp.zeros((1, *shape)))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps))
    opt_state = tx.init(params)
    batches = tfds.as_numpy(input_pipeline.train_batches(
        train_source.dataset, batch_size=batch_size, n_critic=1, seed=seed))
    for step, batch in zip(range(num_steps), iter(batches)):
        params, opt_state, loss = _train_step(
            params, opt_state, batch["x"][0], batch["label"][0],
            jax.random.fold_in(jax.random.fold_in(key, 1), step), tx=tx)
        if (step + 1) % 500 == 0:
            logging.info("classifier step %d: loss %.4f", step + 1, float(loss))
    test_accuracy, num_test = accuracy(params, input_pipeline.load(test_config).dataset)
    return FitResult(params, test_accuracy, num_test)
