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
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
                         "--xla_force_host_platform_device_count=8")
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "sharded_step_check.py"),
         "batchnorm", "gradient_penalty"],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["batchnorm", "gradient_penalty"])
def test_sharded_step_gives_the_unsharded_parameters(differences, name):
    got = differences[name]
    assert got["devices"] == 8 and got["batch_shards"] == 8
    # The step moved the parameters far more than the tolerance (Adam's first
    # step moves each by about the learning rate, 2e-4).
    assert got["update_size"] > 1e-4
    for field in ("d_params", "g_params"):
        assert got[field] < 1e-5, (name, field, got)
    if name == "batchnorm":
        # The running statistics are those of the global batch, not of a shard.
        assert got["d_batch_stats"] < 1e-5, got


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
