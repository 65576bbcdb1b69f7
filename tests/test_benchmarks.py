"""The benchmark scripts run: each printed figure comes from a working
command, whatever the timings (which live in benchmarks/README.md, not here)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

# A subprocess that compiles a step: outside the everyday tier.
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_train_step_benchmark_reports_the_configs_shape_and_consistent_rates():
    """`benchmarks/train_step.py` on an image config reads the sample shape
    from the config's spec (64 x 64 x 3 for dcgan64_reference) and prints
    images/s = iterations/s x batch."""
    result = subprocess.run(
        [sys.executable, "benchmarks/train_step.py",
         "--config=configs/dcgan64_reference.py:tiny",
         "--steps=1", "--windows=1", "--warmup=1"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    header = re.search(r"batch (\d+), sample \((\d+), (\d+), (\d+)\)", out)
    assert header, out
    batch = int(header.group(1))
    assert tuple(int(d) for d in header.groups()[1:]) == (64, 64, 3)
    rate = float(re.search(r"iterations/s: ([\d.]+)", out).group(1))
    images = float(re.search(r"images/s: ([\d.]+)", out).group(1))
    assert rate > 0
    # Both printed rounded: iterations/s to 3 decimals, images/s to 1.
    assert abs(images - rate * batch) <= 0.0005 * batch + 0.05
