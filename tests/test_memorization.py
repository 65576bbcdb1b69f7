"""Nearest neighbours and the memorisation gap against brute force."""

import numpy as np
import pytest

from gan_jax.metrics import memorization


@pytest.mark.parametrize("batch_size", [1, 7, 10_000])
def test_nearest_neighbours_match_brute_force(batch_size):
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(50, 5))
    references = rng.normal(size=(80, 5))
    full = np.linalg.norm(queries[:, None] - references[None], axis=-1)
    indices, distances = memorization.nearest_neighbours(
        queries, references, batch_size=batch_size)
    assert indices.dtype == np.int64 and distances.dtype == np.float64
    np.testing.assert_array_equal(indices, np.argmin(full, axis=1))
    np.testing.assert_allclose(distances, np.min(full, axis=1), rtol=1e-12)


def test_ties_go_to_the_lowest_index():
    indices, distances = memorization.nearest_neighbours(
        np.array([[1.0]]), np.array([[2.0], [0.0], [2.0]]))
    assert indices.tolist() == [0]
    assert distances.tolist() == [1.0]


def test_copies_of_training_points_are_at_distance_zero():
    rng = np.random.default_rng(1)
    # A large offset: the norm expansion alone leaves distances of up to
    # ~1e-5 between a point and its copy here.
    train = 1e3 + rng.normal(size=(100, 8))
    held_out = 1e3 + rng.normal(size=(40, 8))
    copied = [3, 17, 42, 99, 3]
    gap = memorization.memorization_gap(train[copied], train, held_out)
    assert gap["generated_to_train"] == 0.0
    assert gap["held_out_to_train"] > 1.0  # ~1.8 for fresh 8-D points.
    assert gap["ratio"] == 0.0
    indices, _ = memorization.nearest_neighbours(train[copied], train)
    assert indices.tolist() == copied


def test_hand_computed_gap():
    train = np.array([[0.0, 0.0], [10.0, 0.0]])
    generated = np.array([[1.0, 0.0], [7.0, 0.0]])  # NN distances 1 and 3.
    held_out = np.array([[0.0, 4.0], [10.0, -2.0]])  # NN distances 4 and 2.
    gap = memorization.memorization_gap(generated, train, held_out)
    assert gap == {"generated_to_train": 2.0, "held_out_to_train": 3.0,
                   "ratio": 2.0 / 3.0}


def test_fresh_samples_give_a_ratio_near_one():
    rng = np.random.default_rng(2)
    train, generated, held_out = rng.normal(size=(3, 400, 2))
    gap = memorization.memorization_gap(generated, train, held_out)
    # Same distribution: the two means differ by sampling error only, a few
    # percent at 400 queries each.
    assert gap["ratio"] == pytest.approx(1.0, abs=0.15)


def test_zero_held_out_distance():
    train = np.zeros((3, 2))
    gap = memorization.memorization_gap(np.ones((2, 2)), train, train)
    assert gap["ratio"] == np.inf
    gap = memorization.memorization_gap(train, train, train)
    assert np.isnan(gap["ratio"])


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="differ"):
        memorization.nearest_neighbours(np.zeros((2, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        memorization.nearest_neighbours(np.zeros((2, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        memorization.nearest_neighbours(np.full((2, 3), np.inf),
                                        np.zeros((4, 3)))
    with pytest.raises(ValueError, match="batch_size"):
        memorization.nearest_neighbours(np.zeros((2, 3)), np.zeros((4, 3)),
                                        batch_size=0)
