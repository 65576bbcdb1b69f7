"""What the command-line jobs (`main`, `sample`, ...) share."""

import contextlib
import importlib.util
import logging as std_logging
import sys
import textwrap

from absl import flags
from absl import logging
import ml_collections

from gan_jax import defaults
from gan_jax import fields
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


def unknown_override(argv: list[str], config) -> str | None:
    """One paragraph for the first `--config.a.b=...` in `argv` that names no
    field of `config` (the loaded config file): the fields it could be, or
    what replaced a retired field (`defaults.RETIRED_FIELDS`). None if every
    override names a field."""
    if config is None:
        return None
    for arg in argv[1:]:
        if not arg.startswith("--config."):
            continue
        flag = arg[len("--"):].split("=", 1)[0]
        parts = flag.split(".")
        node = config
        for depth in range(1, len(parts)):
            where = ".".join(parts[:depth])
            if not isinstance(node, ml_collections.ConfigDict):
                return (f"--{flag}: {where} is a value, not a section; set "
                        f"--{where}=VALUE.")
            message = fields.unknown_field_message(
                ".".join(parts[:depth + 1]), list(node.keys()),
                retired=defaults.RETIRED_FIELDS)
            if message:
                return message
            node = node[parts[depth]]
    return None


def _config_file_of(argv: list[str]):
    """The config `--config=FILE[:VARIANT]` in `argv` builds, or None. Read
    again because absl has not set the flag's value when an override fails."""
    arg = next((a for a in argv[1:] if a.startswith("--config=")), None)
    if arg is None:
        return None
    path, _, variant = arg[len("--config="):].partition(":")
    try:
        module_spec = importlib.util.spec_from_file_location("_config_file", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module.get_config(variant) if variant else module.get_config()
    except Exception:  # pylint: disable=broad-except
        return None  # absl's own error then says what is wrong with the file.


def parse_flags_refusing_unknown_overrides(job: str):
    """A `flags_parser` for `app.run`: absl's parsing, with an override of a
    field the config lacks refused in one paragraph (`unknown_override`)
    instead of a traceback, before any work or file."""
    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except (flags.Error, AttributeError, KeyError) as error:
            message = unknown_override(argv, _config_file_of(argv))
            if message is None:
                raise
            _fail(job, ValueError(message), 1, hint=False)
            raise AssertionError("unreachable") from error
    return parse
