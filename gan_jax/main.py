"""Trains a GAN: `python -m gan_jax.main --config=configs/ring8.py --workdir=DIR`.

Image-to-image configs (pix2pix, CycleGAN, SRGAN: a config with a `task`
field) train through the same command (`gan_jax.train.create_task`).

Any config field can be overridden, e.g. `--config.loss.name=hinge`. Running
the same command again resumes from the newest checkpoint in `--workdir`.

A run that cannot start, is interrupted or diverges ends with one paragraph
saying what happened and what to do, not a traceback (`--full_traceback`
shows it). Exit status: 0 done, 1 stopped by an error (bad config or data,
divergence), 128 + the signal's number after SIGTERM (143) or SIGINT (130),
with a checkpoint of the step it stopped at.
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
_IF_CONFIG_CHANGED = flags.DEFINE_enum(
    "if_config_changed", "refuse", list(train.IF_CONFIG_CHANGED),
    "When --workdir holds checkpoints of a run whose saved config builds "
    "differently shaped state: refuse (show the differences and stop), or "
    "new_workdir (start fresh in the first free <workdir>-2, -3, ...; the old "
    "run is untouched).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    parallel.initialize(flags.FLAGS.config.distributed)
    logging.info("JAX process %d / %d, devices: %s", jax.process_index(),
                 jax.process_count(), jax.devices())
    with cli.user_errors_as_messages("gan_jax.main"):
        train.train_and_evaluate(flags.FLAGS.config, _WORKDIR.value,
                                 if_config_changed=_IF_CONFIG_CHANGED.value)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags_refusing_unknown_overrides(
        "gan_jax.main"))
