"""This project's train step against the PyTorch DCGAN reference, side by side.

    PYTHONPATH=. python benchmarks/compare_pytorch.py \
        --reference=/path/to/pytorch-examples/dcgan/main.py \
        --reference_python=/path/to/torch-venv/bin/python --rounds=3

Alternates, `--rounds` times: `benchmarks/train_step.py` on
`configs/dcgan64_reference.py` (one subprocess), then the reference script
(`pytorch_reference.py`: `--dataset fake`, `--niter` epochs, timed line by
line). Prints both medians over the rounds and their ratio. The reference is
not part of this project: see benchmarks/README.md for where to get it.
"""

import re
import statistics
import subprocess
import sys

from absl import app
from absl import flags

import pytorch_reference

_REFERENCE = flags.DEFINE_string("reference", None, "Path to pytorch/examples "
                                 "dcgan/main.py.", required=True)
_REFERENCE_PYTHON = flags.DEFINE_string("reference_python", sys.executable,
                                        "A Python with torch and torchvision.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Alternating rounds.", lower_bound=1)
_NITER = flags.DEFINE_integer("niter", 3, "Reference epochs per round "
                              "(16 iterations each).", lower_bound=2)
_CONFIG = flags.DEFINE_string("config", "configs/dcgan64_reference.py",
                              "Config for benchmarks/train_step.py.")
_JAX_ARGS = flags.DEFINE_list("jax_args", ["--steps=10", "--windows=3"],
                              "More flags for benchmarks/train_step.py.")


def _jax_rate() -> float:
    out = subprocess.run(
        [sys.executable, "benchmarks/train_step.py", f"--config={_CONFIG.value}",
         *_JAX_ARGS.value], capture_output=True, text=True, check=True).stdout
    print(out.strip())
    return float(re.search(r"iterations/s: ([0-9.]+)", out).group(1))


def _reference_rate() -> float:
    rate = pytorch_reference.rate(_REFERENCE_PYTHON.value, _REFERENCE.value,
                                  niter=_NITER.value)
    print(f"reference: {rate.iterations_per_s:.3f} iterations/s (median of "
          f"{rate.iterations_timed} iterations)")
    return rate.iterations_per_s


def main(argv):
    del argv
    jax_rates, reference_rates = [], []
    for round_index in range(_ROUNDS.value):
        print(f"--- round {round_index + 1}/{_ROUNDS.value}")
        jax_rates.append(_jax_rate())
        reference_rates.append(_reference_rate())
    jax_median = statistics.median(jax_rates)
    reference_median = statistics.median(reference_rates)
    print(f"gan_jax:   {jax_median:.3f} iterations/s, {64 * jax_median:.1f} images/s "
          f"(rounds: {', '.join(f'{r:.3f}' for r in jax_rates)})")
    print(f"reference: {reference_median:.3f} iterations/s, "
          f"{64 * reference_median:.1f} images/s "
          f"(rounds: {', '.join(f'{r:.3f}' for r in reference_rates)})")
    print(f"ratio gan_jax / reference: {jax_median / reference_median:.2f}")


if __name__ == "__main__":
    app.run(main)
