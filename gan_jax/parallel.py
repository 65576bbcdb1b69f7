"""Data parallelism over a device mesh: one code path from one CPU to a pod.

The mesh has a single `data` axis spanning every device of every process. The
batch is split along it; parameters and optimizer state are replicated, and
`jax.jit` inserts the gradient all-reduce itself, so a sharded step computes
exactly what the unsharded step computes on the global batch.
"""

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np

DATA_AXIS = "data"


def create_mesh() -> Mesh:
    """A 1-D mesh over all devices (all hosts) named `data`.

    The axis is `Auto`: the compiler propagates shardings from the inputs, so
    model code never names mesh axes.
    """
    return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                         axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Shards axis `batch_axis` of an array over the `data` axis."""
    return NamedSharding(mesh, PartitionSpec(*([None] * batch_axis), DATA_AXIS))


def check_batch_size(global_batch_size: int) -> None:
    """Fails early, with the fix, when the batch cannot be split evenly."""
    devices, processes = jax.device_count(), jax.process_count()
    if global_batch_size % devices or global_batch_size % processes:
        raise ValueError(
            f"config.data.batch_size={global_batch_size} must be divisible by the "
            f"number of devices ({devices}) and processes ({processes}). Choose a "
            f"multiple of {np.lcm(devices, processes)}.")


def host_to_global(local_batch, sharding: NamedSharding):
    """Assembles each process's slice of the batch into one global `jax.Array`."""
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)
