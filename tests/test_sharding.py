"""One sharded train step equals the unsharded step on the same global batch."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from gan_jax import parallel

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def differences():
    # The script is run by path: the checkout's package must be importable
    # whether or not it is installed.
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=pythonpath,
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
                         "--xla_force_host_platform_device_count=8")
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "sharded_step_check.py"),
         "batchnorm", "gradient_penalty"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["batchnorm", "gradient_penalty"])
def test_sharded_step_gives_the_global_batch_gradients_losses_and_statistics(
        differences, name):
    got = differences[name]
    assert got["devices"] == 8 and got["batch_shards"] == 8
    # Sharding reorders the float32 sums of the step (per-device partial sums,
    # then an all-reduce). Recursive summation of n terms is exact to within
    # (n - 1) * 2^-24 times the sum of their magnitudes, whatever the order,
    # so two orders differ by at most about n * 2^-24 of that: the tolerance,
    # relative to each quantity's norm (which stands in for the sum of
    # magnitudes: a gradient leaf's norm is of its terms' size, not a small
    # difference of large ones), n being the largest reduction of the step.
    # A bug that reduced over one shard instead of the global batch is off by
    # order 1 ("one_shard_gradients").
    tolerance = got["reduced_terms"] * 2.0**-24
    for quantity in ("gradients", "losses", "d_batch_stats", "g_batch_stats"):
        assert got[quantity] <= tolerance, (name, quantity, got)
    assert got["one_shard_gradients"] > 100 * tolerance, got


@pytest.mark.parametrize("environ, expected", [
    ({}, False),
    ({"SLURM_NTASKS": "1"}, False),
    ({"SLURM_NTASKS": "4"}, True),
    ({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}, True),
    ({"TPU_WORKER_HOSTNAMES": "localhost"}, False),
    ({"TPU_WORKER_HOSTNAMES": "w0,w1,w2,w3"}, True),
    ({"OMPI_COMM_WORLD_SIZE": "2"}, True),
])
def test_auto_joins_the_distributed_runtime_only_on_a_cluster(environ, expected):
    assert parallel.wants_distributed("auto", environ) is expected
    assert parallel.wants_distributed("on", environ) is True
    assert parallel.wants_distributed("off", environ) is False


def test_unknown_distributed_mode_lists_the_valid_ones():
    with pytest.raises(ValueError, match="auto, on, off"):
        parallel.wants_distributed("yes")
