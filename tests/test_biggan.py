"""BigGAN's pieces against independent references: parameter counts against
PyTorch-StudioGAN's networks, self-attention and conditional BatchNorm
against NumPy, the orthogonal regulariser against BigGAN-PyTorch's
closed-form gradient, the EMA start, and the checks of its options."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax import models
from gan_jax.game import objectives
from gan_jax.models import biggan
from gan_jax.run import gan_spec
from gan_jax.tricks import options as tricks_options
from gan_jax.tricks import orthogonal
import config_files  # tests/config_files.py


def _biggan_config(**overrides):
    """configs/biggan_cifar10.py at 32x32 without metrics, with `overrides`."""
    config = config_files.load("biggan_cifar10")
    config.data.image_size = 32
    config.eval.features = "none"
    for name, value in overrides.items():
        section, field = name.split(".")
        config[section][field] = value
    return config


# Measured from PyTorch-StudioGAN at commit 947b35e9835b67860fdce44d337f6d7fee7c8db3
# (`src/models/big_resnet.py`, built as `src/models/model.py` builds it, with
# `sum(p.numel() for p in module.parameters())`): an independent
# implementation, so these constants are a reference, not our own output.
# 32 px: src/configs/CIFAR10/BigGAN.yaml (z 80, shared 128, widths 96,
# attention at G block 2 / D block 1, 10 classes); 128 px:
# src/configs/ImageNet/BigGAN-256.yaml (z 120, attention at G block 4 / D
# block 1, 1,000 classes). The 128 px counts are also the paper's 70.4M / 88.0M.
STUDIOGAN_COUNTS = {
    "biggan_cifar10": (32, 9_416_196, 2_415_170),
    "biggan128_imagenet": (128, 70_433_988, 87_982_370),
}


@pytest.mark.parametrize("name", sorted(STUDIOGAN_COUNTS))
def test_configs_parameter_counts_equal_studiogans(name):
    size, g_count, d_count = STUDIOGAN_COUNTS[name]
    spec = gan_spec.build(config_files.load(name))
    assert config_files.parameter_counts(spec, size) == (g_count, d_count)


def _normalised_kernels(params, batch_stats) -> dict:
    """Each spectrally normalised kernel divided by the sigma its training
    call used (Flax stores that sigma beside its power-iteration vector)."""
    kernels = {}
    for wrapper in batch_stats.values():
        for name, value in wrapper.items():
            if name.endswith("/sigma"):
                layer = name.split("/")[0]
                kernels[layer] = np.asarray(params[layer]["kernel"]) / float(value)
    return kernels


def _numpy_self_attention(x, kernels, sigma):
    b, h, w, c = x.shape

    def conv1x1(a, kernel):
        return a @ kernel[0, 0]

    def maxpool(a):
        return a.reshape(b, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))

    theta = conv1x1(x, kernels["theta"]).reshape(b, h * w, -1)
    phi = maxpool(conv1x1(x, kernels["phi"])).reshape(b, h * w // 4, -1)
    g = maxpool(conv1x1(x, kernels["g"])).reshape(b, h * w // 4, -1)
    scores = np.einsum("bqc,bkc->bqk", theta, phi)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    attention = scores / scores.sum(-1, keepdims=True)
    attended = np.einsum("bqk,bkc->bqc", attention, g).reshape(b, h, w, c // 2)
    return x + sigma * conv1x1(attended, kernels["o"]), attention


def test_self_attention_against_numpy_and_starts_as_the_identity():
    x = jax.random.normal(jax.random.key(1), (2, 6, 4, 16))
    module = biggan.SelfAttention()
    variables = module.init(jax.random.key(2), x, False)
    # sigma starts at 0: the block is the identity, exactly.
    np.testing.assert_array_equal(module.apply(variables, x, False), x)

    params = dict(variables["params"], sigma=jnp.float32(0.7))
    out, updates = jax.jit(lambda p: module.apply(
        {"params": p, "batch_stats": variables["batch_stats"]}, x, True,
        mutable=["batch_stats", "intermediates"]))(params)
    kernels = _normalised_kernels(params, updates["batch_stats"])
    expected, attention = _numpy_self_attention(np.asarray(x, np.float64),
                                                kernels, 0.7)
    [sown] = updates["intermediates"]["attention"]
    # Queries attend over the 2x2-pooled keys: (B, H*W, H*W/4), rows summing to 1.
    assert sown.shape == (2, 24, 6)
    np.testing.assert_allclose(np.sum(sown, axis=-1), 1.0, rtol=1e-6)
    eps = np.finfo(np.float32).eps
    np.testing.assert_allclose(sown, attention, atol=100 * eps)
    np.testing.assert_allclose(out, expected,
                               atol=100 * eps * np.max(np.abs(expected)))


def test_conditional_batch_norm_against_its_formula():
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(3), (8, 3, 3, 5))
    condition = jax.random.normal(jax.random.key(4), (8, 7))
    module = biggan.ConditionalBatchNorm()
    variables = module.init(jax.random.key(5), x, condition, False)
    out, updates = module.apply(variables, x, condition, True,
                                mutable=["batch_stats"])
    kernels = _normalised_kernels(variables["params"], updates["batch_stats"])
    x64 = np.asarray(x, np.float64)
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
    normalised = (x64 - mean) / np.sqrt(var + 1e-4)  # BigGAN's eps.
    c = np.asarray(condition, np.float64)
    gain, bias = 1.0 + c @ kernels["gain"], c @ kernels["bias"]
    expected = normalised * gain[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(out, expected, atol=1e-5 * np.max(np.abs(expected)))
    # No affine parameters of its own: only the two linear maps.
    assert set(variables["params"]) == {"gain", "bias"}


def test_every_latent_chunk_and_the_label_condition_the_generator():
    generator = biggan.BigGANGenerator((32, 32, 3), channels=4, num_classes=3,
                                       shared_dim=8, attention_resolution=16)
    z = jax.random.normal(jax.random.key(6), (2, 8))
    labels = jnp.array([0, 1])
    variables = generator.init(jax.random.key(7), z, labels)
    base = generator.apply(variables, z, labels)
    for chunk in range(4):
        moved = z.at[:, 2 * chunk:2 * chunk + 2].add(1.0)
        assert not np.allclose(generator.apply(variables, moved, labels), base)
    assert not np.allclose(generator.apply(variables, z, labels + 1), base)
    assert np.all(np.abs(base) <= 1.0)


@pytest.mark.parametrize("overrides, message", [
    ({"model.latent_dim": 81}, r"--config\.model\.latent_dim=81 is not divisible "
     r"by 4\. Set --config\.model\.latent_dim to a multiple of 4, e\.g\. 80"),
    ({"model.attention_resolution": 32}, r"attention_resolution=32 .* Valid: 8, "
     r"16, or 0"),
    ({"data.image_size": 48}, r"image_size=48: model 'biggan' makes only 32, 64, "
     r"128, 256-pixel"),
])
def test_bad_biggan_settings_fail_with_the_fix_when_the_spec_is_built(
        overrides, message):
    with pytest.raises(ValueError, match=message):
        gan_spec.build(_biggan_config(**overrides))


def test_a_size_known_only_from_the_data_is_checked_when_the_model_is_built():
    config = _biggan_config(**{"model.latent_dim": 90, "data.image_size": None})
    spec = gan_spec.build(config)
    with pytest.raises(ValueError, match=r"latent_dim=90 is not divisible by 4"):
        models.create(spec.model, (32, 32, 3))
    with pytest.raises(ValueError, match=r"biggan does not support 28x28"):
        models.create(spec.model, (28, 28, 1))


def test_orthogonal_penalty_and_gradient_against_biggan_pytorchs():
    key_a, key_b = jax.random.split(jax.random.key(8))
    params = {"conv": {"kernel": jax.random.normal(key_a, (3, 3, 4, 6)),
                       "bias": jnp.ones((6,))},
              "dense": {"kernel": jax.random.normal(key_b, (5, 3))},
              "shared_embedding": {"embedding": jnp.ones((10, 4))}}
    assert [path for path, _ in orthogonal.regularized_kernels(params)] == [
        "['conv']['kernel']", "['dense']['kernel']"]

    def rows(kernel):  # PyTorch's weight.view(out, -1), up to a column order.
        return np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1]).T

    value, grads = jax.jit(jax.value_and_grad(orthogonal.penalty))(params)
    expected = 0.0
    for name in ("conv", "dense"):
        w = rows(params[name]["kernel"])
        off = (w @ w.T) * (1 - np.eye(w.shape[0]))
        expected += 0.5 * np.sum(off ** 2)
        # BigGAN-PyTorch's utils.ortho adds 2 (W W^T * (1 - I)) W per unit beta.
        code_gradient = 2 * off @ w
        np.testing.assert_allclose(rows(grads[name]["kernel"]), code_gradient,
                                   rtol=1e-4, atol=1e-4 * np.abs(code_gradient).max())
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_array_equal(grads["conv"]["bias"], 0.0)
    np.testing.assert_array_equal(grads["shared_embedding"]["embedding"], 0.0)


def test_orthogonal_weight_enters_the_generator_objective_scaled():
    params = {"dense": {"kernel": jax.random.normal(jax.random.key(9), (4, 3))}}
    options = tricks_options.from_config(
        _biggan_config(**{"tricks.orthogonal_weight": 1e-4}))
    total, metrics = objectives.generator_weight_objective(params, options=options)
    np.testing.assert_allclose(total, 1e-4 * orthogonal.penalty(params), rtol=1e-6)
    np.testing.assert_allclose(metrics["g_orthogonal"], orthogonal.penalty(params))
    off = tricks_options.from_config(_biggan_config())
    assert not off.is_on("orthogonal")
    assert objectives.generator_weight_objective(params, options=off)[1] == {}


def test_generator_step_adds_the_orthogonal_gradient():
    """Any model's generator step: the gradient it applies is the adversarial
    one plus beta times the regulariser's (plain SGD makes the update that
    gradient, so the two steps differ by exactly -lr * beta * grad R)."""
    from gan_jax.run import experiment
    import optax
    config = defaults.base_config()
    config.model.hidden_dim, config.model.num_layers = 16, 1
    config.model.latent_dim = 4
    batch = {"x": jax.random.normal(jax.random.key(2), (1, 8, 2))}
    updated = {}
    for weight in (0.0, 0.5):
        config.tricks.orthogonal_weight = weight
        spec = gan_spec.build(config)
        state = experiment.create_state(spec, (2,), jax.random.key(0))
        state = state.replace(generator=state.generator.replace(
            tx=optax.sgd(1.0), opt_state=optax.sgd(1.0).init(state.generator.params)))
        updated[weight] = jax.jit(experiment.make_train_step(spec))(
            state, batch, jax.random.key(1))
    (plain, plain_metrics), (ortho, ortho_metrics) = updated[0.0], updated[0.5]
    assert "g_orthogonal" not in plain_metrics
    before = experiment.create_state(spec, (2,), jax.random.key(0)).generator.params
    np.testing.assert_allclose(ortho_metrics["g_orthogonal"],
                               orthogonal.penalty(before), rtol=1e-5)
    grads = jax.grad(orthogonal.penalty)(before)
    for a, b, g in zip(jax.tree.leaves(plain.generator.params),
                       jax.tree.leaves(ortho.generator.params), jax.tree.leaves(grads)):
        scale = np.max(np.abs(a)) + 1.0
        np.testing.assert_allclose(a - b, 0.5 * np.asarray(g),
                                   atol=16 * np.finfo(np.float32).eps * scale)


def test_biggan_is_a_batch_norm_generator_measured_with_standing_stats():
    assert "biggan" in models.BATCH_NORM_GENERATORS
    generator, _ = models.create(gan_spec.build(_biggan_config()).model, (32, 32, 3))
    variables = jax.eval_shape(lambda: generator.init(
        jax.random.key(0), jnp.zeros((1, 80)), jnp.zeros((1,), jnp.int32)))
    assert any(re.search("final_bn|cbn", jax.tree_util.keystr(path))
               for path, _ in jax.tree_util.tree_flatten_with_path(
                   variables["batch_stats"])[0])
    assert isinstance(generator, nn.Module)
