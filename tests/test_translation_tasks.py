"""The pairings that turn image batches into translation examples."""

import functools

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from gan_jax.image_to_image import pairings


def test_edge_map_is_low_on_flat_regions_and_high_on_a_step():
    image = -np.ones((1, 8, 8, 1), np.float32)
    image[:, :, 4:] = 1.0  # A vertical edge between columns 3 and 4.
    edges = np.asarray(jax.jit(pairings.edge_map)(image))
    assert edges.shape == image.shape
    assert edges.min() >= -1.0 and edges.max() <= 1.0
    # Away from the edge the gradient is zero, the image border included.
    np.testing.assert_allclose(edges[0, :, :3, 0], -1.0, atol=1e-5)
    np.testing.assert_allclose(edges[0, :, 5:, 0], -1.0, atol=1e-5)
    # Sobel across a -1 -> 1 step: magnitude 4 * 2 = 8, tanh(4) ~ 0.9993.
    np.testing.assert_allclose(edges[0, :, 3:5, 0], 2 * np.tanh(4.0) - 1, rtol=1e-5)


def test_downsample_keeps_constants_and_checks_divisibility():
    images = jnp.full((2, 28, 28, 1), 0.25)
    small = pairings.downsample(images, 4)
    assert small.shape == (2, 7, 7, 1)
    np.testing.assert_allclose(small, 0.25, atol=1e-6)
    np.testing.assert_allclose(pairings.bicubic_upsample(small, 4), 0.25, atol=1e-6)
    with pytest.raises(ValueError, match="divisible by --config.task.upscale"):
        pairings.downsample(jnp.zeros((1, 30, 30, 1)), 4)


def test_downsample_averages_blocks_of_a_smooth_image():
    # A linear ramp: antialiased shrinking by 2 gives each block's mean
    # (away from the border, where the filter is clipped).
    ramp = jnp.tile(jnp.arange(16, dtype=jnp.float32)[None, :], (16, 1))
    small = pairings.downsample(ramp[None, :, :, None], 2)[0, :, :, 0]
    block_means = np.asarray(ramp).reshape(8, 2, 8, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(np.asarray(small)[2:-2, 2:-2], block_means[2:-2, 2:-2],
                               atol=1e-4)


def test_side_by_side_splits_halves_in_both_directions():
    images = np.zeros((1, 2, 4, 1), np.float32)
    images[..., :2, :] = -1.0
    images[..., 2:, :] = 1.0
    a_to_b = pairings.make_examples("side_by_side", {"x": images})
    np.testing.assert_array_equal(a_to_b["source"], -1.0)
    np.testing.assert_array_equal(a_to_b["target"], 1.0)
    b_to_a = pairings.make_examples("side_by_side", {"x": images}, direction="BtoA")
    np.testing.assert_array_equal(b_to_a["source"], 1.0)
    with pytest.raises(ValueError, match="even image width"):
        pairings.make_examples("side_by_side", {"x": np.zeros((1, 2, 3, 1))})


def test_colourise_maps_black_to_paper_and_white_to_ink():
    # A handful of float32 roundings (the colours' constants, t, two products,
    # their sum, 2 rgb - 1), each 2^-24 of terms no larger than 2, while the
    # results lie near 0 (0.05, 0 and -0.1 at the midpoint): an absolute
    # tolerance of 8 such roundings, not one relative to the results.
    close = functools.partial(np.testing.assert_allclose, rtol=0, atol=8 * 2 * 2.0**-24)
    black, white = -np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)
    close(pairings.colourise(black)[0, 0, 0], 2 * np.array(pairings.PAPER) - 1)
    close(pairings.colourise(white)[0, 0, 0], 2 * np.array(pairings.INK) - 1)
    grey = np.zeros((1, 1, 1, 1), np.float32)  # t = 1/2: the midpoint.
    close(pairings.colourise(grey)[0, 0, 0],
          np.array(pairings.PAPER) + np.array(pairings.INK) - 1)


def test_colourise_pairing_draws_a_and_b_from_different_images():
    images = np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1) / 4 - 0.5
    examples = pairings.make_examples("colourise", {"x": images})
    assert examples["a"].shape == examples["b"].shape == (2, 1, 1, 3)
    np.testing.assert_allclose(examples["a"][:, 0, 0, 0], images[:2, 0, 0, 0])
    np.testing.assert_allclose(examples["b"], pairings.colourise(images[2:]))


def test_unknown_pairing_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Valid: colourise, two_splits, two_folders"):
        pairings.check_pairing("edges", "cyclegan")
    with pytest.raises(ValueError, match="Valid: edges, downsample, side_by_side"):
        pairings.check_pairing("colourise", "pix2pix")
