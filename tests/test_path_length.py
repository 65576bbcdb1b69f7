"""StyleGAN2's path length penalty against its definition: the lengths of
J^T y for a synthesis whose Jacobian is known, the running mean's update,
and the gradient of the penalty against central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.tricks import path_length

B, NUM_WS, W_DIM, H, W, C = 3, 4, 5, 6, 7, 2


def _linear_synthesis(matrix):
    return lambda ws: jnp.einsum("bkv,kvhwc->bhwc", ws, matrix)


def test_lengths_of_a_linear_synthesis_are_the_norms_of_its_transpose():
    matrix = jax.random.normal(jax.random.key(0), (NUM_WS, W_DIM, H, W, C))
    ws = jax.random.normal(jax.random.key(1), (B, NUM_WS, W_DIM))
    key = jax.random.key(2)
    lengths = jax.jit(lambda ws: path_length.path_lengths(
        _linear_synthesis(matrix), ws, key))(ws)
    # The phase's y: N(0, I) / sqrt(H W), drawn from its key.
    y = np.asarray(jax.random.normal(key, (B, H, W, C))) / np.sqrt(H * W)
    jt_y = np.einsum("bhwc,kvhwc->bkv", y, np.asarray(matrix, np.float64))
    expected = np.sqrt(np.mean(np.sum(jt_y ** 2, axis=2), axis=1))
    np.testing.assert_allclose(lengths, expected, rtol=1e-5)


def test_penalty_uses_the_updated_running_mean():
    lengths = jnp.array([1.0, 2.0, 4.0])
    per_sample, new_mean = path_length.penalty(lengths, jnp.float32(0.5), 0.25)
    expected_mean = 0.5 + 0.25 * (7.0 / 3.0 - 0.5)
    np.testing.assert_allclose(new_mean, expected_mean, rtol=1e-6)
    # The difference cancels: float32 round-off of lengths (<= 4) squared.
    np.testing.assert_allclose(per_sample, (np.array([1.0, 2.0, 4.0])
                                            - expected_mean) ** 2,
                               atol=16 * 4 * np.finfo(np.float32).eps)


def test_penalty_gradient_matches_finite_differences():
    """Second-order: the gradient of the penalty with respect to a synthesis
    parameter goes through J^T y."""
    ws = jax.random.normal(jax.random.key(3), (B, NUM_WS, W_DIM))
    matrix = 0.3 * jax.random.normal(jax.random.key(4), (NUM_WS, W_DIM, H, W, C))
    key = jax.random.key(5)

    def loss(scale):
        synthesize = lambda s: jnp.tanh(scale * _linear_synthesis(matrix)(s))  # noqa: E731
        lengths = path_length.path_lengths(synthesize, ws, key)
        return jnp.mean(path_length.penalty(lengths, jnp.float32(0.1), 0.01)[0])

    grad = jax.jit(jax.grad(loss))(jnp.float32(1.3))
    h = 1e-2
    numeric = (loss(jnp.float32(1.3 + h)) - loss(jnp.float32(1.3 - h))) / (2 * h)
    # Central differences: O(h^2) truncation, float32 round-off / h.
    np.testing.assert_allclose(grad, numeric, rtol=2e-3)
