"""Trains the MNIST classifier behind the MNIST metrics and saves it.

    python -m gan_jax.train_classifier --out=classifiers/mnist
    python -m gan_jax.train_classifier --out=classifiers/mnist --offline

With TFDS it trains on `mnist` train and tests on `mnist` test. `--offline`
uses the IDX files of the MNIST test split in `../shared/data/mnist` (or
`--data_path`): it trains on its first 8,000 images and tests on the last
2,000, which it never sees in training. The accuracy and the splits are saved
in `<out>/classifier.json`.
"""

from absl import app
from absl import flags
from absl import logging

from gan_jax import cli
from gan_jax import defaults
from gan_jax.metrics.features import mnist_classifier
from gan_jax.run import classifier_training

_OUT = flags.DEFINE_string("out", None, "Directory to save the classifier in.")
_OFFLINE = flags.DEFINE_bool("offline", False, "Read MNIST IDX files instead of TFDS.")
_DATA_PATH = flags.DEFINE_string("data_path", defaults.OFFLINE_MNIST_DIR,
                                 "With --offline: the folder of IDX files.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data directory.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 2000, "Training steps (batch 128).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of init, data order, augmentation.")
flags.mark_flags_as_required(["out"])

def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    train_config, test_config = classifier_training.data_configs(_OFFLINE.value, _DATA_PATH.value,
                                             _DATA_DIR.value)
    result = classifier_training.fit(train_config, test_config,
                                     num_steps=_NUM_STEPS.value, seed=_SEED.value)
    metadata = {
        "test_accuracy": result.test_accuracy,
        "num_test_examples": result.num_test_examples,
        "train_data": f"{train_config.source}:{train_config.split}",
        "test_data": f"{test_config.source}:{test_config.split}",
        "num_steps": _NUM_STEPS.value,
        "seed": _SEED.value,
    }
    mnist_classifier.save(_OUT.value, result.params, metadata)
    logging.info("Test accuracy %.4f on %d images of %s; saved to %s.",
                 result.test_accuracy, result.num_test_examples,
                 metadata["test_data"], _OUT.value)
    print(f"test accuracy: {result.test_accuracy:.4f} "
          f"({result.num_test_examples} images of {metadata['test_data']})")


if __name__ == "__main__":
    app.run(main)
