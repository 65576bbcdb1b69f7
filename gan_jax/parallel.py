"""Data parallelism over a device mesh: one code path from one CPU to a pod.

The mesh has a single `data` axis spanning every device of every process. The
batch is split along it; parameters and optimizer state are replicated, and
`jax.jit` inserts the gradient all-reduce itself, so a sharded step computes
exactly what the unsharded step computes on the global batch.
"""

import os

from absl import logging
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np

DATA_AXIS = "data"
DISTRIBUTED_MODES = ("auto", "on", "off")
# Environment variables that mean "this process is one of several": JAX's own
# coordinator address, a multi-task Slurm job, a multi-host TPU slice, and
# Open MPI. jax.distributed.initialize() reads the details from each.
_CLUSTER_SIGNS = {
    "JAX_COORDINATOR_ADDRESS": lambda v: bool(v),
    "SLURM_NTASKS": lambda v: v.isdigit() and int(v) > 1,
    "TPU_WORKER_HOSTNAMES": lambda v: "," in v,
    "OMPI_COMM_WORLD_SIZE": lambda v: v.isdigit() and int(v) > 1,
}


def wants_distributed(mode: str, environ=os.environ) -> bool:
    """Whether this process should join a multi-process JAX runtime.

    `mode` is `config.distributed`: on, off, or auto (on when the environment
    shows a cluster, see `_CLUSTER_SIGNS`).
    """
    if mode not in DISTRIBUTED_MODES:
        raise ValueError(f"Unknown config.distributed={mode!r}. Valid: "
                         f"{', '.join(DISTRIBUTED_MODES)}.")
    if mode != "auto":
        return mode == "on"
    return any(sign(environ.get(name, "")) for name, sign in _CLUSTER_SIGNS.items())


def initialize(mode: str) -> None:
    """Joins the multi-host runtime when `wants_distributed(mode)`; must run
    before any other JAX call. Afterwards `jax.devices()` lists every host's
    devices and the mesh spans them all."""
    if wants_distributed(mode):
        jax.distributed.initialize()
        logging.info("Joined the distributed runtime as process %d of %d.",
                     jax.process_index(), jax.process_count())


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
