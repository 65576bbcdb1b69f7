"""What the command-line jobs (`main`, `sample`, ...) share."""

import logging as std_logging

from absl import logging


def _drop_library_chatter(record) -> bool:
    """Keeps orbax's and TFDS's per-save INFO lines out of the progress log."""
    noisy = ("/orbax/", "/tensorflow_datasets/")
    return record.levelno >= std_logging.WARNING or not any(
        part in record.pathname for part in noisy)


def quiet_library_logs() -> None:
    """Shows library warnings, but not their routine INFO lines."""
    logging.get_absl_handler().addFilter(_drop_library_chatter)
