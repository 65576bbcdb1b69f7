"""The compiled programs the step benchmarks time, built as `gan_jax.train`
builds them (same mesh, shardings and donation) on a device-resident batch
of random images, so no input pipeline is timed.

`build`: the train step alone (`train_step.py`, `step_variants.py`).
`build_phases`: every phase of the run (`gan_jax.run.gan_phases`: the train
step and the lazy regulariser), optionally for K members stacked and vmapped
as `gan_jax.sweep` trains them, with XLA's cost analysis of each program
(`accelerator.py`). Neither imports TensorFlow.
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gan_jax import parallel
from gan_jax.run import experiment
from gan_jax.run import gan_phases
from gan_jax.run import gan_spec
from gan_jax.sweep import grid
from gan_jax.sweep import members as members_lib
import timing


class StepProgram(NamedTuple):
    compiled: Any  # (state, batch, key) -> (state, metrics); donates the state
    state: Any
    batch: dict
    key: jax.Array
    compile_seconds: float


def _random_batch(spec: gan_spec.GanSpec, sample_shape, leading=()) -> dict:
    """`(*leading, n_critic, batch, *sample_shape)` images in [-1, 1], and
    labels for a conditional model."""
    shape = (*leading, spec.optim.n_critic, spec.data.batch_size)
    batch = {"x": jax.random.uniform(jax.random.key(1), (*shape, *sample_shape),
                                     jnp.float32, -1.0, 1.0)}
    if spec.model.num_classes:
        batch["label"] = jax.random.randint(jax.random.key(2), shape, 0,
                                            spec.model.num_classes)
    return batch


def build(spec: gan_spec.GanSpec, sample_shape: tuple[int, ...],
          compiler_options) -> StepProgram:
    """A fresh state and the step compiled with `compiler_options`."""
    parallel.check_batch_size(spec.data.batch_size)
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
    init_key, train_key, _ = experiment.run_keys(spec.seed)
    state = jax.device_put(experiment.create_state(spec, sample_shape, init_key),
                           replicated)
    batch = jax.device_put(_random_batch(spec, sample_shape), batch_sharding)
    jitted = jax.jit(experiment.make_train_step(spec),
                     in_shardings=(replicated, batch_sharding, replicated),
                     out_shardings=(replicated, replicated), donate_argnums=(0,),
                     compiler_options=compiler_options)
    compiled = timing.compile_timed(jitted, state, batch, train_key)
    return StepProgram(compiled.program, state, batch, train_key, compiled.seconds)


class PhaseProgram(NamedTuple):
    name: str
    every: int  # runs after every `every`-th train step
    compiled: Any  # (state, batch, key, numeric) -> (state, metrics); donates the state
    compile_seconds: float
    flops: float | None  # XLA's cost analysis of the compiled program
    lowered_flops: float | None  # the same of the program before optimisation


class PhasesProgram(NamedTuple):
    phases: tuple[PhaseProgram, ...]
    state: Any
    batch: dict
    key: jax.Array
    numeric: dict
    members: int | None

    def iteration(self, state, step: int):
        """The state after train step `step` (counted from 1) and the phases
        that run after it, as the loop schedules them."""
        for phase in self.phases:
            if step % phase.every == 0:
                state, _ = phase.compiled(state, self.batch, self.key, self.numeric)
        return state

    @property
    def period(self) -> int:
        """Train steps after which every phase has run a whole number of times."""
        return math.lcm(*(phase.every for phase in self.phases))

    def flops_per_iteration(self, lowered: bool = False) -> float | None:
        """Each program's flops over its `every`, summed; None when XLA's
        cost analysis gave none for some program."""
        flops = [p.lowered_flops if lowered else p.flops for p in self.phases]
        if any(f is None for f in flops):
            return None
        return sum(f / p.every for f, p in zip(flops, self.phases))


def _flops(analysis) -> float | None:
    """The "flops" of a cost analysis (a dict, or a list of one per program in
    some JAX versions); None where the backend gives none."""
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    flops = (analysis or {}).get("flops")
    return float(flops) if flops is not None and flops >= 0 else None


def _cost_flops(stage) -> float | None:
    try:
        return _flops(stage.cost_analysis())
    except Exception:  # pylint: disable=broad-except
        return None  # Not every backend implements cost analysis.


def _numeric_fields(spec: gan_spec.GanSpec) -> dict[str, float]:
    """The spec's values of the fields a sweep's members differ in."""
    return grid.Setting(levels=(), config=None, spec=spec).numeric()


def build_phases(spec: gan_spec.GanSpec, sample_shape: tuple[int, ...],
                 compiler_options, *, members: int | None = None) -> PhasesProgram:
    """A fresh state and every phase of `spec` compiled with
    `compiler_options`; `members`: K members (seeds 0 .. K-1 of the same
    setting) stacked on a leading axis and vmapped, as `gan_jax.sweep` runs
    them."""
    parallel.check_batch_size(spec.data.batch_size)
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    if members is None:
        init_key, key, _ = experiment.run_keys(spec.seed)
        state = experiment.create_state(spec, sample_shape, init_key)
        numeric = experiment.numeric_hyperparameters(spec)
        batch = _random_batch(spec, sample_shape)
        batch_axis = 1
    else:
        stacked = members_lib.create(range(members),
                                     [_numeric_fields(spec)] * members)
        state = members_lib.create_states(spec, sample_shape, stacked)
        key = members_lib.train_keys(stacked)
        numeric = {f: jnp.asarray(v) for f, v in stacked.numeric.items()}
        batch = _random_batch(spec, sample_shape, leading=(members,))
        batch_axis = 2
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=batch_axis)
    state, key, numeric = jax.device_put((state, key, numeric), replicated)
    batch = jax.device_put(batch, batch_sharding)
    programs = []
    for phase in gan_phases.phases(spec, vmapped=members is not None):
        jitted = jax.jit(phase.step_fn,
                         in_shardings=(replicated, batch_sharding, replicated,
                                       replicated),
                         out_shardings=(replicated, replicated), donate_argnums=(0,),
                         compiler_options=compiler_options)
        compiled = timing.compile_timed(jitted, state, batch, key, numeric)
        programs.append(PhaseProgram(
            phase.name, phase.every, compiled.program, compiled.seconds,
            _cost_flops(compiled.program), _cost_flops(compiled.lowered)))
    return PhasesProgram(tuple(programs), state, batch, key, numeric, members)
