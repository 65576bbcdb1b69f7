"""Variants of one config's train step, timed side by side in one process.

    PYTHONPATH=. python benchmarks/step_variants.py --rounds=8

Compiles the step once per variant (as `benchmarks/train_step.py` does,
`step_program.py`), then runs `--rounds` rounds; each round times a
window of `--steps` steps of every variant in turn, so the machine's drift
hits them alike. Prints each variant's median iterations/s and the median of
its per-round ratios to the first variant. Variants (`--variants`):

  auto             what the training programs compile
  adjoint_blocks   every strided conv's input gradient by the blocks form
  adjoint_phases   every strided conv's input gradient by output phases
  eltwise_library  the CPU options plus XLA:CPU's elementwise library fusions
  xla_defaults     no compiler options
"""

import statistics

from absl import app
from absl import flags
import jax
from ml_collections import config_flags

from gan_jax.models import strided_conv
from gan_jax.run import compile_options
from gan_jax.run import gan_spec
import step_program
import timing

_VARIANTS = ("auto", "adjoint_blocks", "adjoint_phases", "eltwise_library",
             "xla_defaults")
_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/dcgan64_reference.py", "An image training config.",
    lock_config=True)
_NAMES = flags.DEFINE_list("variants", list(_VARIANTS[:4]),
                           f"Variants to compare, the first is the baseline: "
                           f"{', '.join(_VARIANTS)}.")
_ROUNDS = flags.DEFINE_integer("rounds", 8, "Timed rounds.", lower_bound=1)
_STEPS = flags.DEFINE_integer("steps", 4, "Steps per variant per round.", lower_bound=1)


def _compiler_options(variant: str):
    if variant == "xla_defaults":
        return None
    options = compile_options.for_training()
    if variant == "eltwise_library" and options:
        options = {compile_options.LIBRARY_FUSIONS_OPTION:
                   options[compile_options.LIBRARY_FUSIONS_OPTION]
                   + ",LIBRARY_FUSION_TYPE_ELTWISE"}
    return options


def _largest_cotangent_by_phases(variant: str) -> int:
    # The switch is read when the step is traced, so setting it before
    # `lower` picks the form for that variant only.
    return {"adjoint_blocks": 0, "adjoint_phases": 1 << 30}.get(
        variant, strided_conv.LARGEST_COTANGENT_BY_PHASES)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    unknown = sorted(set(_NAMES.value) - set(_VARIANTS))
    if unknown:
        raise app.UsageError(f"Unknown variants {unknown}. Valid: {', '.join(_VARIANTS)}.")
    spec = gan_spec.build(_CONFIG.value)
    if spec.data.image_size is None:
        raise app.UsageError("This script needs a config with data.image_size set.")
    shape = (spec.data.image_size, spec.data.image_size, 3)
    default_switch = strided_conv.LARGEST_COTANGENT_BY_PHASES
    programs, states = {}, {}
    for variant in _NAMES.value:
        strided_conv.LARGEST_COTANGENT_BY_PHASES = _largest_cotangent_by_phases(variant)
        try:
            program = step_program.build(spec, shape, _compiler_options(variant))
        finally:
            strided_conv.LARGEST_COTANGENT_BY_PHASES = default_switch
        batch, key = program.batch, program.key  # the same for every variant
        programs[variant] = program.compiled
        states[variant], _ = program.compiled(program.state, batch, key)  # warm-up
    jax.block_until_ready(states)

    rates = {variant: [] for variant in programs}
    for _ in range(_ROUNDS.value):
        for variant, program in programs.items():
            rate, (states[variant], _) = timing.window(
                lambda carry, program=program: program(carry[0], batch, key),
                (states[variant], None), _STEPS.value)
            rates[variant].append(rate)
    print(f"config: {spec.model.name}, batch {spec.data.batch_size}, "
          f"{jax.device_count()} {jax.default_backend()} device(s), "
          f"{_ROUNDS.value} rounds x {_STEPS.value} steps")
    baseline = rates[_NAMES.value[0]]
    for variant, variant_rates in rates.items():
        ratios = [rate / base for rate, base in zip(variant_rates, baseline)]
        print(f"{variant:16s} {statistics.median(variant_rates):.3f} iterations/s "
              f"(min {min(variant_rates):.3f}, max {max(variant_rates):.3f}), "
              f"ratio to {_NAMES.value[0]} {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    app.run(main)
