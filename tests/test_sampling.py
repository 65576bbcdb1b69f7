"""Sampling helpers and the pictures made from samples."""

import jax
import jax.numpy as jnp
import numpy as np
import PIL.Image
import pytest

from gan_jax.evaluation import sampling
from gan_jax.evaluation import visualize


def _angle(a, b):
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.arccos(np.clip(cos, -1.0, 1.0))


def test_slerp_hits_the_end_points_and_moves_at_constant_angular_speed():
    z0, z1 = np.array(jax.random.normal(jax.random.key(0), (2, 16)))
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)  # The property needs equal norms.
    t = np.linspace(0.0, 1.0, 7)
    path = np.asarray(jax.jit(sampling.slerp)(z0, z1, t))
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    total = _angle(z0, z1)
    for ti, zt in zip(t, path):
        np.testing.assert_allclose(_angle(z0, zt), ti * total, atol=1e-4)
        np.testing.assert_allclose(_angle(zt, z1), (1 - ti) * total, atol=1e-4)


def test_slerp_keeps_the_norm_of_equal_norm_end_points():
    z0 = np.array([3.0, 0.0, 0.0], np.float32)
    z1 = np.array([0.0, 3.0, 0.0], np.float32)
    path = np.asarray(sampling.slerp(z0, z1, np.linspace(0, 1, 5)))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0, rtol=1e-5)
    # A straight line would pass through norm 3 / sqrt(2) at the midpoint.
    np.testing.assert_allclose(path[2], [3 / np.sqrt(2), 3 / np.sqrt(2), 0], rtol=1e-5)


def test_slerp_of_parallel_end_points_is_finite_and_linear():
    z0 = np.array([1.0, 2.0], np.float32)
    path = np.asarray(sampling.slerp(z0, 2 * z0, np.array([0.0, 0.5, 1.0])))
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, [z0, 1.5 * z0, 2 * z0], rtol=1e-5)


def test_conditional_grid_has_one_row_per_class_and_shared_columns():
    inputs = sampling.grid_inputs(jax.random.key(1), latent_dim=5, num_classes=3)
    assert (inputs.num_rows, inputs.num_columns) == (3, sampling.GRID_COLUMNS)
    latents = np.asarray(inputs.latents).reshape(3, sampling.GRID_COLUMNS, 5)
    labels = np.asarray(inputs.labels).reshape(3, sampling.GRID_COLUMNS)
    np.testing.assert_array_equal(labels, np.arange(3)[:, None] * np.ones((1, 10)))
    np.testing.assert_array_equal(latents[0], latents[2])  # Same style per column.
    assert len(np.unique(latents[0], axis=0)) == sampling.GRID_COLUMNS


def test_unconditional_grid_is_fixed_by_the_key():
    a = sampling.grid_inputs(jax.random.key(2), latent_dim=4, num_classes=0)
    b = sampling.grid_inputs(jax.random.key(2), latent_dim=4, num_classes=0)
    c = sampling.grid_inputs(jax.random.key(3), latent_dim=4, num_classes=0)
    assert a.labels is None and a.latents.shape == (64, 4)
    np.testing.assert_array_equal(a.latents, b.latents)
    assert not np.allclose(a.latents, c.latents)


def test_interpolation_rows_keep_their_class():
    inputs = sampling.interpolation_inputs(jax.random.key(4), latent_dim=3,
                                           num_classes=2, num_rows=3, num_steps=4)
    np.testing.assert_array_equal(inputs.labels, [0] * 4 + [1] * 4 + [0] * 4)
    assert inputs.latents.shape == (12, 3)


def test_to_uint8_maps_the_generator_range_to_pixels():
    images = np.array([-1.0, 0.0, 1.0, 7.0, np.nan], np.float32).reshape(5, 1, 1, 1)
    pixels = visualize.to_uint8(images)
    assert pixels.shape == (5, 1, 1, 3) and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixels[:, 0, 0, 0], [0, 128, 255, 255, 128])


def test_image_grid_places_each_image_in_its_cell():
    values = np.linspace(-1, 1, 6, dtype=np.float32)
    images = np.broadcast_to(values[:, None, None, None], (6, 4, 4, 3)).copy()
    grid = visualize.image_grid(images, 2, 3, padding=1, min_cell=4)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    for index, value in enumerate(values):
        row, column = divmod(index, 3)
        cell = grid[1 + 5 * row:5 + 5 * row, 1 + 5 * column:5 + 5 * column]
        assert np.all(cell == visualize.to_uint8(np.array([[[[value]]]]))[0, 0, 0, 0])
    assert np.all(grid[0] == 128)  # The border.
    with pytest.raises(ValueError, match="needs 6 images"):
        visualize.image_grid(images[:5], 2, 3)


def test_image_grid_enlarges_small_images():
    grid = visualize.image_grid(np.zeros((1, 8, 8, 1)), 1, 1, padding=0, min_cell=32)
    assert grid.shape == (32, 32, 3)


def test_gif_has_one_frame_per_grid(tmp_path):
    frames = [np.full((6, 6, 3), v, np.uint8) for v in (0, 100, 200)]
    visualize.save_gif(frames, tmp_path / "a.gif")
    gif = PIL.Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 3 and gif.info["loop"] == 0


def test_a_class_filtered_run_draws_only_its_classes():
    """`data.classes` (e.g. the digits 5-9 of a fine-tuning run) are the
    classes drawn in turn: in measurements, grid rows, strips and sampling;
    `--label` may still name any class of the model."""
    classes = (5, 7, 9)
    np.testing.assert_array_equal(sampling.balanced_labels(7, 10, classes),
                                  [5, 7, 9, 5, 7, 9, 5])
    inputs = sampling.grid_inputs(jax.random.key(1), latent_dim=5, num_classes=10,
                                  classes=classes)
    assert (inputs.num_rows, inputs.num_columns) == (3, sampling.GRID_COLUMNS)
    np.testing.assert_array_equal(
        np.asarray(inputs.labels).reshape(3, -1)[:, 0], classes)
    strips = sampling.interpolation_inputs(jax.random.key(4), latent_dim=3,
                                           num_classes=10, num_rows=4, num_steps=2,
                                           classes=classes)
    np.testing.assert_array_equal(strips.labels, [5, 5, 7, 7, 9, 9, 5, 5])
    np.testing.assert_array_equal(sampling.requested_labels(4, 10, None, classes),
                                  [5, 7, 9, 5])
    np.testing.assert_array_equal(sampling.requested_labels(2, 10, 1, classes), [1, 1])


def test_sample_labels_cycle_or_fix_a_class_and_reject_bad_ones():
    np.testing.assert_array_equal(sampling.requested_labels(5, 3, None), [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(sampling.requested_labels(3, 10, 7), [7, 7, 7])
    assert sampling.requested_labels(3, None, None) is None
    with pytest.raises(ValueError, match="0 to 9"):
        sampling.requested_labels(3, 10, 10)
    with pytest.raises(ValueError, match="unconditional"):
        sampling.requested_labels(3, None, 1)


def test_write_samples_writes_pngs_labels_and_a_grid(tmp_path):
    images = np.linspace(-1, 1, 5 * 4 * 4, dtype=np.float32).reshape(5, 4, 4, 1)
    visualize.save_samples(images, np.array([0, 1, 2, 0, 1], np.int32), tmp_path)
    first = np.asarray(PIL.Image.open(tmp_path / "000000.png"))
    np.testing.assert_array_equal(first, visualize.to_uint8(images[:1])[0, ..., 0])
    assert (tmp_path / "000004.png").exists() and (tmp_path / "grid.png").exists()
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows[0] == "file,label" and rows[3] == "000002.png,2"


def test_generate_batches_and_labels_match_one_big_call():
    """Batched generation with a padded last batch equals a single call."""
    from gan_jax import defaults
    from gan_jax.run import experiment  # pylint: disable=g-import-not-at-top
    from gan_jax.run import gan_spec  # pylint: disable=g-import-not-at-top
    config = defaults.base_config()
    config.model.hidden_dim, config.model.num_layers = 8, 1
    state = experiment.create_state(gan_spec.build(config), (2,), jax.random.key(0))
    key = jax.random.key(9)
    batched = sampling.generate(state, key, 5, latent_dim=16, batch_size=2)
    expected = np.concatenate([
        np.asarray(sampling.generate_from(
            state, jax.random.normal(jax.random.fold_in(key, i), (2, 16),
                                     jnp.float32)))
        for i in range(3)])[:5]
    np.testing.assert_allclose(batched, expected, rtol=1e-6)
