"""Mixed precision: bfloat16 compute, float32 parameters, optimizer state and losses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax import models
from gan_jax.run import experiment
from gan_jax.run import gan_spec

SHAPES = {"mlp": (2,), "dcgan": (28, 28, 1), "sngan": (32, 32, 3)}


def _spec(name, dtype):
    config = defaults.base_config() if name == "mlp" else defaults.image_config()
    defaults.make_tiny(config)
    config.model.name = name
    config.model.dtype = dtype
    config.optim.n_critic = 1
    return gan_spec.build(config)


def _float_dtypes(tree):
    return {leaf.dtype for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(leaf.dtype, jnp.floating)}


def _batch(name, spec):
    shape = (1, spec.data.batch_size, *SHAPES[name])
    return {"x": jax.random.uniform(jax.random.key(1), shape, minval=-1.0, maxval=1.0)}


@pytest.mark.parametrize("name", ["dcgan", "mlp"])
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_state(name):
    spec = _spec(name, "bfloat16")
    state = experiment.create_state(spec, SHAPES[name], jax.random.key(0))
    step = experiment.make_train_step(spec)
    batch, key = _batch(name, spec), jax.random.key(2)

    jaxpr = str(jax.make_jaxpr(step)(state, batch, key))
    # The MLPs' matmuls, the image models' convolutions (SNGAN's spectral
    # normalisation keeps its matrix products in float32 by design).
    op = "dot_general" if name == "mlp" else "conv_general_dilated"
    matmul_lines = [line for line in jaxpr.splitlines() if op in line]
    assert matmul_lines and all("bf16" in line for line in matmul_lines)

    new_state, metrics = jax.jit(step)(state, batch, key)
    for tree in (new_state.generator.params, new_state.discriminator.params,
                 new_state.generator.opt_state, new_state.discriminator.opt_state,
                 new_state.ema_params):
        assert _float_dtypes(tree) == {jnp.dtype(jnp.float32)}
    assert all(v.dtype == jnp.float32 and np.isfinite(v) for v in metrics.values())


def _variables(network):
    variables = {"params": network.params}
    if network.batch_stats:
        variables["batch_stats"] = network.batch_stats
    return variables


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_bfloat16_networks_match_float32_to_bfloat16_precision(name):
    """Same parameters, both dtypes: outputs are float32 and agree to about
    bfloat16's 8 bits of mantissa."""
    outputs = {}
    for dtype in ("float32", "bfloat16"):
        spec = _spec(name, dtype)
        state = experiment.create_state(spec, SHAPES[name], jax.random.key(0))
        generator, discriminator = models.create(spec.model, SHAPES[name])
        latents = jax.random.normal(jax.random.key(3), (8, spec.model.latent_dim))
        samples = generator.apply(_variables(state.generator), latents)
        logits = discriminator.apply(_variables(state.discriminator), samples)
        assert samples.dtype == logits.dtype == jnp.float32
        outputs[dtype] = (np.asarray(samples), np.asarray(logits))
    for full, half in zip(outputs["float32"], outputs["bfloat16"]):
        scale = np.max(np.abs(full)) + 1e-6
        error = np.abs(full - half) / scale
        # bfloat16 rounds each op by up to 2^-9; deep networks add these up.
        assert np.mean(error) < 0.01 and np.max(error) < 0.15
        assert not np.array_equal(full, half)  # bfloat16 did run.


def test_unknown_compute_dtype_lists_the_valid_ones():
    with pytest.raises(ValueError, match="float32, bfloat16.*model.dtype"):
        _spec("mlp", "float16")
