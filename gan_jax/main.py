"""Trains a GAN: `python -m gan_jax.main --config=configs/ring8.py --workdir=DIR`.

Image-to-image configs (pix2pix, CycleGAN, SRGAN: a config with a `task`
field) run `gan_jax.translation.train` through the same command.

Any config field can be overridden, e.g. `--config.loss.name=hinge`. Running
the same command again resumes from the newest checkpoint in `--workdir`.

A run that cannot start, is interrupted or diverges ends with one paragraph
saying what happened and what to do, not a traceback (`--full_traceback`
shows it). Exit status: 0 done, 1 stopped by an error (bad config or data,
divergence), 128 + the signal's number after SIGTERM (143) or SIGINT (130),
with a checkpoint of the step it stopped at.
"""

import sys
import textwrap

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from gan_jax import cli
from gan_jax import parallel
from gan_jax import preemption
from gan_jax import run_dir
from gan_jax import train
from gan_jax.translation import train as translation_train

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, "
                               "TensorBoard events, images and final metrics.")
config_flags.DEFINE_config_file(
    "config", None, "Path to a config file with get_config(), e.g. "
    "configs/ring8.py (append ':tiny' for a quick smoke-test variant).",
    lock_config=True)
_IF_CONFIG_CHANGED = flags.DEFINE_enum(
    "if_config_changed", "refuse", ["refuse", "new_workdir"],
    "When --workdir holds checkpoints of a run whose saved config builds "
    "differently shaped state: refuse (show the differences and stop), or "
    "new_workdir (start fresh in the first free <workdir>-2, -3, ...; the old "
    "run is untouched).")
_FULL_TRACEBACK = flags.DEFINE_bool(
    "full_traceback", False, "Show the Python traceback of an error instead of "
    "its one-paragraph message.")
flags.mark_flags_as_required(["config", "workdir"])

# What a user can cause and fix: shown as a message, not a traceback.
_USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError, FloatingPointError)


def _fail(error: BaseException, code: int, *, hint: bool = True) -> None:
    paragraphs = str(error).split("\n")
    text = "\n".join(textwrap.fill(line, 80, subsequent_indent="  ")
                     if len(line) > 80 else line for line in paragraphs)
    # For an error the message does not explain (one from deep inside a library).
    where = "\n(--full_traceback shows where it was raised.)" if hint else ""
    print(f"\ngan_jax.main: {type(error).__name__}:\n{text}{where}", file=sys.stderr)
    sys.exit(code)


def _train(config, workdir: str) -> None:
    # Image-to-image configs name their task; GAN configs have none.
    run = (translation_train.train_and_evaluate if "task" in config
           else train.train_and_evaluate)
    try:
        run(config, workdir)
    except run_dir.ConfigChanged:
        if _IF_CONFIG_CHANGED.value != "new_workdir":
            raise
        fresh = run_dir.free_workdir(workdir)
        logging.warning("%s holds a run with a differently shaped config; "
                        "starting this run fresh in %s.", workdir, fresh)
        print(f"Starting fresh in {fresh} (the config differs from {workdir}'s).",
              file=sys.stderr)
        run(config, fresh)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    parallel.initialize(flags.FLAGS.config.distributed)
    logging.info("JAX process %d / %d, devices: %s", jax.process_index(),
                 jax.process_count(), jax.devices())
    try:
        _train(flags.FLAGS.config, _WORKDIR.value)
    except preemption.TrainingInterrupted as interrupted:
        if _FULL_TRACEBACK.value:
            raise
        _fail(interrupted, interrupted.exit_code, hint=False)
    except _USER_ERRORS as error:
        if _FULL_TRACEBACK.value:
            raise
        _fail(error, 1)
    except KeyboardInterrupt:  # Before training started: nothing to save yet.
        print("\ngan_jax.main: interrupted before training started; nothing "
              "was saved.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main)
