"""The compiled train step the step benchmarks time, built as `gan_jax.train`
builds it (same mesh, shardings and donation) on a device-resident batch of
random images, so no input pipeline is timed."""

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gan_jax import parallel
from gan_jax.run import experiment
from gan_jax.run import gan_spec


class StepProgram(NamedTuple):
    compiled: Any  # (state, batch, key) -> (state, metrics); donates the state
    state: Any
    batch: dict
    key: jax.Array
    compile_seconds: float


def build(spec: gan_spec.GanSpec, sample_shape: tuple[int, ...],
          compiler_options) -> StepProgram:
    """A fresh state and the step compiled with `compiler_options`."""
    batch_size, n_critic = spec.data.batch_size, spec.optim.n_critic
    parallel.check_batch_size(batch_size)
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
    init_key, train_key, _ = experiment.run_keys(spec.seed)
    state = jax.device_put(experiment.create_state(spec, sample_shape, init_key),
                           replicated)
    batch = {"x": jax.device_put(
        jax.random.uniform(jax.random.key(1), (n_critic, batch_size, *sample_shape),
                           jnp.float32, -1.0, 1.0), batch_sharding)}
    if spec.model.num_classes:
        batch["label"] = jax.device_put(
            jax.random.randint(jax.random.key(2), (n_critic, batch_size), 0,
                               spec.model.num_classes), batch_sharding)
    jitted = jax.jit(experiment.make_train_step(spec),
                     in_shardings=(replicated, batch_sharding, replicated),
                     out_shardings=(replicated, replicated), donate_argnums=(0,),
                     compiler_options=compiler_options)
    start = time.perf_counter()
    compiled = jitted.lower(state, batch, train_key).compile()
    return StepProgram(compiled, state, batch, train_key, time.perf_counter() - start)
