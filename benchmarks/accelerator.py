"""One invocation that measures the configs' training speed on an accelerator.

    PYTHONPATH=. python benchmarks/accelerator.py --out=accelerator_results

For each config of `--configs` (`configs/<name>.py`) and each dtype of
`--dtypes` (`config.model.dtype`): builds the state and every phase of the run
(`gan_jax.run.gan_phases`: the train step, and the lazy regulariser every
`penalty.lazy_interval` steps) as `gan_jax.train` does, on a device-resident
batch of random images (`step_program.build_phases`; no input pipeline, no
TensorFlow), compiles them (the compile seconds are recorded) and times
windows of iterations. An iteration is one train step (`n_critic`
discriminator updates and one generator update) plus the phases that run
after it as the loop schedules them, so a window is a whole number of
regulariser periods and the lazy phases are amortised by their `every`. The
loop's non-finite guard and metric sums are not included. Reported:

  it/s        median over the windows of iterations per second
  images/s    real images the discriminator consumes per second:
              it/s x batch x n_critic
  GFLOP/it    XLA's cost analysis (`compiled.cost_analysis()["flops"]`) of
              each compiled program over its `every`, summed
  MFU         GFLOP/it x it/s / the device's peak dense FLOP/s for the dtype
              (`peak_flops`; float32 counts at the TF32 peak on NVIDIA GPUs,
              JAX's default float32 matmul and convolution precision there);
              null where the peak is unknown (the CPU)

Then, for each config of `--vmap_configs` and each K of `--vmap_seeds`: K
members (seeds 0 .. K-1) stacked and vmapped as `gan_jax.sweep` trains them,
reported as member-iterations/s (K x it/s) and the speed-up over K = 1.

`--budget_s` bounds the whole run: before timing each measurement, the
time left is split evenly over the measurements left, and its windows are
shrunk (down to `--min_windows` windows of one period) to fit its share after
its compile time. A measurement that fails (out of memory, a config that does
not exist yet) is recorded with its error, and the run goes on; one that
would start after the budget is spent is recorded as skipped.

`--reference=.../dcgan/main.py --reference_python=...`: first runs the
PyTorch DCGAN reference on the same device (`pytorch_reference.py`, with its
GPU flag unless `--noreference_gpu`), before JAX takes the device, and
reports the ratio of `dcgan64_reference`'s float32 it/s to it.

Writes `accelerator.json` (the device, versions, command line and every
figure) and `accelerator.md` (the tables, also printed) to `--out`.
`--smoke`: a CPU smoke test of the same code (tiny widths and batch, at most
2 critic steps, windows of one period, K = 1, 2, XLA:CPU's cheapest code
generation), for the test suite.
"""

import importlib.util
import json
import math
import os
import pathlib
import platform
import statistics
import sys
import time
import traceback

from absl import app
from absl import flags
import jax

from gan_jax import models
from gan_jax.run import compile_options
from gan_jax.run import gan_spec
import pytorch_reference
import step_program
import timing

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ("dcgan64_reference", "sngan_cifar10", "biggan_cifar10",
                   "stylegan2_cifar10")

_CONFIGS = flags.DEFINE_list("configs", list(DEFAULT_CONFIGS),
                             "Configs to time: names of configs/<name>.py, or paths; "
                             "NAME:VARIANT picks a variant.")
_DTYPES = flags.DEFINE_list("dtypes", ["float32", "bfloat16"],
                            "Compute dtypes (config.model.dtype).")
_VMAP_CONFIGS = flags.DEFINE_list("vmap_configs", ["ring8", "dcgan64_reference"],
                                  "Configs whose members are timed under vmap.")
_VMAP_SEEDS = flags.DEFINE_list("vmap_seeds", ["1", "4", "16"],
                                "Numbers of members K to stack and vmap.")
_VMAP_DTYPE = flags.DEFINE_string("vmap_dtype", "float32",
                                  "Compute dtype of the vmapped members.")
_BUDGET = flags.DEFINE_float("budget_s", 420.0,
                             "Seconds for the whole run, compiles included.")
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows per measurement at "
                                "most (median reported).", lower_bound=1)
_MIN_WINDOWS = flags.DEFINE_integer("min_windows", 2, "Timed windows per "
                                    "measurement at least.", lower_bound=1)
_MAX_STEPS = flags.DEFINE_integer("max_steps", 100, "Iterations per window at most "
                                  "(rounded up to whole regulariser periods).",
                                  lower_bound=1)
_OUT = flags.DEFINE_string("out", "accelerator_results",
                           "Directory for accelerator.json and accelerator.md.")
_SMOKE = flags.DEFINE_bool("smoke", False, "CPU smoke mode: tiny networks and "
                           "batch, windows of one period, K = 1, 2.")
_PEAK = flags.DEFINE_float("peak_flops", None, "Peak dense FLOP/s of the device for "
                           "every dtype, overriding the table (for a device it "
                           "does not know).")
_REFERENCE = flags.DEFINE_string("reference", None, "Path to pytorch/examples "
                                 "dcgan/main.py: also time it on this device.")
_REFERENCE_PYTHON = flags.DEFINE_string("reference_python", sys.executable,
                                        "A Python with torch and torchvision.")
_REFERENCE_NITER = flags.DEFINE_integer("reference_niter", 3, "Reference epochs "
                                        "(16 iterations each).", lower_bound=2)
_REFERENCE_GPU = flags.DEFINE_bool("reference_gpu", True, "Run the reference "
                                   "with its GPU flag (--accel, or --cuda in "
                                   "older pytorch/examples).")
_REFERENCE_ARGS = flags.DEFINE_list("reference_args", [], "More flags for the "
                                    "reference, e.g. --workers=8.")

# Peak dense (no sparsity) FLOP/s by `device_kind` substring, first match
# wins: NVIDIA's datasheets. "tf32" is what float32 convolutions and matrix
# products run at under JAX's default precision on these GPUs
# (https://docs.jax.dev/en/latest/201/precision.html: "float32 dot products
# may be computed with reduced-precision arithmetic internally (bfloat16 on
# TPU, TF32 on recent GPUs)"); "float32" is the CUDA-core peak that
# `jax_default_matmul_precision=highest` runs at.
PEAK_FLOPS = (
    ("H100 PCIe", {"bfloat16": 756e12, "tf32": 378e12, "float32": 51.2e12}),
    ("H100 NVL", None),  # Other clocks than the SXM part: pass --peak_flops.
    ("H100", {"bfloat16": 989.4e12, "tf32": 494.7e12, "float32": 66.9e12}),
    ("H200", {"bfloat16": 989.4e12, "tf32": 494.7e12, "float32": 66.9e12}),
    ("A100", {"bfloat16": 312e12, "tf32": 156e12, "float32": 19.5e12}),
)
# jax_default_matmul_precision -> the peak float32 work runs at.
_FLOAT32_PEAK = {None: "tf32", "default": "tf32", "tensorfloat32": "tf32",
                 "high": "tf32", "float32": "float32", "highest": "float32",
                 "bfloat16": "bfloat16", "fastest": "bfloat16"}

# Smoke mode: the model fields that set the networks' widths, by model.
# biggan and stylegan2 are the lead's models in progress: adjust their
# entries to their option names.
WIDTH_FIELDS = {
    "mlp": {"hidden_dim": 16, "num_layers": 1},
    "dcgan": {"g_channels": 8, "d_channels": 8},
    "sngan": {"g_channels": 8, "d_channels": 8},
    "biggan": {"g_channels": 8, "d_channels": 8},
    "stylegan2": {"channel_base": 256, "channel_max": 16, "latent_dim": 32,
                  "w_dim": 32},
}
_SMOKE_BATCH = 8
# Smoke mode: XLA:CPU's cheapest code generation, as the test suite asks
# for (tests/conftest.py): the smoke test times the harness, not the code.
_FAST_COMPILE = "--xla_backend_optimization_level=0"
# Image shapes of datasets that configs keep at their stored size
# (`data.image_size` None), and channels of the resized ones.
STORED_SHAPES = {"cifar10": (32, 32, 3), "cifar100": (32, 32, 3),
                 "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1)}
CHANNELS = {"mnist": 1, "fashion_mnist": 1, "emnist": 1}


def load_config(name: str):
    """`configs/<name>.py`'s `get_config(variant)` (NAME:VARIANT), or a path."""
    name, _, variant = name.partition(":")
    path = pathlib.Path(name)
    if path.suffix != ".py":
        path = REPO / "configs" / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"No config {path}.")
    module_spec = importlib.util.spec_from_file_location(f"_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(variant) if variant else module.get_config()


def shrink_for_smoke(config) -> None:
    """Tiny networks and batch, the smallest image size the model makes, at
    most 2 critic steps and a regulariser every 2 steps: the same programs
    at a size that compiles and runs in seconds on a CPU."""
    for field, value in WIDTH_FIELDS.get(config.model.name, {}).items():
        config.model[field] = value
    config.data.batch_size = _SMOKE_BATCH
    config.optim.n_critic = min(config.optim.n_critic, 2)
    config.penalty.lazy_interval = min(config.penalty.lazy_interval, 2)
    config.tricks.path_length_interval = min(config.tricks.path_length_interval, 2)
    supported = models.SUPPORTED_IMAGE_SIZES.get(config.model.name)
    if supported and config.data.image_size is not None:
        config.data.image_size = min(supported)


def sample_shape(spec: gan_spec.GanSpec) -> tuple[int, ...]:
    """One sample's shape, as the run's data would have it (not read here)."""
    data = spec.data
    if data.source == "toy":
        return (2,)
    channels = 3 if data.source == "stacked_mnist" else CHANNELS.get(data.name, 3)
    if data.image_size is not None:
        return (data.image_size, data.image_size, channels)
    if data.source == "stacked_mnist":
        return (28, 28, 3)
    if data.name in STORED_SHAPES:
        return STORED_SHAPES[data.name]
    raise ValueError(f"{data.name!r} is kept at its stored size, which this script "
                     "does not know: set config.data.image_size, or add the "
                     "dataset to STORED_SHAPES.")


def build_spec(name: str, dtype: str) -> gan_spec.GanSpec:
    config = load_config(name)
    config.model.dtype = dtype
    if _SMOKE.value:
        shrink_for_smoke(config)
    return gan_spec.build(config)


def peak_flops(device, dtype: str) -> tuple[float | None, str]:
    """The device's peak dense FLOP/s for work in `dtype`, and which peak."""
    if _PEAK.value:
        return _PEAK.value, "--peak_flops"
    if device.platform == "cpu":
        return None, "no peak for the CPU"
    precision = jax.config.jax_default_matmul_precision
    kind = dtype if dtype == "bfloat16" else _FLOAT32_PEAK.get(precision, "tf32")
    for pattern, peaks in PEAK_FLOPS:
        if pattern in device.device_kind:
            if peaks is None:
                break
            return peaks[kind], f"{pattern} {kind}"
    return None, f"unknown device {device.device_kind!r}: pass --peak_flops"


class Budget:
    """Seconds left for the run, split evenly over the measurements left."""

    def __init__(self, seconds: float, measurements: int):
        self.deadline = time.perf_counter() + seconds
        self.left = measurements

    def share(self) -> float:
        """This measurement's seconds (its compile included); counts it."""
        share = (self.deadline - time.perf_counter()) / max(self.left, 1)
        self.left -= 1
        return share

    def spent(self) -> bool:
        return time.perf_counter() >= self.deadline


_CALIBRATION_S = 0.02


def measure(program: step_program.PhasesProgram, deadline: float) -> dict:
    """Times windows of iterations of `program` (see the module docstring):
    one untimed period (warm-up), a timed estimate of an iteration's time
    (windows of one period, doubled until one takes `_CALIBRATION_S`), then
    windows sized to end about at `deadline` (a `time.perf_counter()`)."""
    period = program.period
    counter = iter(range(1, 1 << 62))

    def iteration(state):
        return program.iteration(state, next(counter))

    state = program.state
    for _ in range(period):
        state = iteration(state)
    if _SMOKE.value:
        windows, steps = _MIN_WINDOWS.value, period
    else:
        steps = period
        while True:
            rate, state = timing.window(iteration, state, steps)
            if steps / rate >= _CALIBRATION_S or steps >= _MAX_STEPS.value:
                break
            steps *= 2
        iterations = max(deadline - time.perf_counter(), 0.0) * rate
        windows = max(_MIN_WINDOWS.value, min(_WINDOWS.value, int(iterations)))
        steps = int(min(iterations / windows, _MAX_STEPS.value))
        steps = period * max(1, math.ceil(steps / period))
    rates, _ = timing.window_rates(iteration, state, steps=steps, windows=windows)
    return {"iterations_per_s": statistics.median(rates),
            "window_rates": rates, "windows": windows, "steps_per_window": steps}


def _error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) < 2000 else text[:2000] + " ..."


def _phases_record(program: step_program.PhasesProgram) -> list[dict]:
    return [{"name": p.name, "every": p.every, "compile_s": p.compile_seconds,
             "flops": p.flops, "lowered_flops": p.lowered_flops}
            for p in program.phases]


def time_config(name: str, dtype: str, budget: Budget, device) -> dict:
    record = {"config": name, "dtype": dtype}
    share = budget.share()
    if budget.spent():
        return dict(record, error="skipped: the time budget was spent")
    start = time.perf_counter()
    try:
        spec = build_spec(name, dtype)
        shape = sample_shape(spec)
        record.update(model=spec.model.name, batch_size=spec.data.batch_size,
                      n_critic=spec.optim.n_critic, sample_shape=list(shape))
        program = step_program.build_phases(spec, shape,
                                            compile_options.for_training())
        record.update(compile_s=sum(p.compile_seconds for p in program.phases),
                      phases=_phases_record(program))
        record.update(measure(program, start + share))
        rate = record["iterations_per_s"]
        record["images_per_s"] = rate * spec.data.batch_size * spec.optim.n_critic
        flops = program.flops_per_iteration()
        record["flops_per_iteration"] = flops
        record["lowered_flops_per_iteration"] = program.flops_per_iteration(lowered=True)
        peak, peak_source = peak_flops(device, dtype)
        record.update(peak_flops=peak, peak=peak_source)
        record["mfu"] = flops * rate / peak if flops and peak else None
    except Exception as error:  # pylint: disable=broad-except
        traceback.print_exc()
        record["error"] = _error(error)
    record["seconds"] = time.perf_counter() - start
    return record


def time_members(name: str, k: int, budget: Budget) -> dict:
    record = {"config": name, "k": k, "dtype": _VMAP_DTYPE.value}
    share = budget.share()
    if budget.spent():
        return dict(record, error="skipped: the time budget was spent")
    start = time.perf_counter()
    try:
        spec = build_spec(name, _VMAP_DTYPE.value)
        shape = sample_shape(spec)
        record.update(model=spec.model.name, batch_size=spec.data.batch_size,
                      n_critic=spec.optim.n_critic)
        program = step_program.build_phases(spec, shape,
                                            compile_options.for_training(),
                                            members=k)
        record["compile_s"] = sum(p.compile_seconds for p in program.phases)
        record.update(measure(program, start + share))
        record["member_iterations_per_s"] = k * record["iterations_per_s"]
    except Exception as error:  # pylint: disable=broad-except
        traceback.print_exc()
        record["error"] = _error(error)
    record["seconds"] = time.perf_counter() - start
    return record


def _add_speedups(records: list[dict]) -> None:
    single = {r["config"]: r.get("member_iterations_per_s")
              for r in records if r["k"] == 1}
    for record in records:
        base, rate = single.get(record["config"]), record.get("member_iterations_per_s")
        record["speedup_vs_k1"] = rate / base if base and rate else None


def time_reference(gpu: bool) -> dict:
    start = time.perf_counter()
    try:
        rate = pytorch_reference.rate(
            _REFERENCE_PYTHON.value, _REFERENCE.value, niter=_REFERENCE_NITER.value,
            gpu=gpu, extra_args=tuple(_REFERENCE_ARGS.value))
        record = {"iterations_per_s": rate.iterations_per_s,
                  "iterations_timed": rate.iterations_timed,
                  "images_per_s": 64 * rate.iterations_per_s,
                  "command": rate.command}
    except Exception as error:  # pylint: disable=broad-except
        traceback.print_exc()
        record = {"error": _error(error)}
    record["seconds"] = time.perf_counter() - start
    return record


def _print_progress(record: dict) -> None:
    what = f"{record['config']} {record['dtype']}" + (
        f" K={record['k']}" if "k" in record else "")
    if "error" in record:
        print(f"{what}: {record['error'][:300]}", flush=True)
    else:
        print(f"{what}: {record['iterations_per_s']:.3f} it/s (median of "
              f"{record['windows']} x {record['steps_per_window']}), compile "
              f"{record['compile_s']:.1f} s", flush=True)


def _figure(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _percent(fraction) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def _cell(text: str, limit: int = 120) -> str:
    """`text` as one Markdown table cell."""
    return " ".join(text.replace("|", "/").split())[:limit]


def markdown(report: dict) -> str:
    lines = [f"Device: {report['device_kind']} ({report['platform']}), jax "
             f"{report['jax_version']}; {report['wall_s']:.0f} s in all.", "",
             "| config | dtype | batch x n_critic | compile s | it/s | images/s | "
             "GFLOP/it compiled (before optimisation) | MFU |",
             "|---|---|---|---|---|---|---|---|"]
    peaks = set()
    for r in report["configs"]:
        if "error" in r:
            lines.append(f"| {r['config']} | {r['dtype']} | {_cell(r['error'])} |"
                         " | | | | |")
            continue
        flops, lowered = r["flops_per_iteration"], r["lowered_flops_per_iteration"]
        lines.append(
            f"| {r['config']} | {r['dtype']} | {r['batch_size']} x {r['n_critic']} | "
            f"{r['compile_s']:.1f} | {r['iterations_per_s']:.2f} | "
            f"{r['images_per_s']:.0f} | {_figure(flops and flops / 1e9, '.4g')} "
            f"({_figure(lowered and lowered / 1e9, '.4g')}) | {_percent(r['mfu'])} |")
        peaks.add(r["peak"] if r["peak_flops"] is None else
                  f"{r['peak']} {r['peak_flops'] / 1e12:g} TFLOP/s")
    lines += ["", f"MFU over the peak: {'; '.join(sorted(peaks)) or '-'}. images/s: "
              "real images the discriminator consumes, it/s x batch x n_critic."]
    lines += ["", "| vmapped config | K | compile s | it/s | member-it/s | "
              "speed-up over K = 1 |", "|---|---|---|---|---|---|"]
    for r in report["vmap"]:
        if "error" in r:
            lines.append(f"| {r['config']} | {r['k']} | {_cell(r['error'])} | | | |")
            continue
        lines.append(
            f"| {r['config']} | {r['k']} | {r['compile_s']:.1f} | "
            f"{r['iterations_per_s']:.2f} | {r['member_iterations_per_s']:.2f} | "
            f"{_figure(r['speedup_vs_k1'], '.2f')} |")
    reference = report.get("reference")
    if reference:
        if "error" in reference:
            lines += ["", f"pytorch/examples dcgan: {_cell(reference['error'], 300)}"]
        else:
            ratio = report.get("ratio_to_reference")
            lines += ["", f"pytorch/examples dcgan on the same device: "
                      f"{reference['iterations_per_s']:.2f} it/s "
                      f"({reference['images_per_s']:.0f} images/s); "
                      f"dcgan64_reference float32 / reference: "
                      f"{_figure(ratio, '.2f')}"]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if _SMOKE.value and _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
        # XLA reads its flags when the backend starts, which is below.
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}"
    start = time.perf_counter()
    ks = [int(k) for k in (["1", "2"] if _SMOKE.value else _VMAP_SEEDS.value)]
    budget = Budget(_BUDGET.value, len(_CONFIGS.value) * len(_DTYPES.value)
                    + len(_VMAP_CONFIGS.value) * len(ks))
    # Before JAX takes the device (and by default most of its memory).
    reference = (time_reference(gpu=_REFERENCE_GPU.value) if _REFERENCE.value
                 else None)
    device = jax.devices()[0]
    print(f"{jax.device_count()} x {device.device_kind} ({device.platform}); "
          f"budget {_BUDGET.value:.0f} s", flush=True)
    configs = []
    for name in _CONFIGS.value:
        for dtype in _DTYPES.value:
            configs.append(time_config(name, dtype, budget, device))
            _print_progress(configs[-1])
    vmap = []
    for name in _VMAP_CONFIGS.value:
        for k in ks:
            vmap.append(time_members(name, k, budget))
            _print_progress(vmap[-1])
    _add_speedups(vmap)
    report = {
        "command": [sys.executable, *sys.argv],
        "device_kind": device.device_kind, "platform": device.platform,
        "device_count": jax.device_count(), "jax_version": jax.__version__,
        "python": platform.python_version(), "smoke": _SMOKE.value,
        "budget_s": _BUDGET.value,
        "images_per_s": "real images the discriminator consumes per second: "
                        "it/s x batch x n_critic",
        "configs": configs, "vmap": vmap, "reference": reference,
    }
    dcgan = [r for r in configs if r["config"] == "dcgan64_reference"
             and r["dtype"] == "float32" and "error" not in r]
    if reference and "error" not in reference and dcgan:
        report["ratio_to_reference"] = (dcgan[0]["iterations_per_s"]
                                        / reference["iterations_per_s"])
    report["wall_s"] = time.perf_counter() - start
    out = pathlib.Path(_OUT.value)
    out.mkdir(parents=True, exist_ok=True)
    (out / "accelerator.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out / "accelerator.md").write_text(table)
    print(table)


if __name__ == "__main__":
    app.run(main)
