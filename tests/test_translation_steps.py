"""The image-to-image train steps against direct, step-by-step computations."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax.image_to_image import defaults
from gan_jax.image_to_image import experiment
from gan_jax.image_to_image import objectives
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.image_to_image.state import apply
import gradient_checks  # tests/gradient_checks.py

# The steps' largest float32 reduction: a kernel gradient sums over every
# pixel of the batch of 4 28 x 28 images (tests/gradient_checks.py: why
# gradients, as Adam's first moments, and not parameters are compared).
REDUCED_TERMS = 4 * 28 * 28

# Whole image-to-image steps, each compiled: outside the everyday tier
# (`python -m pytest -m "not slow"`).
pytestmark = pytest.mark.slow


def _spec(task, overrides=None, **model):
    """The tiny `task`'s spec; `overrides` sets other fields by dotted name."""
    config = defaults.base_config(task)
    defaults.make_tiny(config)
    config.model.g_downsamples = 2 if task != "srgan" else 0
    config.model.d_layers = 2
    config.model.update(model)
    for path, value in (overrides or {}).items():
        section, name = path.split(".")
        config[section][name] = value
    return translation_spec.build(config)


def _batch(seed=0, batch_size=4, size=28):
    images = jax.random.uniform(jax.random.key(seed), (1, batch_size, size, size, 1),
                                minval=-1.0, maxval=1.0)
    return {"x": images}


def _close(tree_a, tree_b, **tolerance):
    for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)):
        np.testing.assert_allclose(a, b, **tolerance)


def _assert_kernels_took_one_step_on(network, grads, b1):
    """`network` took one Adam step on `grads`, compared on the kernels only:
    a bias followed by instance norm has a gradient that is all round-off."""
    kernels = lambda tree: [leaf for path, leaf in  # noqa: E731
                            jax.tree_util.tree_flatten_with_path(tree)[0]
                            if "kernel" in jax.tree_util.keystr(path)]
    assert int(network.step) == 1
    gradient_checks.assert_norms_close(
        kernels(gradient_checks.first_moments(network)),
        [(1.0 - b1) * g for g in kernels(grads)], REDUCED_TERMS)


def test_pix2pix_step_equals_a_direct_d_then_g_update():
    spec = _spec("pix2pix")
    batch, key = _batch(), jax.random.key(3)
    state = experiment.create_state(spec, batch, jax.random.key(0))
    new_state, metrics = jax.jit(experiment.phases(spec)["train"])(state, batch, key)

    # The same step written out directly: G's gradient by differentiating the
    # whole objective through G (no vjp of a cached pass).
    loss = losses.get("non_saturating")
    examples = experiment.make_examples_fn(spec)(jax.tree.map(lambda x: x[0], batch))
    x, y = examples["source"], examples["target"]
    step_key = jax.random.fold_in(key, 0)
    g, d = state.networks["generator"], state.networks["discriminator"]
    # The references are jitted as wholes: op by op, each op would compile.
    fake = jax.jit(lambda p: apply(g, p, x, train=True, key=step_key)[0])(g.params)

    def d_loss(params):
        real_logits, moved = apply(d, params, y, condition=x, train=True)
        fake_logits, moved = apply(moved, params, fake, condition=x, train=True)
        return loss.discriminator(real_logits, fake_logits), moved

    d_grads, d_moved = jax.jit(jax.grad(d_loss, has_aux=True))(d.params)
    # G's gradient against the discriminator the step produced (another
    # program's Adam step may differ from it by sign flips of round-off).
    d_new = new_state.networks["discriminator"]

    def g_loss(params):
        fake, moved = apply(g, params, x, train=True, key=step_key)
        real_logits = apply(d_new, d_new.params, y, condition=x, train=True)[0]
        fake_logits = apply(d_new, d_new.params, fake, condition=x, train=True)[0]
        total, _ = objectives.pix2pix_generator_objective(
            loss, real_logits, fake_logits, fake, y, l1_weight=100.0)
        return total, moved

    g_grads, g_moved = jax.jit(jax.grad(g_loss, has_aux=True))(g.params)
    b1 = spec.optim.b1
    gradient_checks.assert_took_one_step_on(d_new, d_grads, b1, REDUCED_TERMS)
    gradient_checks.assert_took_one_step_on(new_state.networks["generator"], g_grads,
                                            b1, REDUCED_TERMS)
    gradient_checks.assert_norms_close(new_state.networks["discriminator"].batch_stats,
                                       d_moved.batch_stats, REDUCED_TERMS)
    gradient_checks.assert_norms_close(new_state.networks["generator"].batch_stats,
                                       g_moved.batch_stats, REDUCED_TERMS)
    assert int(new_state.step) == 1
    assert set(metrics) == {"d_loss", "g_adversarial", "g_l1"}


def test_step_is_deterministic_and_the_key_drives_dropout():
    # Five levels capped at width 8: dropout on the two inner decoder levels.
    spec = _spec("pix2pix", g_downsamples=5, g_max_channels=8)
    batch = _batch(size=32)
    state = experiment.create_state(spec, batch, jax.random.key(0))
    step = jax.jit(experiment.phases(spec)["train"])
    copy = lambda: jax.tree.map(jnp.copy, state)  # noqa: E731
    first, _ = step(copy(), batch, jax.random.key(1))
    again, _ = step(copy(), batch, jax.random.key(1))
    other, _ = step(copy(), batch, jax.random.key(2))
    _close(first.networks, again.networks, rtol=0, atol=0)
    g_first = jax.tree.leaves(first.networks["generator"].params)
    g_other = jax.tree.leaves(other.networks["generator"].params)
    assert any(not np.allclose(a, b) for a, b in zip(g_first, g_other))


def test_srgan_pretraining_moves_only_the_generator_and_lowers_mse():
    spec = _spec("srgan", {"objective.pretrain_steps": 2, "optim.g_lr": 1e-3},
                     g_blocks=1)
    # Smooth targets (a blurred random field), which a 4x enlargement can fit.
    rough = jax.random.normal(jax.random.key(0), (8, 7, 7, 1))
    batch = {"x": jnp.tanh(jax.image.resize(rough, (8, 28, 28, 1), "bicubic"))[None]}
    state = experiment.create_state(spec, batch, jax.random.key(0))
    pretrain = jax.jit(experiment.phases(spec)["pretrain"])
    first_mse = None
    for _ in range(30):
        state_before = state
        state, metrics = pretrain(state, batch, jax.random.key(1))
        first_mse = first_mse if first_mse is not None else float(metrics["g_mse"])
    assert float(metrics["g_mse"]) < 0.5 * first_mse
    _close(state.networks["discriminator"].params,
           state_before.networks["discriminator"].params, rtol=0, atol=0)
    assert int(state.step) == 30


def test_cyclegan_discriminators_train_on_the_pool_which_fills_first():
    # A pool larger than one step's 2 fakes per domain.
    spec = _spec("cyclegan", {"objective.pool_size": 4}, g_blocks=1)
    batch, key = _batch(batch_size=4), jax.random.key(5)
    state = experiment.create_state(spec, batch, jax.random.key(0))
    new_state, metrics = jax.jit(experiment.phases(spec)["train"])(state, batch, key)
    examples = experiment.make_examples_fn(spec)(jax.tree.map(lambda x: x[0], batch))
    nets = state.networks
    # The references are jitted as wholes: op by op, each op would compile.
    fake_b = jax.jit(lambda p: apply(nets["g_ab"], p, examples["a"], train=True)[0])(
        nets["g_ab"].params)
    # While the pool fills, each fake is stored and passed through unchanged.
    assert int(new_state.pools["b"]["count"]) == 2
    np.testing.assert_allclose(new_state.pools["b"]["images"][:2], fake_b, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(new_state.pools["b"]["images"][2:], 0.0)

    loss = losses.get("least_squares")

    def d_b_loss(params):
        real = apply(nets["d_b"], params, examples["b"], train=True)[0]
        fake = apply(nets["d_b"], params, fake_b, train=True)[0]
        return 0.5 * loss.discriminator(real, fake)

    _assert_kernels_took_one_step_on(new_state.networks["d_b"],
                                     jax.jit(jax.grad(d_b_loss))(nets["d_b"].params),
                                     spec.optim.b1)
    np.testing.assert_allclose(metrics["d_b_loss"], jax.jit(d_b_loss)(nets["d_b"].params),
                               rtol=1e-5)
    assert {"g_cycle", "g_identity", "g_adversarial_ab", "g_adversarial_ba",
            "d_a_loss", "d_b_loss"} == set(metrics)


def test_cyclegan_generators_descend_the_full_objective():
    """The generators' update is Adam on the gradient of eq. 3 + identity,
    assembled here from the networks directly."""
    spec = _spec("cyclegan", {"objective.pool_size": 0}, g_blocks=1)
    batch, key = _batch(batch_size=4), jax.random.key(5)
    state = experiment.create_state(spec, batch, jax.random.key(0))
    new_state, _ = jax.jit(experiment.phases(spec)["train"])(state, batch, key)
    examples = experiment.make_examples_fn(spec)(jax.tree.map(lambda x: x[0], batch))
    a, b = examples["a"], examples["b"]
    nets = state.networks
    run = lambda name, p, x: apply(nets[name], p, x, train=True)[0]  # noqa: E731

    def total(params):
        fake_b, fake_a = run("g_ab", params["g_ab"], a), run("g_ba", params["g_ba"], b)
        d_b = lambda x: run("d_b", nets["d_b"].params, x)  # noqa: E731
        d_a = lambda x: run("d_a", nets["d_a"].params, x)  # noqa: E731
        adversarial = (0.5 * jnp.mean((d_b(fake_b) - 1) ** 2)
                       + 0.5 * jnp.mean((d_a(fake_a) - 1) ** 2))
        cycle = (jnp.mean(jnp.abs(run("g_ba", params["g_ba"], fake_b) - a))
                 + jnp.mean(jnp.abs(run("g_ab", params["g_ab"], fake_a) - b)))
        identity = (jnp.mean(jnp.abs(run("g_ba", params["g_ba"], a) - a))
                    + jnp.mean(jnp.abs(run("g_ab", params["g_ab"], b) - b)))
        return adversarial + 10.0 * cycle + 5.0 * identity

    grads = jax.jit(jax.grad(total))({"g_ab": nets["g_ab"].params, "g_ba": nets["g_ba"].params})
    for name in ("g_ab", "g_ba"):
        _assert_kernels_took_one_step_on(new_state.networks[name], grads[name],
                                         spec.optim.b1)
    assert new_state.pools == {}
