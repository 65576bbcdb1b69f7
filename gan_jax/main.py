"""Trains a GAN: `python -m gan_jax.main --config=configs/ring8.py --workdir=DIR`.

Any config field can be overridden, e.g. `--config.loss.name=hinge`. Running
the same command again resumes from the newest checkpoint in `--workdir`.
"""

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from gan_jax import cli
from gan_jax import parallel
from gan_jax import train

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, "
                               "TensorBoard events, images and final metrics.")
config_flags.DEFINE_config_file(
    "config", None, "Path to a config file with get_config(), e.g. "
    "configs/ring8.py (append ':tiny' for a quick smoke-test variant).",
    lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    parallel.initialize(flags.FLAGS.config.get("distributed", "auto"))
    logging.info("JAX process %d / %d, devices: %s", jax.process_index(),
                 jax.process_count(), jax.devices())
    train.train_and_evaluate(flags.FLAGS.config, _WORKDIR.value)


if __name__ == "__main__":
    app.run(main)
