"""What the command-line jobs (`main`, `sample`, ...) share."""

import contextlib
import logging as std_logging
import sys
import textwrap

from absl import flags
from absl import logging

from gan_jax.run import preemption

FULL_TRACEBACK = flags.DEFINE_bool(
    "full_traceback", False, "Show the Python traceback of an error instead of "
    "its one-paragraph message.")

# What a user can cause and fix: shown as a message, not a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, RuntimeError, FloatingPointError)


def _drop_library_chatter(record) -> bool:
    """Keeps orbax's and TFDS's per-save INFO lines out of the progress log."""
    noisy = ("/orbax/", "/tensorflow_datasets/")
    return record.levelno >= std_logging.WARNING or not any(
        part in record.pathname for part in noisy)


def quiet_library_logs() -> None:
    """Shows library warnings, but not their routine INFO lines."""
    logging.get_absl_handler().addFilter(_drop_library_chatter)


def _fail(job: str, error: BaseException, code: int, *, hint: bool = True) -> None:
    paragraphs = str(error).split("\n")
    text = "\n".join(textwrap.fill(line, 80, subsequent_indent="  ")
                     if len(line) > 80 else line for line in paragraphs)
    # For an error the message does not explain (one from deep inside a library).
    where = "\n(--full_traceback shows where it was raised.)" if hint else ""
    print(f"\n{job}: {type(error).__name__}:\n{text}{where}", file=sys.stderr)
    sys.exit(code)


@contextlib.contextmanager
def user_errors_as_messages(job: str, *, full_traceback: bool | None = None):
    """Ends the job with one paragraph instead of a traceback for what a user
    can fix. Exit status: 1 for an error, 128 + the signal's number after
    SIGTERM (143) or SIGINT (130), which saved a checkpoint first.
    `full_traceback` defaults to the `--full_traceback` flag."""
    if full_traceback is None:
        full_traceback = FULL_TRACEBACK.value
    try:
        yield
    except preemption.TrainingInterrupted as interrupted:
        if full_traceback:
            raise
        _fail(job, interrupted, interrupted.exit_code, hint=False)
    except USER_ERRORS as error:
        if full_traceback:
            raise
        _fail(job, error, 1)
    except KeyboardInterrupt:  # Before training started: nothing to save yet.
        print(f"\n{job}: interrupted before training started; nothing was "
              "saved.", file=sys.stderr)
        sys.exit(130)
