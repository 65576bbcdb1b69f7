"""How every step benchmark times a compiled program: compile once (timed on
its own), then windows of calls that block only at the window's end, and the
median over windows (or repeats), so that one slow window on a shared
machine moves nothing."""

import statistics
import time
from typing import Any, Callable, NamedTuple

import jax


class Compiled(NamedTuple):
    lowered: Any  # jax.stages.Lowered
    program: Any  # jax.stages.Compiled
    seconds: float  # lowering and compiling


def compile_timed(jitted, *args) -> Compiled:
    """`jitted` lowered for `args` and compiled, and the seconds it took."""
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    program = lowered.compile()
    return Compiled(lowered, program, time.perf_counter() - start)


def window(run: Callable[[Any], Any], carry, steps: int) -> tuple[float, Any]:
    """Calls per second of `carry = run(carry)`, `steps` times, timed until
    the last result is ready; and the last carry."""
    start = time.perf_counter()
    for _ in range(steps):
        carry = run(carry)
    jax.block_until_ready(carry)
    return steps / (time.perf_counter() - start), carry


def window_rates(run: Callable[[Any], Any], carry, *, steps: int, windows: int,
                 warmup: int = 0) -> tuple[list[float], Any]:
    """The rates of `windows` windows of `steps` calls (`window`), after
    `warmup` untimed calls; and the last carry."""
    for _ in range(warmup):
        carry = run(carry)
    jax.block_until_ready(carry)
    rates = []
    for _ in range(windows):
        rate, carry = window(run, carry, steps)
        rates.append(rate)
    return rates, carry


def median_seconds(make_inputs: Callable[[], Any], run: Callable[[Any], Any],
                   repeats: int) -> float:
    """Median seconds of `run(inputs)` over `repeats`, after a warm-up;
    `make_inputs` (e.g. fresh states, when the programs donate them) is not
    timed."""
    jax.block_until_ready(run(make_inputs()))
    times = []
    for _ in range(repeats):
        inputs = jax.block_until_ready(make_inputs())
        start = time.perf_counter()
        jax.block_until_ready(run(inputs))
        times.append(time.perf_counter() - start)
    return statistics.median(times)
