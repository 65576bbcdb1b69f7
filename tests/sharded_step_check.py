"""Run by tests/test_sharding.py in a process with 8 simulated CPU devices.

For each named config, one train step on a global batch sharded over the
8-device `data` mesh (exactly as `gan_jax.train` compiles it) and the same
step on one device; prints the largest parameter difference as JSON.
"""

import json
import sys

import jax
import numpy as np

from gan_jax import defaults
from gan_jax import experiment
from gan_jax import parallel

GLOBAL_BATCH = 16  # Two samples per device.


def _config(name: str):
    config = defaults.image_config()
    defaults.make_tiny(config)
    config.data.batch_size = GLOBAL_BATCH
    config.optim.n_critic = 1
    if name == "batchnorm":  # BatchNorm in both networks: global batch statistics.
        config.model.d_norm = "batch"
    elif name == "gradient_penalty":  # WGAN-GP on a critic without BatchNorm.
        config.model.d_norm = "layer"
        config.loss.name = "wasserstein"
        config.penalty.name = "gp"
        config.penalty.weight = 10.0
    else:
        raise ValueError(name)
    return config


def _max_difference(a, b) -> float:
    return max((float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))), default=0.0)


def compare(name: str) -> dict:
    config = _config(name)
    shape = (28, 28, 1)
    init_key, train_key, _ = experiment.run_keys(0)
    batch = {"x": jax.random.uniform(jax.random.key(1), (1, GLOBAL_BATCH, *shape),
                                     minval=-1.0, maxval=1.0)}
    step = experiment.make_train_step(config)

    one_device = jax.devices()[0]
    state = jax.device_put(experiment.create_state(config, shape, init_key), one_device)
    single, _ = jax.jit(step)(state, jax.device_put(batch, one_device), train_key)

    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
    sharded_step = jax.jit(step, in_shardings=(replicated, batch_sharding, replicated),
                           out_shardings=(replicated, replicated))
    state = jax.device_put(experiment.create_state(config, shape, init_key), replicated)
    sharded_batch = jax.device_put(batch, batch_sharding)
    sharded, _ = sharded_step(state, sharded_batch, train_key)

    changed = _max_difference(single.discriminator.params, state.discriminator.params)
    return {
        "devices": jax.device_count(),
        "batch_shards": len(sharded_batch["x"].addressable_shards),
        "d_params": _max_difference(single.discriminator.params,
                                    sharded.discriminator.params),
        "g_params": _max_difference(single.generator.params, sharded.generator.params),
        "d_batch_stats": _max_difference(single.discriminator.batch_stats,
                                         sharded.discriminator.batch_stats),
        "update_size": changed,
    }


if __name__ == "__main__":
    print(json.dumps({name: compare(name) for name in sys.argv[1:]}))
