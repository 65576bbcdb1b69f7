"""The benchmark scripts run: each printed figure comes from a working
command, whatever the timings (which live in benchmarks/README.md, not here)."""

import json
import math
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


# Runs a benchmark script as `python SCRIPT ARGS...` would, with TensorFlow
# and TFDS unimportable (None in sys.modules: any import of them raises), and
# prints which of their modules were loaded all the same.
_WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None
sys.modules["tensorflow_datasets"] = None
sys.argv = sys.argv[1:]
sys.path.insert(0, "benchmarks")
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit_:
    code = exit_.code
print("TENSORFLOW_MODULES", sorted(
    name for name, module in sys.modules.items() if module is not None
    and name.split(".")[0] in ("tensorflow", "tensorflow_datasets")))
sys.exit(code)
"""


def _run_without_tensorflow(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW, *args],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TENSORFLOW_MODULES []" in result.stdout, result.stdout[-3000:]
    return result.stdout


def test_train_step_benchmark_runs_without_tensorflow():
    """The compute path (spec, models, state, compiled step, synthetic
    device-resident batch) imports neither TensorFlow nor TFDS, so the step
    benchmarks run on a GPU host without them."""
    out = _run_without_tensorflow(
        "benchmarks/train_step.py", "--config=configs/ring8.py:tiny",
        "--steps=1", "--windows=1", "--warmup=1")
    assert float(re.search(r"iterations/s: ([\d.]+)", out).group(1)) > 0


def test_accelerator_harness_smoke_mode_writes_every_figure(tmp_path):
    """`benchmarks/accelerator.py --smoke` (without TensorFlow) writes a JSON
    with a finite positive it/s for every config and dtype, images/s =
    it/s x batch x n_critic, XLA's flops, no MFU on the CPU (no peak), and
    every K of the vmapped members; and the Markdown table."""
    # The harness's four models, in float32 (bfloat16 is the same code with
    # another dtype, and on a CPU a second compile of each): every model's
    # programs (StyleGAN2's lazy R1 among them) compile and run without
    # TensorFlow.
    configs = ("dcgan64_reference", "sngan_cifar10", "biggan_cifar10",
               "stylegan2_cifar10")
    runs = {(c, "float32") for c in configs}
    _run_without_tensorflow(
        "benchmarks/accelerator.py", "--smoke", f"--out={tmp_path}",
        f"--configs={','.join(configs)}", "--dtypes=float32")
    report = json.loads((tmp_path / "accelerator.json").read_text())
    assert report["platform"] == "cpu" and report["smoke"]
    by_run = {(r["config"], r["dtype"]): r for r in report["configs"]}
    assert set(by_run) == runs
    for record in by_run.values():
        assert "error" not in record, record
        rate = record["iterations_per_s"]
        assert math.isfinite(rate) and rate > 0
        assert record["images_per_s"] == pytest.approx(
            rate * record["batch_size"] * record["n_critic"])
        assert record["flops_per_iteration"] > 0
        assert record["mfu"] is None
    assert by_run["sngan_cifar10", "float32"]["n_critic"] == 2
    vmap = {(r["config"], r["k"]): r for r in report["vmap"]}
    assert set(vmap) == {(c, k) for c in ("ring8", "dcgan64_reference")
                         for k in (1, 2)}
    for (_, k), record in vmap.items():
        assert "error" not in record, record
        assert record["member_iterations_per_s"] == pytest.approx(
            k * record["iterations_per_s"])
        assert record["speedup_vs_k1"] > 0
    table = (tmp_path / "accelerator.md").read_text()
    assert "| sngan_cifar10 | float32 | 8 x 2 |" in table
