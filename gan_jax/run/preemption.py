"""Stopping on SIGTERM or SIGINT at a step boundary, so the loop can save.

Schedulers preempt with SIGTERM (Slurm, Kubernetes, Cloud TPU, spot VMs) and
people press Ctrl-C. Inside `watch()` either signal only raises a flag; the
loop finishes the step it is in, saves a checkpoint, and raises
`TrainingInterrupted`. A second signal while saving is ignored: interrupting
the save is what would lose work.

Multi-process runs leave SIGTERM to JAX's preemption service (started by
`jax.distributed.initialize`), which lets every process agree on the step to
save at; `reached` asks orbax's manager for that sync point.
"""

import contextlib
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """The run saved a checkpoint at `step` and stopped on `signal_name`."""

    def __init__(self, message: str, step: int, signal_name: str):
        super().__init__(message)
        self.step = step
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        """128 + the signal number, what a shell reports for a killed job."""
        return 128 + int(getattr(signal, self.signal_name))


class Watcher:
    """Whether a stop was requested; filled in by `watch`."""

    def __init__(self):
        self.signal_name: str | None = None

    def requested(self) -> bool:
        return self.signal_name is not None


@contextlib.contextmanager
def watch(enabled: bool = True):
    """Yields a `Watcher` whose `signal_name` is set by SIGTERM or SIGINT.

    Signal handlers can only be installed from the main thread; elsewhere (or
    with `enabled=False`) the watcher never fires and signals keep their
    usual effect.
    """
    watcher = Watcher()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield watcher
        return

    def handler(signum, frame):
        del frame
        if watcher.signal_name is None:
            watcher.signal_name = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield watcher
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interrupted_message(signal_name: str, step: int, checkpoint_dir: str) -> str:
    return (f"Stopped by {signal_name} after step {step}: saved a checkpoint at "
            f"step {step} in {checkpoint_dir}. Run the same command again to "
            "resume from it.")
