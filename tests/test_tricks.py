"""The stabilisation tricks: off changes nothing, on does what its paper says."""

import functools

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
import flax.linen as nn
import numpy as np
import optax
import pytest

from gan_jax import defaults
from gan_jax import experiment
from gan_jax import objectives as objectives_lib
from gan_jax import steps
from gan_jax.state import NetworkState
from gan_jax.tricks import augment
from gan_jax.tricks import began
from gan_jax.tricks import consistency
from gan_jax.tricks import feature_matching
from gan_jax.tricks import instance_noise
from gan_jax.tricks import lecam
from gan_jax.tricks import options as options_lib
from gan_jax.tricks import packing
from gan_jax.tricks import top_k
from gan_jax.tricks import unrolled

SAMPLE_SHAPE = (2,)
BATCH = 8


def _config(**overrides):
    config = defaults.base_config()
    config.model.hidden_dim = 16
    config.model.num_layers = 1
    config.model.latent_dim = 4
    config.data.batch_size = BATCH
    config.train.num_steps = 10
    for path, value in overrides.items():
        section, field = path.split(".")
        config[section][field] = value
    return config


def _batch(seed=1):
    return {"x": jax.random.normal(jax.random.key(seed), (1, BATCH, *SAMPLE_SHAPE))}


def _train_step(config, state=None, num_steps=1):
    state = state or experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    step = jax.jit(experiment.make_train_step(config))
    for _ in range(num_steps):
        state, metrics = step(state, _batch(), jax.random.key(2))
    return state, metrics


def test_the_default_step_is_the_plain_gan_step():
    """With every trick off, one train step equals a hand-written non-saturating
    GAN step with R1 (same keys, same optimizers), and keeps no trick state."""
    config = _config()
    state = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    assert state.tricks == {}
    new_state, metrics = _train_step(config, state)

    g, d = state.generator, state.discriminator
    real, key, weight = _batch()["x"][0], jax.random.key(2), config.penalty.weight
    step_key = jax.random.fold_in(key, 0)
    critic_key = jax.random.split(jax.random.fold_in(step_key, 0), 1)[0]
    latent_key, _ = jax.random.split(critic_key)
    fake = g.apply_fn({"params": g.params},
                      jax.random.normal(latent_key, (BATCH, 4), jnp.float32))

    def d_loss(params):
        critic = functools.partial(d.apply_fn, {"params": params})
        # R1 as the per-sample input gradients, one vmapped grad per sample.
        grads = jax.vmap(jax.grad(lambda x: critic(x[None])[0]))(real)
        r1 = jnp.mean(jnp.sum(grads ** 2, axis=1))
        return (jnp.mean(jax.nn.softplus(-critic(real)))
                + jnp.mean(jax.nn.softplus(critic(fake))) + weight * r1)

    d_params = d.apply_gradients(grads=jax.jit(jax.grad(d_loss))(d.params)).params
    g_latents = jax.random.normal(jax.random.fold_in(step_key, 1), (BATCH, 4),
                                  jnp.float32)

    def g_loss(params):
        fake_logits = d.apply_fn({"params": d_params},
                                 g.apply_fn({"params": params}, g_latents))
        return jnp.mean(jax.nn.softplus(-fake_logits))

    g_params = g.apply_gradients(grads=jax.jit(jax.grad(g_loss))(g.params)).params
    for got, want in ((new_state.discriminator.params, d_params),
                      (new_state.generator.params, g_params)):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert new_state.tricks == {}
    assert not any(name.startswith(("g_adversarial", "ada", "lecam", "began"))
                   for name in metrics)


TRICKS_ON = {
    "feature_matching": {"tricks.feature_matching_weight": 1.0},
    "instance_noise": {"tricks.noise_std": 0.3},
    "unrolled": {"tricks.unrolled_steps": 2},
    "pack": {"tricks.pack": 2},
    "augment": {"tricks.augment": "jitter"},
    # Jitter of std 0.05 moves a fresh critic's outputs little: heavy weights.
    "cr": {"tricks.cr_real_weight": 1e3, "tricks.cr_augment": "jitter"},
    "bcr": {"tricks.cr_fake_weight": 1e3, "tricks.cr_augment": "jitter"},
    "zcr": {"tricks.zcr_d_weight": 10.0, "tricks.zcr_g_weight": 10.0,
            "tricks.zcr_std": 0.5},
    "lecam": {"tricks.lecam_weight": 1.0},
    "lazy_r1": {"penalty.lazy_interval": 2},
    "top_k": {"tricks.top_k_min_fraction": 0.5, "tricks.top_k_every": 1,
              "tricks.top_k_decay": 0.5},
    "label_noise": {"loss.label_noise": 0.5},
    "infogan": {"tricks.infogan_categories": 2},
    "began": {"loss.name": "began", "model.d_autoencoder": True},
}


@pytest.fixture(scope="module")
def plain_step():
    return _train_step(_config(), num_steps=2)


@pytest.mark.parametrize("name", sorted(TRICKS_ON))
def test_each_trick_changes_the_step(name, plain_step):
    """Every switch reaches the compiled step (a switch that changed nothing
    would pass the test above vacuously). Lazy R1 moves the penalty out of
    the train step into its own phase. (ADA starts at p = 0, so its first
    step is the plain one; its state is tested below.)"""
    plain, _ = plain_step
    # Two steps: Adam's first update is nearly sign(gradient), which a small
    # change of the gradient may not move; top-k's k first drops at step 1.
    new_state, metrics = _train_step(_config(**TRICKS_ON[name]), num_steps=2)
    assert all(np.isfinite(v) for v in metrics.values())
    if name == "lazy_r1":
        assert "d_penalty" not in metrics
        return
    # Tricks that change a network's shape change its parameter structure.
    changed = any(
        a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=1e-7)
        for a, b in zip(jax.tree.leaves((new_state.generator.params,
                                         new_state.discriminator.params)),
                        jax.tree.leaves((plain.generator.params,
                                         plain.discriminator.params))))
    changed |= (jax.tree.structure(new_state.discriminator.params)
                != jax.tree.structure(plain.discriminator.params))
    changed |= (jax.tree.structure(new_state.generator.params)
                != jax.tree.structure(plain.generator.params))
    assert changed


def test_instance_noise_variance_follows_the_schedule():
    options = options_lib.TrickOptions(noise_std=0.5, noise_steps=100)
    zeros = jnp.zeros((20_000, 2), jnp.float32)
    for step, expected in ((0, 0.5), (50, 0.25), (75, 0.125), (100, 0.0), (500, 0.0)):
        noisy = objectives_lib.prepare_inputs(zeros, jax.random.key(step), step=step,
                                              tricks_state={}, options=options)
        np.testing.assert_allclose(np.std(noisy), expected, rtol=0.02, atol=1e-7)
    # anneal_steps = 0: constant.
    assert float(instance_noise.noise_std(10_000, 0.3, 0)) == pytest.approx(0.3)


class _SmoothCritic(nn.Module):
    """2-4-1 tanh MLP: smooth, so finite differences of the unrolled loss
    converge (ReLU kinks, amplified by the unrolled updates, would not)."""

    @nn.compact
    def __call__(self, x, labels=None, train=False):
        del labels, train
        return nn.Dense(1)(jnp.tanh(nn.Dense(4)(x)))[:, 0]


class _LinearGenerator(nn.Module):
    @nn.compact
    def __call__(self, z, labels=None, train=False):
        del labels, train
        return nn.Dense(2)(z)


def _tiny_unrolled_problem():
    """A linear generator of 2-D latents against a tanh critic trained by SGD."""
    config = _config(**{"model.latent_dim": 2})
    states = []
    for module, shape, seed in ((_LinearGenerator(), (1, 2), 3),
                                (_SmoothCritic(), (1, 2), 4)):
        params = module.init(jax.random.key(seed), jnp.zeros(shape))["params"]
        states.append(NetworkState.create(apply_fn=module.apply, params=params,
                                          batch_stats={}, tx=optax.sgd(0.5)))
    real = jax.random.normal(jax.random.key(4), (6, 2)) + 1.0
    latents = jax.random.normal(jax.random.key(5), (6, 2))
    return (config, *states, real, latents)


def _generator_loss(config, g_state, d_state, real, latents, unrolled_steps):
    config.tricks.unrolled_steps = unrolled_steps
    objective = objectives_lib.create(config).generator
    return lambda params: objective(params, g_state, d_state, real, latents)[0]


def test_unrolled_gradient_differs_from_plain_and_matches_finite_differences():
    config, g_state, d_state, real, latents = _tiny_unrolled_problem()
    loss_unrolled = _generator_loss(config, g_state, d_state, real, latents, 3)
    loss_plain = _generator_loss(config, g_state, d_state, real, latents, 0)
    params = g_state.params
    grad_unrolled = jax.grad(loss_unrolled)(params)
    grad_plain = jax.grad(loss_plain)(params)
    flat_u, unravel = ravel_pytree(grad_unrolled)
    flat_p, _ = ravel_pytree(grad_plain)
    assert np.linalg.norm(flat_u - flat_p) > 0.05 * np.linalg.norm(flat_p)

    # Central differences along random directions, in float64 arithmetic on
    # the float32 losses; eps balances truncation against rounding.
    flat_params, unravel = ravel_pytree(params)
    loss = jax.jit(lambda flat: loss_unrolled(unravel(flat)))
    rng = np.random.default_rng(0)
    for _ in range(3):
        direction = rng.normal(size=flat_params.shape).astype(np.float32)
        direction /= np.linalg.norm(direction)
        eps = 1e-2
        fd = (float(loss(flat_params + eps * direction))
              - float(loss(flat_params - eps * direction))) / (2 * eps)
        np.testing.assert_allclose(float(flat_u @ direction), fd, rtol=2e-2, atol=2e-4)


def test_unroll_is_k_optimizer_steps():
    loss_fn = lambda w: jnp.sum((w - 3.0) ** 2)  # noqa: E731
    tx = optax.sgd(0.1)
    w = jnp.array([0.0, 1.0])
    expected = np.array(w)
    for _ in range(4):
        expected = expected - 0.1 * 2 * (expected - 3.0)
    np.testing.assert_allclose(unrolled.unroll(w, tx.init(w), tx, loss_fn, 4), expected,
                               rtol=1e-6)


def test_packing_concatenates_m_samples_along_the_last_axis():
    x = jnp.arange(6 * 2, dtype=jnp.float32).reshape(6, 2)
    packed = packing.pack_samples(x, 3)
    assert packed.shape == (2, 6)
    np.testing.assert_array_equal(packed[0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(packed[1], [6, 7, 8, 9, 10, 11])
    images = jnp.arange(4 * 3 * 3 * 2, dtype=jnp.float32).reshape(4, 3, 3, 2)
    packed = packing.pack_samples(images, 2)
    assert packed.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(packed[1, 2, 0], [*images[2, 2, 0], *images[3, 2, 0]])
    assert packing.packed_shape((28, 28, 1), 4) == (28, 28, 4)
    # The discriminator is built for the packed input and scores B / m packs.
    config = _config(**{"tricks.pack": 2})
    state = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    first = jax.tree.leaves(state.discriminator.params["Dense_0"])
    assert any(leaf.shape == (4, 16) for leaf in first)
    with pytest.raises(ValueError, match="must divide"):
        packing.pack_samples(jnp.zeros((5, 2)), 2)


def test_bcr_penalty_is_zero_for_an_augmentation_invariant_critic():
    images = jax.random.normal(jax.random.key(0), (8, 4, 4, 1))
    # Flips cannot change a critic that sees only the mirror-symmetric part.
    invariant = lambda x: jnp.sum(x + x[:, :, ::-1], axis=(1, 2, 3))  # noqa: E731
    sensitive = lambda x: jnp.sum(x[:, :, :2], axis=(1, 2, 3))  # noqa: E731
    key = jax.random.key(1)
    assert float(consistency.augmentation_penalty(invariant, images, key, ("flip",))
                 ) == pytest.approx(0.0, abs=1e-9)
    penalty = consistency.augmentation_penalty(sensitive, images, key, ("flip",))
    flipped = augment.apply(images, key, ("flip",))
    expected = np.mean((np.asarray(sensitive(images)) - np.asarray(sensitive(flipped))) ** 2)
    assert float(penalty) == pytest.approx(expected, rel=1e-5) and expected > 0


def test_zcr_generator_term_is_the_mean_squared_difference():
    a = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    b = a + 0.5
    assert float(consistency.generator_diversity(a, b)) == pytest.approx(0.25)
    z = jnp.zeros((10_000, 4))
    perturbed = consistency.perturb_latents(z, jax.random.key(0), 0.1)
    assert float(jnp.std(perturbed)) == pytest.approx(0.1, rel=0.03)


def _lazy_objectives(interval):
    return objectives_lib.create(_config(**{"penalty.lazy_interval": interval,
                                            "penalty.weight": 0.3}))


def test_lazy_r1_phase_is_the_penalty_times_the_interval():
    config = _config()
    state = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    d = state.discriminator
    real, fake = _batch()["x"][0], _batch(2)["x"][0]
    key = jax.random.key(3)
    lazy = _lazy_objectives(4)
    grads, aux = jax.grad(lazy.regularizer, has_aux=True)(d.params, d, real, fake, key)

    def r1(params):
        critic = lambda x: d.apply_fn({"params": params}, x)  # noqa: E731
        input_grads = jax.vmap(jax.grad(lambda x: critic(x[None])[0]))(real)
        return jnp.mean(jnp.sum(input_grads ** 2, axis=1))

    expected = jax.grad(lambda p: 4 * 0.3 * r1(p))(d.params)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # The main discriminator objective no longer holds the penalty.
    assert "d_penalty" not in lazy.discriminator(d.params, d, real, fake, key)[1]["metrics"]
    assert _lazy_objectives(1).regularizer is None


def test_top_k_averages_the_k_best_rated_fakes():
    losses = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    logits = jnp.array([0.5, -1.0, 2.0, 0.0, 3.0])
    # The three highest logits are samples 4, 2, 0.
    assert float(top_k.top_k_mean(losses, logits, jnp.int32(3))) == pytest.approx(3.0)
    keep = functools.partial(top_k.keep_count, batch=100, min_fraction=0.25,
                             decay=0.5, every=10)
    assert [int(keep(s)) for s in (0, 9, 10, 25, 1000)] == [100, 100, 50, 25, 25]


def test_top_k_logs_k_as_a_metric_outside_the_loss():
    config = _config(**TRICKS_ON["top_k"])
    _, metrics = _train_step(config, num_steps=2)
    # Second generator step: k = max(0.5^1, 0.5) * 8.
    assert float(metrics["g_top_k"]) == 4.0
    assert "g_adversarial" not in metrics  # k is no term of g_loss.


def test_generator_objective_needs_a_key_when_a_trick_draws_randomness():
    config = _config(**{"tricks.augment": "jitter"})
    state = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    objectives = objectives_lib.create(config)
    latents = jnp.zeros((BATCH, 4), jnp.float32)
    with pytest.raises(ValueError, match="needs a PRNG `key`.*augmentation"):
        objectives.generator(state.generator.params, state.generator,
                             state.discriminator, _batch()["x"][0], latents)
    loss, _ = objectives.generator(state.generator.params, state.generator,
                                   state.discriminator, _batch()["x"][0], latents,
                                   key=jax.random.key(1))
    assert np.isfinite(float(loss))


def test_lecam_penalty_and_averages_follow_their_formulas():
    r = np.array([1.0, 2.0, 3.0], np.float32)
    f = np.array([-1.0, 0.0], np.float32)
    anchors = {"real": jnp.float32(0.5), "fake": jnp.float32(-0.5)}
    expected = np.mean((r + 0.5) ** 2) + np.mean((f - 0.5) ** 2)
    assert float(lecam.penalty(r, f, anchors)) == pytest.approx(expected, rel=1e-6)
    updated = lecam.update(anchors, r, f, decay=0.9)
    assert float(updated["real"]) == pytest.approx(0.9 * 0.5 + 0.1 * 2.0)
    assert float(updated["fake"]) == pytest.approx(0.9 * -0.5 + 0.1 * -0.5)


def test_began_equilibrium_and_convergence_measure():
    real, fake = jnp.array([0.4, 0.6]), jnp.array([0.1, 0.3])  # means 0.5, 0.2
    k = began.update_k(jnp.float32(0.2), real, fake, gamma=0.5, lambda_k=0.1)
    assert float(k) == pytest.approx(0.2 + 0.1 * (0.25 - 0.2))
    assert float(began.update_k(jnp.float32(0.99), real, fake, gamma=1.0,
                                lambda_k=1.0)) == 1.0  # Clipped to [0, 1].
    assert float(began.convergence(real, fake, 0.5)) == pytest.approx(0.5 + 0.05)


def test_running_statistics_live_in_the_state_and_move_each_critic_step():
    config = _config(**{"tricks.augment": "jitter", "tricks.ada": True,
                        "tricks.lecam_weight": 0.1, "optim.n_critic": 2})
    state = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    assert set(state.tricks) == {"ada", "lecam"}
    batch = {"x": jax.random.normal(jax.random.key(1), (2, BATCH, *SAMPLE_SHAPE))}
    new_state, metrics = jax.jit(experiment.make_train_step(config))(
        state, batch, jax.random.key(2))
    assert float(new_state.tricks["ada"]["count"]) == 2.0
    assert float(new_state.tricks["lecam"]["real"]) != 0.0
    assert {"ada_p", "ada_r_t", "lecam_real_ema", "lecam_fake_ema"} <= set(metrics)


def test_feature_matching_loss_is_the_squared_distance_of_means():
    real = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)   # mean (2, 3)
    fake = np.array([[0.0, 0.0], [2.0, 2.0]], np.float32)   # mean (1, 1)
    assert float(feature_matching.loss(real, fake)) == pytest.approx(1.0 + 4.0)
    # Replacing the adversarial loss leaves feature matching alone.
    config = _config(**{"tricks.feature_matching_weight": 1.0,
                        "tricks.feature_matching_replace": True})
    _, metrics = _train_step(config)
    assert float(metrics["g_adversarial"]) == 0.0
    assert float(metrics["g_loss"]) == pytest.approx(float(metrics["g_feature_matching"]))


def test_infogan_codes_are_one_hot_and_recovered():
    latents = steps.sample_latents(jax.random.key(0), 64, 6, categories=3)
    codes = steps.categorical_code(latents, 3)
    np.testing.assert_array_equal(np.asarray(latents[:, :3]),
                                  np.eye(3, dtype=np.float32)[np.asarray(codes)])
    assert len(set(np.asarray(codes).tolist())) == 3
    plain = steps.sample_latents(jax.random.key(0), 64, 6)
    np.testing.assert_array_equal(latents[:, 3:], plain[:, 3:])


@pytest.mark.parametrize("overrides, message", [
    ({"tricks.pack": 2, "model.num_classes": 10}, "unconditional"),
    ({"tricks.ada": True}, "tricks.augment"),
    ({"tricks.augment": "colour"}, "color"),
    ({"tricks.top_k_min_fraction": 0.5, "loss.name": "relativistic_average"},
     "per sample"),
    ({"loss.name": "began"}, "d_autoencoder"),
    ({"penalty.lazy_interval": 4, "penalty.name": "none"}, "penalty.name is none"),
    ({"loss.label_noise": 0.1, "loss.name": "hinge"}, "label_noise applies"),
    ({"tricks.acgan_weight": 1.0}, "num_classes"),
    ({"tricks.infogan_categories": 9}, "latent_dim"),
    ({"tricks.pack": 3}, "must divide"),
])
def test_bad_trick_settings_fail_with_the_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        experiment.validate_config(_config(**overrides))


def test_checkpoints_written_before_the_tricks_field_still_restore(tmp_path):
    from gan_jax import checkpoint
    config = _config()
    state = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(0))
    manager = checkpoint.create_manager(tmp_path, save_every=1)
    # An old GANState had exactly these three fields.
    old = {"generator": state.generator, "discriminator": state.discriminator,
           "ema_params": state.ema_params}
    import orbax.checkpoint as ocp
    manager.save(7, args=ocp.args.StandardSave(old))
    manager.wait_until_finished()
    template = experiment.create_state(config, SAMPLE_SHAPE, jax.random.key(1))
    restored, step = checkpoint.restore_latest(manager, template)
    assert step == 7 and restored.tricks == {}
    for a, b in zip(jax.tree.leaves(restored.generator.params),
                    jax.tree.leaves(state.generator.params)):
        np.testing.assert_array_equal(a, b)


def test_lazy_phase_over_vmapped_members_equals_each_member_alone():
    """The ablation runner's lazy phase: each member with its own penalty weight."""
    from gan_jax.ablation import members as members_lib
    config = _config(**{"penalty.lazy_interval": 2})
    members = members_lib.create([0, 1], [
        {"optim.g_lr": 2e-3, "optim.d_lr": 2e-3, "penalty.weight": w,
         "loss.label_smoothing": 0.0} for w in (0.1, 1.0)])
    states = members_lib.create_states(config, SAMPLE_SHAPE, members)
    batches = jnp.stack([_batch(1)["x"], _batch(2)["x"]])
    keys = members_lib.train_keys(members)
    numeric = {f: jnp.asarray(v) for f, v in members.numeric.items()}
    together, _ = jax.jit(members_lib.make_regularizer_step(config))(
        states, {"x": batches}, keys, numeric)
    for k, weight in enumerate((0.1, 1.0)):
        config.penalty.weight = weight
        alone, _ = jax.jit(experiment.make_regularizer_step(config))(
            members_lib.member_state(states, k), {"x": batches[k]}, keys[k])
        for a, b in zip(jax.tree.leaves(alone.discriminator.params),
                        jax.tree.leaves(members_lib.member_state(
                            together, k).discriminator.params)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert members_lib.make_regularizer_step(_config()) is None


def test_image_tricks_train_a_conditional_dcgan_step():
    """ACGAN's class head and DiffAugment's image ops in one compiled step."""
    config = defaults.image_config()
    defaults.make_tiny(config)
    config.model.latent_dim = 8
    config.model.num_classes = 10
    config.tricks.acgan_weight = 1.0
    config.tricks.augment = "color,translation,cutout"
    config.optim.n_critic = 1
    experiment.validate_config(config)
    state = experiment.create_state(config, (28, 28, 1), jax.random.key(0))
    assert state.discriminator.params["aux_head"]["kernel"].shape[-1] == 10
    batch = {"x": jax.random.uniform(jax.random.key(1), (1, 8, 28, 28, 1),
                                     minval=-1.0, maxval=1.0),
             "label": jnp.arange(8, dtype=jnp.int32)[None]}
    _, metrics = jax.jit(experiment.make_train_step(config))(
        state, batch, jax.random.key(2))
    # An untrained head is near chance on 10 classes: cross-entropy ~ log 10,
    # summed over the real and fake terms for D.
    assert float(metrics["g_acgan"]) == pytest.approx(np.log(10), rel=0.3)
    assert float(metrics["d_acgan"]) == pytest.approx(2 * np.log(10), rel=0.3)
