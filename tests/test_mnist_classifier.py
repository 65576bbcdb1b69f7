"""The MNIST feature classifier: shapes, training, saving and loading."""

import gzip

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics.features import mnist_classifier
from gan_jax.run import classifier_training


def _write_idx(folder, num=200):
    """Class k is a bright 5x5 square at its own place on a 3x4 grid, far
    enough apart that the 2-pixel training shifts never confuse two classes."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, num).astype(np.uint8)
    images = rng.integers(0, 40, (num, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        row, column = 2 + 9 * (label // 4), 2 + 7 * (label % 4)
        image[row:row + 5, column:column + 5] = 255
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([0x803, num, 28, 28], ">i4").tobytes() + images.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([0x801, num], ">i4").tobytes() + labels.tobytes())


def test_outputs_have_the_documented_shapes():
    model = mnist_classifier.MNISTClassifier()
    variables = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))
    outputs = model.apply(variables, jnp.zeros((3, 28, 28, 1)))
    assert outputs["features"].shape == (3, 128)
    assert outputs["logits"].shape == (3, 10)
    assert np.all(np.asarray(outputs["features"]) >= 0)  # After a ReLU.


def test_translation_keeps_content_and_moves_it_at_most_two_pixels():
    image = jnp.full((1, 28, 28, 1), -1.0).at[0, 13, 13, 0].set(1.0)
    for seed in range(5):
        moved = np.asarray(classifier_training._translate(image, jax.random.key(seed)))
        (row,), (col,) = np.nonzero(moved[0, ..., 0] > 0)[:2]
        assert abs(row - 13) <= 2 and abs(col - 13) <= 2
        assert np.sum(moved > 0) == 1


@pytest.mark.slow
def test_fit_learns_held_out_examples_and_round_trips_through_save(tmp_path):
    _write_idx(tmp_path / "idx")
    train_config, test_config = classifier_training.data_configs(
        True, str(tmp_path / "idx"), str(tmp_path / "tfds"))
    train_config.split, test_config.split = "test[:150]", "test[150:]"
    result = classifier_training.fit(train_config, test_config, num_steps=150,
                                     batch_size=32, learning_rate=3e-3)
    assert result.num_test_examples == 50
    assert result.test_accuracy >= 0.9  # Chance is 0.1.

    mnist_classifier.save(tmp_path / "clf", result.params, {"test_accuracy": 0.5})
    loaded = mnist_classifier.load(tmp_path / "clf")
    assert loaded.metadata == {"test_accuracy": 0.5}
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(loaded.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    outputs = loaded.feature_fn()(jnp.zeros((2, 28, 28, 1)))
    np.testing.assert_allclose(np.sum(outputs["probabilities"], axis=1), 1.0, rtol=1e-5)
    with pytest.raises(FileExistsError, match="choose a new directory"):
        mnist_classifier.save(tmp_path / "clf", result.params, {})


def test_missing_classifier_says_how_to_train_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m gan_jax.train_classifier"):
        mnist_classifier.load(tmp_path / "nothing")


def test_other_image_sizes_are_resized_to_what_the_classifier_reads(tmp_path):
    """32x32 images (the BigGAN and StyleGAN2 MNIST runs) are read at 28x28:
    a constant image has the same features at either size, and a 32x32
    image has those of its antialiased resize."""
    from gan_jax.metrics import features
    params = mnist_classifier.MNISTClassifier().init(
        jax.random.key(0), jnp.zeros((1, 28, 28, 1)))["params"]
    mnist_classifier.save(tmp_path / "classifier", params, {"accuracy": 0.0})
    extract = features.create("mnist_classifier", str(tmp_path / "classifier")).fn
    levels = jnp.linspace(-1.0, 1.0, 3)[:, None, None, None]
    small = extract(jnp.broadcast_to(levels, (3, 28, 28, 1)))["features"]
    large = extract(jnp.broadcast_to(levels, (3, 32, 32, 1)))["features"]
    np.testing.assert_allclose(large, small, atol=1e-5 * np.abs(small).max())
    image = jax.random.uniform(jax.random.key(1), (2, 32, 32, 1), minval=-1.0)
    resized = jax.image.resize(image, (2, 28, 28, 1), "linear", antialias=True)
    np.testing.assert_allclose(extract(image)["features"],
                               extract(resized)["features"], rtol=1e-6, atol=1e-6)
