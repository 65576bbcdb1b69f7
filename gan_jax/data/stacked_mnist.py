"""Stacked MNIST (Metz et al. 2017; Lin et al. 2018): 1,000 modes from MNIST.

Each example stacks three MNIST digits as the R, G and B channels of one
28x28x3 image; its mode is `100 * d_R + 10 * d_G + d_B`. The three channels
come from three fixed permutations of the same digits (seeds 1, 2, 3), so the
dataset is as large as its MNIST source and the same on every run; the
training pipeline then shuffles it like any other.
"""

import tensorflow as tf

NUM_MODES = 1000
# Larger than MNIST's 70,000 images: each permutation is a full shuffle.
_PERMUTATION_BUFFER = 100_000


def stack(digits: tf.data.Dataset) -> tf.data.Dataset:
    """`{"x": (28, 28, 1), "label"}` digits -> `{"x": (28, 28, 3), "label"}`."""
    permutations = tuple(
        digits.shuffle(_PERMUTATION_BUFFER, seed=seed, reshuffle_each_iteration=False)
        for seed in (1, 2, 3))

    def combine(red, green, blue):
        return {"x": tf.concat([red["x"], green["x"], blue["x"]], axis=-1),
                "label": 100 * red["label"] + 10 * green["label"] + blue["label"]}

    return tf.data.Dataset.zip(permutations).map(
        combine, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
