"""Stacked MNIST labels, histograms and mode metrics on known predictions."""

import collections
import itertools

import numpy as np
import pytest

from gan_jax.metrics import stacked_mnist

# Every (d0, d1, d2) once, in label order 0..999.
ALL_DIGITS = np.array(list(itertools.product(range(10), repeat=3)),
                      dtype=np.int32)


def test_stacked_labels():
    digits = np.array([[1, 2, 3], [0, 0, 0], [9, 9, 9], [0, 0, 7], [7, 0, 0]])
    assert stacked_mnist.stacked_labels(digits).tolist() == [123, 0, 999, 7,
                                                             700]
    np.testing.assert_array_equal(stacked_mnist.stacked_labels(ALL_DIGITS),
                                  np.arange(1000))


def test_stack_digits():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(4, 28, 28, 1), dtype=np.uint8)
              for _ in range(3)]
    labels = [np.array([1, 0, 9, 5]), np.array([2, 0, 9, 0]),
              np.array([3, 0, 9, 5])]
    stacked, stacked_labels = stacked_mnist.stack_digits(images, labels)
    assert stacked.shape == (4, 28, 28, 3)
    assert stacked.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(stacked[..., channel],
                                      images[channel][..., 0])
    assert stacked_labels.tolist() == [123, 0, 999, 505]


def test_stack_digits_rejects_mismatched_batches():
    image = np.zeros((2, 28, 28, 1), dtype=np.uint8)
    label = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="3 image and 3 label"):
        stacked_mnist.stack_digits([image, image], [label, label])
    with pytest.raises(ValueError, match="share one shape"):
        stacked_mnist.stack_digits([image, image, image[:1]],
                                   [label, label, label])
    with pytest.raises(ValueError, match="match the images"):
        stacked_mnist.stack_digits([image] * 3, [label, label, label[:1]])
    with pytest.raises(ValueError, match=r"\(n, \.\.\., 1\)"):
        stacked_mnist.stack_digits([image[..., 0]] * 3, [label] * 3)


def test_mode_histogram_matches_counter():
    rng = np.random.default_rng(1)
    predictions = rng.integers(0, 10, size=(500, 3))
    expected = collections.Counter(100 * a + 10 * b + c
                                   for a, b, c in predictions.tolist())
    histogram = stacked_mnist.mode_histogram(predictions)
    assert histogram.shape == (1000,) and histogram.dtype == np.int64
    assert histogram.sum() == 500
    assert {m: int(n) for m, n in enumerate(histogram) if n} == expected


def test_all_modes_uniform():
    metrics = stacked_mnist.stacked_mnist_metrics(np.tile(ALL_DIGITS, (3, 1)))
    assert metrics["modes_covered"] == 1000.0
    assert metrics["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_single_mode():
    metrics = stacked_mnist.stacked_mnist_metrics(np.full((50, 3), 4))
    assert metrics == {"modes_covered": 1.0,
                       "reverse_kl": pytest.approx(np.log(1000), rel=1e-12)}


def test_hand_computed_kl():
    # Half the modes evenly: p = 1/500 on 500 modes, KL = log(1000 / 500).
    metrics = stacked_mnist.stacked_mnist_metrics(ALL_DIGITS[ALL_DIGITS[:, 0]
                                                             < 5])
    assert metrics["modes_covered"] == 500.0
    assert metrics["reverse_kl"] == pytest.approx(np.log(2), rel=1e-12)
    # Counts 3 and 1: KL = 3/4 log(1000 * 3/4) + 1/4 log(1000 / 4). The
    # other direction, KL(uniform || p_gen), would be infinite here.
    predictions = np.array([[1, 2, 3]] * 3 + [[3, 2, 1]])
    metrics = stacked_mnist.stacked_mnist_metrics(predictions)
    assert metrics["modes_covered"] == 2.0
    assert metrics["reverse_kl"] == pytest.approx(
        0.75 * np.log(750) + 0.25 * np.log(250), rel=1e-12)


@pytest.mark.parametrize("predictions, match", [
    (np.array([[1, 2, 10]]), r"\[0, 9\]"),
    (np.array([[1, -1, 0]]), r"\[0, 9\]"),
    (np.array([[1.0, 2.0, 3.0]]), "integer"),
    (np.array([[1, 2]]), r"\(n, 3\)"),
    (np.zeros((0, 3), dtype=np.int64), "at least one"),
])
def test_invalid_predictions_raise(predictions, match):
    with pytest.raises(ValueError, match=match):
        stacked_mnist.stacked_mnist_metrics(predictions)
