"""Steady-state speed of one config's compiled train step.

    PYTHONPATH=. python benchmarks/train_step.py --config=configs/dcgan64_reference.py

Builds the state and the train step exactly as `gan_jax.train` does (same
mesh, shardings and donation; `step_program.py`), feeds a device-resident
batch of random images of the config's shape (so no input pipeline is
timed), and prints the compile
time, then iterations/s and images/s: the median over `--windows` windows of
`--steps` steps each, after `--warmup` steps. An iteration is one train step
(`n_critic` discriminator updates and one generator update).
"""

import statistics

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from gan_jax.run import compile_options
from gan_jax.run import gan_spec
import step_program
import timing

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/dcgan64_reference.py", "A training config.", lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 20, "Train steps per timed window.", lower_bound=1)
_WINDOWS = flags.DEFINE_integer("windows", 5, "Timed windows (median reported).",
                                lower_bound=1)
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after compiling.",
                               lower_bound=0)
_SAMPLE_SHAPE = flags.DEFINE_list(
    "sample_shape", [], "Shape of one sample, e.g. 32,32,3. Default: 2 for the toy "
    "mixtures, image_size x image_size x --channels for image configs.")
_CHANNELS = flags.DEFINE_integer("channels", 3, "Image channels when --sample_shape "
                                 "is not given.")
_XLA_DEFAULTS = flags.DEFINE_bool(
    "xla_defaults", False, "Compile without gan_jax.run.compile_options (XLA's own "
    "choice of CPU library fusions), to measure what the options buy.")


def sample_shape(spec) -> tuple[int, ...]:
    if _SAMPLE_SHAPE.value:
        return tuple(int(d) for d in _SAMPLE_SHAPE.value)
    if spec.data.source == "toy":
        return (2,)
    if spec.data.image_size is None:
        raise app.UsageError(
            "This config keeps the dataset's stored image size; pass "
            "--sample_shape=H,W,C (e.g. 32,32,3 for CIFAR-10).")
    return (spec.data.image_size, spec.data.image_size, _CHANNELS.value)


def _compiler_options():
    return None if _XLA_DEFAULTS.value else compile_options.for_training()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    spec = gan_spec.build(_CONFIG.value)
    shape = sample_shape(spec)
    batch_size, n_critic = spec.data.batch_size, spec.optim.n_critic
    program = step_program.build(spec, shape, _compiler_options())
    compiled, batch, train_key = program.compiled, program.batch, program.key
    rates, _ = timing.window_rates(
        lambda carry: compiled(carry[0], batch, train_key), (program.state, None),
        steps=_STEPS.value, windows=_WINDOWS.value, warmup=_WARMUP.value)
    median = statistics.median(rates)
    print(f"config: {spec.model.name}, batch {batch_size}, sample {shape}, "
          f"n_critic {n_critic}, {jax.device_count()} {jax.default_backend()} "
          f"device(s), compiler options "
          f"{_compiler_options()}")
    print(f"compile: {program.compile_seconds:.1f} s")
    print(f"iterations/s: {median:.3f} (median of {_WINDOWS.value} x {_STEPS.value} "
          f"steps; min {min(rates):.3f}, max {max(rates):.3f})")
    print(f"images/s: {median * batch_size:.1f}")


if __name__ == "__main__":
    app.run(main)
