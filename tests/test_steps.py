"""The pure train step: what one step changes, n_critic, EMA, clipping, keys."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax.game import objectives as objectives_lib
from gan_jax.game import latents as latents_lib
from gan_jax.game import steps
from gan_jax.game.state import apply_network
from gan_jax.run import experiment
from gan_jax.run import gan_spec
import gradient_checks  # tests/gradient_checks.py

SAMPLE_SHAPE = (2,)


def _config(**overrides):
    config = defaults.base_config()
    config.model.hidden_dim = 16
    config.model.num_layers = 1
    config.model.latent_dim = 4
    config.train.num_steps = 10
    for path, value in overrides.items():
        section, field = path.split(".")
        config[section][field] = value
    return config


def _spec(**overrides):
    return gan_spec.build(_config(**overrides))


def _state(spec, seed=0):
    return experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(seed))


def _batch(spec, seed=1):
    shape = (spec.optim.n_critic, 8, *SAMPLE_SHAPE)
    return {"x": jax.random.normal(jax.random.key(seed), shape, jnp.float32)}


def _leaves_close(a, b):
    return all(np.allclose(x, y, rtol=1e-6, atol=1e-7)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# The largest float32 reduction of an MLP step (batch 8, hidden width 16): a
# kernel gradient sums over the batch, back-propagation over the hidden units.
# (tests/gradient_checks.py: why gradients and not parameters are compared.)
MLP_REDUCED_TERMS = 8 * 16


def _assert_same_gradients(a, b, reduced_terms=MLP_REDUCED_TERMS):
    gradient_checks.assert_same_gradients(a, b, reduced_terms)


def test_one_step_changes_both_networks_and_counts_updates():
    spec = _spec(**{"optim.n_critic": 3})
    state = _state(spec)
    step = jax.jit(experiment.make_train_step(spec))
    new_state, metrics = step(state, _batch(spec), jax.random.key(2))
    assert int(new_state.step) == 1
    assert int(new_state.generator.step) == 1
    assert int(new_state.discriminator.step) == 3
    assert not _leaves_close(new_state.generator.params, state.generator.params)
    assert not _leaves_close(new_state.discriminator.params, state.discriminator.params)
    for name in ("d_loss", "g_loss", "d_penalty", "d_real_logit", "d_fake_logit",
                 "d_grad_norm", "g_grad_norm"):
        assert metrics[name].dtype == jnp.float32 and np.isfinite(metrics[name])


def test_n_critic_step_equals_that_many_discriminator_steps_then_one_generator_step():
    spec = _spec(**{"optim.n_critic": 3})
    objectives = objectives_lib.create(spec)
    state, batch, key = _state(spec), _batch(spec), jax.random.key(5)
    fused, _ = jax.jit(experiment.make_train_step(spec))(state, batch, key)

    step_key = jax.random.fold_in(key, 0)  # fold_in(key, state.step) at step 0.
    critic_keys = jax.random.split(jax.random.fold_in(step_key, 0), 3)
    manual = state
    for i in range(3):
        minibatch = jax.tree.map(lambda leaf: leaf[i], batch)
        manual, _ = steps.discriminator_step(manual, minibatch, critic_keys[i],
                                             objectives=objectives, latent_dim=4)
    manual, _ = steps.generator_step(manual, {"x": batch["x"][-1]},
                                     jax.random.fold_in(step_key, 1),
                                     objectives=objectives, latent_dim=4,
                                     ema_decay=spec.optim.ema_decay)
    _assert_same_gradients(fused.discriminator, manual.discriminator)
    _assert_same_gradients(fused.generator, manual.generator)
    # And it is not the same as doing a single critic update.
    once, _ = steps.discriminator_step(state, {"x": batch["x"][0]}, critic_keys[0],
                                       objectives=objectives, latent_dim=4)
    assert not _leaves_close(fused.discriminator.params, once.discriminator.params)


def test_simultaneous_step_takes_the_generator_gradient_before_the_critic_moved():
    spec = _spec(**{"optim.n_critic": 2, "optim.simultaneous": True})
    objectives = objectives_lib.create(spec)
    state, batch, key = _state(spec), _batch(spec), jax.random.key(5)
    fused, metrics = jax.jit(experiment.make_train_step(spec))(state, batch, key)
    alternating, alternating_metrics = jax.jit(experiment.make_train_step(_spec(
        **{"optim.n_critic": 2})))(state, batch, key)

    step_key = jax.random.fold_in(key, 0)
    critic_keys = jax.random.split(jax.random.fold_in(step_key, 0), 2)
    critic = state
    for i in range(2):
        critic, _ = steps.discriminator_step(
            critic, jax.tree.map(lambda leaf, i=i: leaf[i], batch), critic_keys[i],
            objectives=objectives, latent_dim=4)
    # The generator step on the state from before both critic steps.
    generator, g_metrics = steps.generator_step(state, {"x": batch["x"][-1]},
                                        jax.random.fold_in(step_key, 1),
                                        objectives=objectives, latent_dim=4,
                                        ema_decay=spec.optim.ema_decay)
    _assert_same_gradients(fused.discriminator, critic.discriminator)
    _assert_same_gradients(fused.generator, generator.generator)
    _assert_same_gradients(fused.discriminator, alternating.discriminator)
    # (Adam's first step is about lr * sign(gradient), so the parameters
    # alone may not tell the two apart; the loss the generator saw does.)
    np.testing.assert_allclose(metrics["g_loss"], g_metrics["g_loss"],
                               rtol=MLP_REDUCED_TERMS * 2.0**-24)
    assert abs(float(metrics["g_loss"]) - float(alternating_metrics["g_loss"])) > 1e-4
    assert int(fused.generator.step) == 1 and int(fused.discriminator.step) == 2


def test_simultaneous_updates_refuse_shared_fakes():
    config = _config(**{"optim.simultaneous": True,
                        "train.generator_reuses_fakes": True})
    with pytest.raises(ValueError, match="set one of them to False"):
        gan_spec.build(config)


@pytest.mark.parametrize("loss", ["non_saturating", "hinge", "least_squares",
                                  "wasserstein", "relativistic_average"])
def test_each_phase_lowers_its_own_loss(loss):
    """On fixed inputs, a small D step lowers the D loss and a G step the G loss."""
    spec = _spec(**{"loss.name": loss, "optim.d_lr": 1e-3, "optim.g_lr": 1e-3})
    objectives = objectives_lib.create(spec)
    state = _state(spec)
    real = _batch(spec)["x"][0]
    latents = latents_lib.sample_latents(jax.random.key(3), real.shape[0], 4)
    fake, _ = apply_network(state.generator, state.generator.params, latents,
                            train=True)
    key = jax.random.key(4)

    d_loss = functools.partial(objectives.discriminator, real=real, fake=fake, key=key)
    d_state = state.discriminator
    before, _ = d_loss(d_state.params, d_state)
    grads, aux = jax.grad(d_loss, has_aux=True)(d_state.params, d_state)
    d_state = d_state.apply_gradients(grads=grads)
    after, _ = d_loss(d_state.params, d_state)
    assert after < before

    g_loss = functools.partial(objectives.generator, d_state=state.discriminator,
                               real=real, latents=latents)
    g_state = state.generator
    before, _ = g_loss(g_state.params, g_state)
    grads, _ = jax.grad(g_loss, has_aux=True)(g_state.params, g_state)
    after, _ = g_loss(g_state.apply_gradients(grads=grads).params, g_state)
    assert after < before


def test_ema_follows_its_formula():
    decay = 0.9
    spec = _spec(**{"optim.ema_decay": decay})
    state = _state(spec)
    new_state, _ = jax.jit(experiment.make_train_step(spec))(
        state, _batch(spec), jax.random.key(0))
    expected = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p,
                            state.ema_params, new_state.generator.params)
    assert _leaves_close(new_state.ema_params, expected)
    assert not _leaves_close(new_state.ema_params, new_state.generator.params)


def test_weight_clipping_bounds_discriminator_params():
    spec = _spec(**{"optim.d_weight_clip": 0.01, "loss.name": "wasserstein"})
    new_state, _ = jax.jit(experiment.make_train_step(spec))(
        _state(spec), _batch(spec), jax.random.key(0))
    leaves = jax.tree.leaves(new_state.discriminator.params)
    assert max(float(jnp.max(jnp.abs(x))) for x in leaves) <= 0.01 + 1e-9


def test_same_key_same_result_and_step_changes_the_draw():
    spec = _spec()
    state, batch = _state(spec), _batch(spec)
    step = jax.jit(experiment.make_train_step(spec))
    a, _ = step(state, batch, jax.random.key(7))
    b, _ = step(state, batch, jax.random.key(7))
    assert all(np.array_equal(x, y) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    # The same state at a later step draws other latents, hence other updates.
    later = state.replace(generator=state.generator.replace(step=5))
    c, _ = step(later, batch, jax.random.key(7))
    assert not _leaves_close(a.generator.params, c.generator.params)


def _dcgan_spec(reuse_fakes=False):
    config = defaults.image_config()
    defaults.make_tiny(config)
    config.data.image_size = 32
    config.model.latent_dim = 4
    config.train.generator_reuses_fakes = reuse_fakes
    return gan_spec.build(config)


@pytest.mark.parametrize("make_spec, sample_shape, reduced_terms", [
    (lambda reuse_fakes=False: _spec(**{"optim.n_critic": 2,
                                        "train.generator_reuses_fakes": reuse_fakes}),
     SAMPLE_SHAPE, MLP_REDUCED_TERMS),
    # A kernel gradient of the generator's last layer sums over every pixel.
    (_dcgan_spec, (32, 32, 1), 8 * 32 * 32)], ids=["mlp_n_critic_2", "dcgan_batchnorm"])
@pytest.mark.slow
def test_reused_fakes_step_is_the_critic_step_then_a_generator_step_on_its_latents(
        make_spec, sample_shape, reduced_terms):
    """The PyTorch example's schedule: D on G(z), then G on D_new(G(z)), same z."""
    spec = make_spec(reuse_fakes=True)
    objectives = objectives_lib.create(spec)
    latent_dim = spec.model.latent_dim
    n_critic = spec.optim.n_critic
    state = experiment.create_state(spec, sample_shape, jax.random.key(0))
    batch = {"x": jax.random.uniform(jax.random.key(1), (n_critic, 8, *sample_shape),
                                     jnp.float32, -1.0, 1.0)}
    key = jax.random.key(5)
    fused, metrics = jax.jit(experiment.make_train_step(spec))(state, batch, key)

    step_key = jax.random.fold_in(key, 0)
    critic_keys = jax.random.split(jax.random.fold_in(step_key, 0), n_critic)
    # Jitted as wholes: op by op, the DCGAN's reference would compile each op.
    critic_step = jax.jit(functools.partial(
        steps.discriminator_step, objectives=objectives, latent_dim=latent_dim))
    manual = state
    for i in range(n_critic):
        manual, _ = critic_step(manual, {"x": batch["x"][i]}, critic_keys[i])
    _assert_same_gradients(fused.discriminator, manual.discriminator, reduced_terms)
    # The last critic step's latents, scored by the updated critic (the
    # step's own: the parameters of two programs may differ by Adam's sign
    # flips, see `_assert_same_gradients`).
    latents = latents_lib.sample_latents(jax.random.split(critic_keys[-1])[0], 8,
                                         latent_dim)
    g_key = jax.random.fold_in(step_key, 1)
    g_state = manual.generator
    grads, aux = jax.jit(jax.grad(objectives.generator, has_aux=True))(
        g_state.params, g_state, fused.discriminator, batch["x"][-1], latents,
        key=jax.random.fold_in(g_key, 2), step=state.step, tricks_state=state.tricks)
    gradient_checks.assert_took_one_step_on(fused.generator, grads, spec.optim.g_b1,
                                            reduced_terms)
    gradient_checks.assert_norms_close(fused.generator.batch_stats, aux["batch_stats"],
                                       reduced_terms)
    np.testing.assert_allclose(metrics["g_loss"], aux["metrics"]["g_loss"],
                               rtol=reduced_terms * 2.0**-24)
    # Fresh latents would have given a different generator update.
    fresh, _ = jax.jit(experiment.make_train_step(make_spec()))(state, batch, key)
    assert not _leaves_close(fresh.generator.params, fused.generator.params)


def test_reused_fakes_refuse_the_generator_zcr_term():
    with pytest.raises(ValueError, match="zcr_g_weight=0"):
        spec = _spec(**{"tricks.zcr_g_weight": 0.5,
                        "train.generator_reuses_fakes": True})
        jax.eval_shape(experiment.make_train_step(spec), _state(spec),
                       _batch(spec), jax.random.key(0))


@pytest.mark.parametrize("ema_start, ema_rampup", [(0, 0.0), (3, 0.0), (0, 0.5),
                                                   (2, 0.5)])
def test_ema_start_and_rampup_give_the_documented_decay(ema_start, ema_rampup):
    """ema <- d ema + (1 - d) params with d = 0 before `ema_start`, else
    min(decay, 0.5 ** (1 / (rampup * step))) (the ramp only when on)."""
    spec = _spec(**{"optim.ema_decay": 0.9, "optim.ema_start": ema_start,
                    "optim.ema_rampup": ema_rampup})
    step = jax.jit(experiment.make_train_step(spec))
    state = _state(spec)
    for t in range(5):
        before = state.ema_params
        state, _ = step(state, _batch(spec, seed=t), jax.random.key(0))
        decay = 0.0 if t < ema_start else 0.9
        if ema_rampup:
            decay = min(decay, 0.5 ** (1 / (ema_rampup * t)) if t else 0.0)
        for ema, old, new in zip(jax.tree.leaves(state.ema_params),
                                 jax.tree.leaves(before),
                                 jax.tree.leaves(state.generator.params)):
            expected = decay * np.asarray(old) + (1 - decay) * np.asarray(new)
            scale = np.max(np.abs(expected)) + np.max(np.abs(old))
            np.testing.assert_allclose(ema, expected,
                                       atol=4 * np.finfo(np.float32).eps * scale)
