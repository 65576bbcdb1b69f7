"""Sub-pixel upsampling against an element-by-element NumPy reference."""

import jax
import numpy as np
import pytest

from gan_jax.models.pixel_shuffle import pixel_shuffle


def _reference(x, r):
    """PS(T)[b, y, x, c] = T[b, y // r, x // r, c r^2 + (y mod r) r + (x mod r)]."""
    batch, height, width, channels = x.shape
    out = np.zeros((batch, height * r, width * r, channels // (r * r)), x.dtype)
    for b, y, x_, c in np.ndindex(out.shape):
        out[b, y, x_, c] = x[b, y // r, x_ // r, c * r * r + (y % r) * r + x_ % r]
    return out


@pytest.mark.parametrize("factor, channels", [(2, 4), (2, 12), (3, 18)])
def test_pixel_shuffle_matches_the_definition(factor, channels):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, channels)).astype(np.float32)
    np.testing.assert_array_equal(jax.jit(pixel_shuffle, static_argnums=1)(x, factor),
                                  _reference(x, factor))


def test_pixel_shuffle_refuses_channels_not_divisible_by_the_factor_squared():
    with pytest.raises(ValueError, match="divisible by 2\\^2 = 4, got 6"):
        pixel_shuffle(np.zeros((1, 2, 2, 6), np.float32), 2)
