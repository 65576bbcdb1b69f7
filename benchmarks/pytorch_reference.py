"""The PyTorch DCGAN reference (`dcgan/main.py` of pytorch/examples), run
and timed in a subprocess: `compare_pytorch.py` alternates it with this
project's step on the CPU, `accelerator.py` runs it once on the GPU.

It runs with `--dataset fake` (`--niter` epochs of 1,000 random images
through its own loader, two workers by default). The reference prints one
line per iteration; each line's arrival is timed, and its steady-state rate
is the median over the iterations that are neither the first nor the last of
an epoch (worker start-up, image saving, and the short final batch). The
reference is not part of this project: see benchmarks/README.md for where to
get it.
"""

import pathlib
import re
import statistics
import subprocess
import tempfile
import time
from typing import NamedTuple

_ITERATION = re.compile(r"^\[(\d+)/(\d+)\]\[(\d+)/(\d+)\] Loss_D")


class Rate(NamedTuple):
    iterations_per_s: float
    iterations_timed: int
    command: list[str]


def accelerator_flag(script: str) -> str:
    """The reference's flag for the GPU: `--accel` since pytorch/examples
    cc8e404 ("Use torch.accelerator in DCGAN example"), `--cuda` before."""
    return "--accel" if "'--accel'" in pathlib.Path(script).read_text() else "--cuda"


def rate(python: str, script: str, *, niter: int, gpu: bool = False,
         extra_args: tuple[str, ...] = ()) -> Rate:
    """The reference's steady-state iterations/s (see the module docstring);
    `gpu`: with its GPU flag (`accelerator_flag`)."""
    with tempfile.TemporaryDirectory() as outf:
        command = [python, "-u", script, "--dataset=fake", f"--niter={niter}",
                   f"--outf={outf}", "--manualSeed=1",
                   *([accelerator_flag(script)] if gpu else []), *extra_args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        arrivals = []  # (epoch, iteration, iterations per epoch, time)
        for line in process.stdout:
            match = _ITERATION.match(line)
            if match:
                epoch, _, i, per_epoch = map(int, match.groups())
                arrivals.append((epoch, i, per_epoch, time.perf_counter()))
        if process.wait():
            raise RuntimeError(f"The reference failed (exit {process.returncode}): "
                               f"{' '.join(command)}")
    # An interval ends with its iteration's line; keep full-batch iterations
    # that are not an epoch's first (worker start-up, image saving).
    intervals = [b[3] - a[3] for a, b in zip(arrivals, arrivals[1:])
                 if a[0] == b[0] and 0 < b[1] < b[2] - 1]
    if not intervals:
        raise RuntimeError(f"The reference printed too few iterations to time: "
                           f"{' '.join(command)}")
    return Rate(1.0 / statistics.median(intervals), len(intervals), command)
