"""CycleGAN's image history pool: it fills, then swaps with probability 1/2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.image_to_image import history_pool

SIZE = 5
SHAPE = (2, 2, 1)


def _images(start, count):
    """Images whose every pixel is their serial number, so each is identifiable."""
    ids = np.arange(start, start + count, dtype=np.float32)
    return jnp.asarray(np.broadcast_to(ids[:, None, None, None], (count, *SHAPE)))


def _ids(images):
    return np.asarray(images)[:, 0, 0, 0].astype(int).tolist()


query = jax.jit(history_pool.query)


def test_filling_pool_passes_images_through_and_stores_them():
    pool = history_pool.init(SIZE, SHAPE)
    pool, out = query(pool, _images(1, 3), jax.random.key(0))
    assert _ids(out) == [1, 2, 3] and int(pool["count"]) == 3
    # A batch that crosses the size: the first two fill it, the rest may swap.
    pool, out = query(pool, _images(4, 2), jax.random.key(1))
    assert _ids(out) == [4, 5]
    assert sorted(_ids(pool["images"])) == [1, 2, 3, 4, 5] and int(pool["count"]) == SIZE


def test_full_pool_returns_a_stored_image_half_the_time_and_keeps_the_new_one():
    pool, _ = query(history_pool.init(SIZE, SHAPE), _images(1, SIZE), jax.random.key(0))
    swaps, trials = 0, 400
    next_id = SIZE + 1
    for t in range(trials):
        before = set(_ids(pool["images"]))
        pool, out = query(pool, _images(next_id, 1), jax.random.key(100 + t))
        (returned,), after = _ids(out), _ids(pool["images"])
        if returned == next_id:  # Passed through: the pool is unchanged.
            assert set(after) == before
        else:  # Swapped: an old image comes out, the new one takes its slot.
            swaps += 1
            assert returned in before
            assert set(after) == (before - {returned}) | {next_id}
        next_id += 1
    # Binomial(400, 1/2): mean 200, std 10; 4 std either side.
    assert 160 <= swaps <= 240, swaps


def test_same_key_same_result_and_dtype_kept():
    pool, _ = query(history_pool.init(SIZE, SHAPE), _images(1, SIZE), jax.random.key(0))
    a = query(pool, _images(10, 4), jax.random.key(3))
    b = query(pool, _images(10, 4), jax.random.key(3))
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert a[1].dtype == jnp.float32


def test_empty_pool_size_is_refused():
    with pytest.raises(ValueError, match="size >= 1"):
        history_pool.init(0, SHAPE)
