"""One sharded train step equals the unsharded step on the same global batch."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def differences():
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=8")
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
