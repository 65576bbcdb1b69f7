"""Run by tests/test_sharding.py in a process with 8 simulated CPU devices.

For each named config, one train step on a global batch sharded over the
8-device `data` mesh (exactly as `gan_jax.train` compiles it) and the same
step on one device. Prints, as JSON, the norm-wise relative differences of
what sharding can get wrong: the global batch's gradients of both networks,
the losses and BatchNorm's running statistics.

Why not the parameters after the step: Adam's first update moves a parameter
by about lr * sign(gradient) whatever the gradient's size, so a gradient that
is float noise around zero moves by +lr on one reduction order and -lr on
another (this compared parameters before and failed on an Intel CPU). The
gradients are read from Adam's first moment instead, which after one update
is exactly (1 - b1) * gradient on both sides.
"""

import json
import sys

import jax

from gan_jax import defaults
from gan_jax import parallel
from gan_jax.run import experiment
from gan_jax.run import gan_spec
import gradient_checks  # tests/gradient_checks.py, beside this script.

GLOBAL_BATCH = 16  # Two samples per device.
SAMPLE_SHAPE = (28, 28, 1)


def _config(name: str):
    config = defaults.image_config()
    defaults.make_tiny(config)
    config.data.batch_size = GLOBAL_BATCH
    config.optim.n_critic = 1
    # The generator's gradient is taken at the same discriminator on both
    # sides; after the critic's update the two discriminators would already
    # differ by Adam's sign flips (see above).
    config.optim.simultaneous = True
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


def _relative_difference(a, b) -> float:
    """The largest leaf's norm-wise relative difference: the float error of a
    reduction is relative to the size of what it sums."""
    return max(gradient_checks.relative_differences(a, b).values(), default=0.0)


def _gradients(state):
    """The step's gradients of both networks, as Adam's first moments."""
    return {"generator": gradient_checks.first_moments(state.generator),
            "discriminator": gradient_checks.first_moments(state.discriminator)}


def compare(name: str) -> dict:
    spec = gan_spec.build(_config(name))
    init_key, train_key, _ = experiment.run_keys(0)
    batch = {"x": jax.random.uniform(jax.random.key(1), (1, GLOBAL_BATCH, *SAMPLE_SHAPE),
                                     minval=-1.0, maxval=1.0)}
    step = experiment.make_train_step(spec)

    one_device = jax.devices()[0]
    state = jax.device_put(experiment.create_state(spec, SAMPLE_SHAPE, init_key),
                           one_device)
    single, single_metrics = jax.jit(step)(state, jax.device_put(batch, one_device),
                                           train_key)
    # What a bug that reduced over one shard only would give.
    one_shard, _ = jax.jit(step)(state, jax.device_put(
        {"x": batch["x"][:, :GLOBAL_BATCH // 8]}, one_device), train_key)

    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=1)
    sharded_step = jax.jit(step, in_shardings=(replicated, batch_sharding, replicated),
                           out_shardings=(replicated, replicated))
    state = jax.device_put(experiment.create_state(spec, SAMPLE_SHAPE, init_key),
                           replicated)
    sharded_batch = jax.device_put(batch, batch_sharding)
    sharded, sharded_metrics = sharded_step(state, sharded_batch, train_key)

    losses = ("d_loss", "g_loss")
    return {
        "devices": jax.device_count(),
        "batch_shards": len(sharded_batch["x"].addressable_shards),
        # The largest reduction of the step: a kernel gradient of the first
        # layer sums over every pixel of every sample.
        "reduced_terms": GLOBAL_BATCH * SAMPLE_SHAPE[0] * SAMPLE_SHAPE[1],
        "gradients": _relative_difference(_gradients(sharded), _gradients(single)),
        "losses": _relative_difference({k: sharded_metrics[k] for k in losses},
                                       {k: single_metrics[k] for k in losses}),
        "d_batch_stats": _relative_difference(sharded.discriminator.batch_stats,
                                              single.discriminator.batch_stats),
        "g_batch_stats": _relative_difference(sharded.generator.batch_stats,
                                              single.generator.batch_stats),
        "one_shard_gradients": _relative_difference(_gradients(one_shard),
                                                    _gradients(single)),
    }


if __name__ == "__main__":
    print(json.dumps({name: compare(name) for name in sys.argv[1:]}))
