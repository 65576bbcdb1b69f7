"""A small MNIST classifier: the feature extractor of the MNIST metrics.

Its penultimate layer (128 features) feeds FID, KID, precision/recall and
density/coverage on MNIST-like data; its class probabilities feed the
Inception Score and the Stacked MNIST mode count. InceptionV3 features are the
standard for natural images, but they describe digits poorly, and a network
trained on the data's own domain is what the GAN literature uses for MNIST
(e.g. Lin et al. 2018 for Stacked MNIST).

The trained parameters are saved with orbax under a directory, together with
`classifier.json` (its accuracy and the data it was trained and tested on), and
found again by that path.
"""

import json
from typing import Callable, NamedTuple

from etils import epath
import flax.linen as nn
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

METADATA_FILE = "classifier.json"
PARAMS_DIR = "params"
NUM_CLASSES = 10
# The images it reads (H, W, C): MNIST as it is.
IMAGE_SHAPE = (28, 28, 1)


class MNISTClassifier(nn.Module):
    """Three conv blocks and a 128-unit hidden layer; inputs `(B, 28, 28, 1)` in
    [-1, 1] (the GAN's range); returns `{"features": (B, 128), "logits": (B, 10)}`.

    Small on purpose: it trains to over 98% test accuracy in about a minute on
    a laptop CPU, and featurising 10,000 samples takes seconds.
    """

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, images):
        x = jnp.asarray(images, self.dtype)
        for width in (16, 32, 64):
            x = nn.relu(nn.Conv(width, (3, 3), dtype=self.dtype)(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        x = x.reshape((x.shape[0], -1))
        features = nn.relu(nn.Dense(128, dtype=self.dtype, name="penultimate")(x))
        logits = nn.Dense(NUM_CLASSES, dtype=self.dtype, name="head")(features)
        return {"features": features.astype(jnp.float32),
                "logits": logits.astype(jnp.float32)}


class TrainedClassifier(NamedTuple):
    params: dict
    metadata: dict

    def feature_fn(self) -> Callable[[jax.Array], dict[str, jax.Array]]:
        """A jitted `images -> {"features", "logits", "probabilities"}`."""
        model, params = MNISTClassifier(), self.params

        @jax.jit
        def extract(images):
            outputs = model.apply({"params": params}, images)
            return dict(outputs, probabilities=jax.nn.softmax(outputs["logits"]))

        return extract


def save(directory: epath.PathLike, params, metadata: dict) -> None:
    """Writes the parameters (orbax) and `classifier.json`; refuses to overwrite."""
    directory = epath.Path(directory).absolute()
    if (directory / PARAMS_DIR).exists():
        raise FileExistsError(f"{directory / PARAMS_DIR} exists; choose a new "
                              "directory or delete the old classifier first.")
    directory.mkdir(parents=True, exist_ok=True)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / PARAMS_DIR, params)
        checkpointer.wait_until_finished()
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


def load(directory: epath.PathLike) -> TrainedClassifier:
    """The classifier saved in `directory` by `save`.

    Raises:
      FileNotFoundError: nothing was saved there, with the command that trains one.
    """
    directory = epath.Path(directory).absolute()
    if not (directory / METADATA_FILE).exists():
        raise FileNotFoundError(
            f"No MNIST classifier in {directory}. Train one (about a minute on "
            "a CPU): python -m gan_jax.train_classifier "
            f"--out={directory} (add --offline without a network).")
    abstract = jax.eval_shape(
        lambda: MNISTClassifier().init(jax.random.key(0),
                                       jnp.zeros((1, *IMAGE_SHAPE)))["params"])
    with ocp.StandardCheckpointer() as checkpointer:
        params = checkpointer.restore(directory / PARAMS_DIR, abstract)
    metadata = json.loads((directory / METADATA_FILE).read_text())
    return TrainedClassifier(params, metadata)
