"""The in-memory loader: permutations per epoch, seeding, exact resume."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from gan_jax import defaults
from gan_jax.data import in_memory
from gan_jax.data import input_pipeline
from gan_jax.data import sources
from gan_jax.run import gan_spec


def _arrays(num):
    index = np.arange(num)
    return {"x": np.stack([index, -index], axis=1).astype(np.float32),
            "label": (index % 3).astype(np.int32)}


def _take(num_batches, **kwargs):
    kwargs = {"batch_size": 4, "n_critic": 2, "seed": 0, **kwargs}
    return list(itertools.islice(in_memory.batches(_arrays(10), **kwargs),
                                 num_batches))


def test_every_epoch_is_a_permutation_and_labels_follow_examples():
    batches = _take(5)  # 40 examples: exactly 4 epochs of 10.
    for batch in batches:
        assert batch["x"].shape == (2, 4, 2) and batch["label"].shape == (2, 4)
        np.testing.assert_array_equal(batch["label"], batch["x"][..., 0].astype(int) % 3)
    order = np.concatenate([b["x"][..., 0].ravel() for b in batches]).astype(int)
    for epoch in order.reshape(4, 10):
        assert sorted(epoch) == list(range(10))
    assert not all(np.array_equal(order[:10], e) for e in order.reshape(4, 10)[1:])


def test_seeded_and_resume_reproduces_the_uninterrupted_stream():
    straight = _take(7, seed=3)
    np.testing.assert_array_equal(straight[0]["x"], _take(1, seed=3)[0]["x"])
    assert not np.array_equal(straight[0]["x"], _take(1, seed=4)[0]["x"])
    # Step 3 starts 24 examples in: inside the third epoch.
    for a, b in zip(straight[3:], _take(4, seed=3, start_step=3)):
        np.testing.assert_array_equal(a["x"], b["x"])


def test_loader_streams_per_seed_are_independent_of_company():
    dataset = tf.data.Dataset.from_tensor_slices(_arrays(10))
    config = defaults.base_config().data
    config.update(loader="in_memory", batch_size=4, shuffle_buffer=8)
    data = gan_spec.Data.read(config, "config.data")
    alone = input_pipeline.seeded_streams(dataset, data, n_critic=1, seeds=[5])[0]
    both = input_pipeline.seeded_streams(dataset, data, n_critic=1, seeds=[1, 5])[1]
    for a, b in itertools.islice(zip(alone, both), 4):
        np.testing.assert_array_equal(a["x"], b["x"])


def test_empty_dataset_and_unknown_loader_are_clear_errors():
    empty = tf.data.Dataset.from_tensor_slices({"x": np.zeros((0, 2), np.float32)})
    with pytest.raises(ValueError, match="dataset is empty"):
        in_memory.load_arrays(empty)
    with pytest.raises(ValueError, match="Valid loaders: tf_data, in_memory"):
        sources.check_loader("numpy")
