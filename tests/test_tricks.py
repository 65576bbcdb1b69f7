"""The stabilisation tricks: off changes nothing, on does what its paper says."""

import functools
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
import flax.linen as nn
import numpy as np
import optax
import pytest

from gan_jax import defaults
from gan_jax import losses
from gan_jax.game import objectives as objectives_lib
from gan_jax.game import latents as latents_lib
from gan_jax.game import steps
from gan_jax.game.state import apply_discriminator
from gan_jax.game.state import GANState
from gan_jax.game.state import NetworkState
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.tricks import augment
from gan_jax.tricks import began
from gan_jax.tricks import consistency
from gan_jax.tricks import feature_matching
from gan_jax.tricks import instance_noise
from gan_jax.tricks import label_noise
from gan_jax.tricks import lecam
from gan_jax.tricks import options as options_lib
from gan_jax.tricks import packing
from gan_jax.tricks import top_k
from gan_jax.tricks import unrolled
import gradient_checks  # tests/gradient_checks.py
import small_toy  # tests/small_toy.py

SAMPLE_SHAPE = (2,)
BATCH = small_toy.BATCH
# The largest float32 reduction of these MLP steps: a kernel gradient sums over
# the batch, back-propagation over the 16 hidden units.
MLP_REDUCED_TERMS = BATCH * 16


_config = small_toy.config


def _spec(**overrides):
    return gan_spec.build(_config(**overrides))


def _batch(seed=1):
    return {"x": jax.random.normal(jax.random.key(seed), (1, BATCH, *SAMPLE_SHAPE))}


def _train_step(spec, state=None, num_steps=1):
    state = state or experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    step = jax.jit(experiment.make_train_step(spec))
    for _ in range(num_steps):
        state, metrics = step(state, _batch(), jax.random.key(2))
    return state, metrics


def test_the_default_step_is_the_plain_gan_step():
    """With every trick off, one train step equals a hand-written non-saturating
    GAN step with R1 (same keys, same optimizers), and keeps no trick state."""
    spec = _spec()
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    assert state.tricks == {}
    new_state, metrics = _train_step(spec, state)

    g, d = state.generator, state.discriminator
    real, key, weight = _batch()["x"][0], jax.random.key(2), spec.penalty.weight
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

    g_latents = jax.random.normal(jax.random.fold_in(step_key, 1), (BATCH, 4),
                                  jnp.float32)
    # Against the discriminator the step's critic update produced (another
    # program's Adam step could differ from it by sign flips of float-noise
    # gradients: tests/gradient_checks.py).
    d_params = new_state.discriminator.params

    def g_loss(params):
        fake_logits = d.apply_fn({"params": d_params},
                                 g.apply_fn({"params": params}, g_latents))
        return jnp.mean(jax.nn.softplus(-fake_logits))

    gradient_checks.assert_took_one_step_on(
        new_state.discriminator, jax.jit(jax.grad(d_loss))(d.params),
        spec.optim.d_b1, MLP_REDUCED_TERMS)
    gradient_checks.assert_took_one_step_on(
        new_state.generator, jax.jit(jax.grad(g_loss))(g.params),
        spec.optim.g_b1, MLP_REDUCED_TERMS)
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
    return _train_step(_spec())


# Float error of the step against the hand computations below: n 2^-24 (n the
# largest reduction, tests/gradient_checks.py) of the magnitudes involved;
# the inputs are N(0, 1) and the LeCun-initialised layers keep activations,
# and so the sums that form a logit, of order 1.
def _assert_close(got, want, *magnitudes):
    scale = 1.0 + abs(float(want)) + sum(abs(float(m)) for m in magnitudes)
    assert abs(float(got) - float(want)) <= MLP_REDUCED_TERMS * 2.0**-24 * scale, (
        float(got), float(want))


def _critic(network, params=None):
    params = network.params if params is None else params
    return lambda x: network.apply_fn({"params": params}, x)


def _sown(network, x):
    """What the discriminator `network` sows on `x` (features, aux logits)."""
    return apply_discriminator(network, network.params, x, labels=None, train=True,
                               capture=True)[2]


def _softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))


class _Step(NamedTuple):
    """One `_train_step` from `state` and, derived by hand as in the test
    above, what its critic step (n_critic = 1) and generator step drew."""
    spec: gan_spec.GanSpec
    state: GANState  # Before the step.
    new: GANState
    metrics: dict
    real: jax.Array
    fake: jax.Array  # The critic step's fakes, G(d_latents).
    d_latents: jax.Array
    latent_key: jax.Array
    penalty_key: jax.Array  # The key of the discriminator objective.
    g_latents: jax.Array
    g_fake: jax.Array  # The generator step's fakes.
    g_key: jax.Array  # The key of the generator objective.


def _one_step(spec, state=None):
    state = state or experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    new, metrics = _train_step(spec, state)
    step_key = jax.random.fold_in(jax.random.key(2), int(state.step))
    critic_key = jax.random.split(jax.random.fold_in(step_key, 0), 1)[0]
    latent_key, penalty_key = jax.random.split(critic_key)
    g_step_key = jax.random.fold_in(step_key, 1)
    categories = spec.tricks.infogan_categories
    d_latents = latents_lib.sample_latents(latent_key, BATCH, 4, categories)
    g_latents = latents_lib.sample_latents(g_step_key, BATCH, 4, categories)
    g = state.generator
    generate = lambda z: g.apply_fn({"params": g.params}, z)  # noqa: E731
    return _Step(spec, state, new, {k: float(v) for k, v in metrics.items()},
                 _batch()["x"][0], generate(d_latents), d_latents, latent_key,
                 penalty_key, g_latents, generate(g_latents),
                 jax.random.fold_in(g_step_key, 2))


# The objectives' random streams (fixed `fold_in` indices).
# pylint: disable=protected-access
REAL_IN, FAKE_IN = objectives_lib._REAL_INPUT_STREAM, objectives_lib._FAKE_INPUT_STREAM
LABEL_NOISE, ZCR = label_noise.STREAM, consistency.ZCR_STREAM
CR_REAL, CR_FAKE = consistency.CR_REAL_STREAM, consistency.CR_FAKE_STREAM
# pylint: enable=protected-access


def _input_key(key, stream, op):
    """`prepare_inputs`' key of a trick `op` (0: augmentation, 1: noise) for
    the samples of `stream` (real or fake)."""
    return jax.random.fold_in(jax.random.fold_in(key, stream), op)


def _check_feature_matching(s, plain):
    # |E f(real) - E f(G(z))|^2 over the critic's last hidden layer, by hand.
    p = s.new.discriminator.params["Dense_0"]
    features = lambda x: jax.nn.leaky_relu(x @ p["kernel"] + p["bias"], 0.2)  # noqa: E731
    real_mean, fake_mean = (np.mean(features(x), axis=0) for x in (s.real, s.g_fake))
    expected = np.sum((real_mean - fake_mean) ** 2)
    assert expected > 0
    _assert_close(s.metrics["g_feature_matching"], expected,
                  np.sum((np.abs(real_mean) + np.abs(fake_mean)) ** 2))
    _assert_close(s.metrics["g_loss"], s.metrics["g_adversarial"] + expected,
                  s.metrics["g_adversarial"])
    _assert_close(s.metrics["d_loss"], plain["d_loss"])  # D is untouched.


def _check_instance_noise(s, plain):
    # The critic sees x + sigma n, sigma = 0.3 constant (noise_steps = 0).
    assert s.metrics["noise_std"] == pytest.approx(0.3, rel=1e-7)
    critic = _critic(s.state.discriminator)
    for x, stream, name in ((s.real, REAL_IN, "d_real_logit"),
                            (s.fake, FAKE_IN, "d_fake_logit")):
        noise = jax.random.normal(_input_key(s.penalty_key, stream, 1), x.shape)
        _assert_close(s.metrics[name], np.mean(critic(x + 0.3 * noise)))


def _check_unrolled(s, plain):
    # G plays against the critic after 2 more of its own Adam steps (from its
    # optimizer state after this step's update) on the generator's fakes.
    d = s.new.discriminator
    loss = losses.get("non_saturating")
    d_loss = lambda params: loss.discriminator(  # noqa: E731
        _critic(d, params)(s.real), _critic(d, params)(s.g_fake))
    unrolled_params = unrolled.unroll(d.params, d.opt_state, d.tx, d_loss, 2)
    expected = np.mean(_softplus(-_critic(d, unrolled_params)(s.g_fake)))
    _assert_close(s.metrics["g_loss"], expected)
    against_current = np.mean(_softplus(-_critic(d)(s.g_fake)))
    assert abs(expected - against_current) > 1e-4


def _check_pack(s, plain):
    # The critic scores B / 2 packs (x_2i, x_2i+1) side by side.
    critic = _critic(s.state.discriminator)
    _assert_close(s.metrics["d_real_logit"],
                  np.mean(critic(s.real.reshape(BATCH // 2, 4))))
    _assert_close(s.metrics["d_fake_logit"],
                  np.mean(critic(s.fake.reshape(BATCH // 2, 4))))


def _check_augment(s, plain):
    # Both players' critic inputs are augmented (DiffAugment: G's gradient
    # passes through the augmentation).
    jitter = lambda x, key, stream: augment.apply(  # noqa: E731
        x, _input_key(key, stream, 0), ("jitter",))
    critic = _critic(s.state.discriminator)
    _assert_close(s.metrics["d_real_logit"],
                  np.mean(critic(jitter(s.real, s.penalty_key, REAL_IN))))
    _assert_close(s.metrics["d_fake_logit"],
                  np.mean(critic(jitter(s.fake, s.penalty_key, FAKE_IN))))
    g_fake = jitter(s.g_fake, s.g_key, FAKE_IN)
    _assert_close(s.metrics["g_loss"],
                  np.mean(_softplus(-_critic(s.new.discriminator)(g_fake))))


def _check_consistency(s, plain, side, stream):
    # E[(D(x) - D(T(x)))^2] > 0 on reals (CR) or fakes (bCR), added with its
    # weight 1e3; the rest of the critic's loss is the plain one.
    x, weight, name = getattr(s, side), 1e3, f"d_cr_{side}"
    critic = _critic(s.state.discriminator)
    moved = augment.apply(x, jax.random.fold_in(s.penalty_key, stream), ("jitter",))
    expected = np.mean((critic(x) - critic(moved)) ** 2)
    assert expected > 0
    _assert_close(s.metrics[name], expected)
    _assert_close(s.metrics["d_loss"] - plain["d_loss"], weight * expected,
                  s.metrics["d_loss"], plain["d_loss"])
    _assert_close(s.metrics["d_adversarial"], plain["d_adversarial"])


def _check_zcr(s, plain):
    # D: 10 E[(D(G(z)) - D(G(z + dz)))^2]; G: -10 E[||G(z) - G(z + dz)||^2]
    # (squared norm per sample, mean over the batch), dz ~ N(0, 0.5^2): the
    # generator is rewarded for varying with z.
    g = s.state.generator
    generate = lambda z: g.apply_fn({"params": g.params}, z)  # noqa: E731
    critic = _critic(s.state.discriminator)
    dz = 0.5 * jax.random.normal(jax.random.fold_in(s.latent_key, 2), s.d_latents.shape)
    d_term = np.mean((critic(s.fake) - critic(generate(s.d_latents + dz))) ** 2)
    _assert_close(s.metrics["d_zcr"], d_term)
    _assert_close(s.metrics["d_loss"] - plain["d_loss"], 10.0 * d_term,
                  s.metrics["d_loss"], plain["d_loss"])
    dz = 0.5 * jax.random.normal(jax.random.fold_in(s.g_key, ZCR), s.g_latents.shape)
    g_term = np.mean(np.sum((s.g_fake - generate(s.g_latents + dz)) ** 2, axis=-1))
    assert g_term > 0
    _assert_close(s.metrics["g_zcr"], g_term)
    _assert_close(s.metrics["g_loss"], s.metrics["g_adversarial"] - 10.0 * g_term,
                  s.metrics["g_adversarial"])


def _check_lecam(s, plain):
    # The anchors start at 0: the penalty is E[D(x)^2] + E[D(G(z))^2], which
    # is at least the squares of the mean logits; then the EMAs move by 1%.
    critic = _critic(s.state.discriminator)
    expected = np.mean(critic(s.real) ** 2) + np.mean(critic(s.fake) ** 2)
    _assert_close(s.metrics["d_lecam"], expected)
    assert expected >= s.metrics["d_real_logit"] ** 2 + s.metrics["d_fake_logit"] ** 2
    _assert_close(s.metrics["d_loss"] - plain["d_loss"], expected,
                  s.metrics["d_loss"], plain["d_loss"])
    for side in ("real", "fake"):
        _assert_close(s.metrics[f"lecam_{side}_ema"], 0.01 * s.metrics[f"d_{side}_logit"])
        assert float(s.new.tricks["lecam"][side]) == s.metrics[f"lecam_{side}_ema"]


def _check_lazy_r1(s, plain):
    # The penalty leaves the critic's loss (the plain step had 0.1 R1 > 0).
    assert "d_penalty" not in s.metrics
    assert plain["d_loss"] - plain["d_adversarial"] > 0
    _assert_close(s.metrics["d_loss"], s.metrics["d_adversarial"])
    _assert_close(s.metrics["d_adversarial"], plain["d_adversarial"])


def _check_top_k(s, plain):
    # At step 1, k = max(0.5^1, 0.5) * 8 = 4: G's loss is the mean over the 4
    # fakes the critic rates highest, below the mean over all of them.
    logits = np.asarray(_critic(s.new.discriminator)(s.g_fake), np.float64)
    per_sample = _softplus(-logits)
    expected = np.mean(per_sample[np.argsort(-logits)[:4]])
    assert s.metrics["g_top_k"] == 4.0 and "g_adversarial" not in s.metrics
    _assert_close(s.metrics["g_loss"], expected)
    assert expected < np.mean(per_sample)


def _check_label_noise(s, plain):
    # Real targets 1 - 0.5 u, u ~ U(0, 1): the loss gains E[0.5 u D(x)].
    u = jax.random.uniform(jax.random.fold_in(s.penalty_key, LABEL_NOISE), (BATCH,))
    expected = 0.5 * np.mean(u * _critic(s.state.discriminator)(s.real))
    _assert_close(s.metrics["d_loss"] - plain["d_loss"], expected,
                  s.metrics["d_loss"], plain["d_loss"])


def _check_infogan(s, plain):
    # Both players pay the cross-entropy of the code from the aux head.
    def cross_entropy(network, x, latents):
        logits = np.asarray(_sown(network, x)["aux_logits"], np.float64)
        codes = np.argmax(np.asarray(latents)[:, :2], axis=1)
        log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        return -np.mean(log_p[np.arange(BATCH), codes])

    d_term = cross_entropy(s.state.discriminator, s.fake, s.d_latents)
    g_term = cross_entropy(s.new.discriminator, s.g_fake, s.g_latents)
    _assert_close(s.metrics["d_infogan"], d_term)
    _assert_close(s.metrics["g_infogan"], g_term)
    _assert_close(s.metrics["d_loss"], s.metrics["d_adversarial"]
                  + s.spec.penalty.weight * s.metrics["d_penalty"] + d_term,
                  s.metrics["d_adversarial"], s.metrics["d_penalty"])
    _assert_close(s.metrics["g_loss"], s.metrics["g_adversarial"] + g_term,
                  s.metrics["g_adversarial"])


def _check_began(s, plain):
    # Energies are L1 errors (>= 0); k starts at 0, so D's loss is the real
    # energy; then k and the convergence measure follow BEGAN's formulas.
    real, fake = s.metrics["d_real_logit"], s.metrics["d_fake_logit"]
    assert real > 0 and fake > 0 and s.metrics["g_loss"] > 0
    _assert_close(s.metrics["d_adversarial"], real)
    _assert_close(s.metrics["began_k"], np.clip(0.001 * (0.5 * real - fake), 0, 1))
    _assert_close(s.metrics["began_convergence"], real + abs(0.5 * real - fake))
    _assert_close(s.metrics["g_loss"], np.mean(_critic(s.new.discriminator)(s.g_fake)))


TRICK_CHECKS = {
    "feature_matching": _check_feature_matching,
    "instance_noise": _check_instance_noise,
    "unrolled": _check_unrolled,
    "pack": _check_pack,
    "augment": _check_augment,
    "cr": functools.partial(_check_consistency, side="real", stream=CR_REAL),
    "bcr": functools.partial(_check_consistency, side="fake", stream=CR_FAKE),
    "zcr": _check_zcr,
    "lecam": _check_lecam,
    "lazy_r1": _check_lazy_r1,
    "top_k": _check_top_k,
    "label_noise": _check_label_noise,
    "infogan": _check_infogan,
    "began": _check_began,
}


@pytest.mark.parametrize("name", sorted(TRICKS_ON))
def test_each_trick_acts_in_the_step_as_its_formula_says(name, plain_step):
    """Every switch reaches the compiled step with the effect its paper gives
    it, checked against the step's first critic update and its generator
    update computed by hand (the plain step being the one tested above).
    (ADA starts at p = 0, so its first step is the plain one; its state is
    tested below.)"""
    spec = _spec(**TRICKS_ON[name])
    state = None
    if name == "top_k":  # k first drops at step 1.
        state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
        state = state.replace(generator=state.generator.replace(step=1))
    s = _one_step(spec, state)
    assert all(np.isfinite(v) for v in s.metrics.values())
    plain = {k: float(v) for k, v in plain_step[1].items()}
    TRICK_CHECKS[name](s, plain)


def test_instance_noise_variance_follows_the_schedule():
    options = options_lib.from_config(_config(**{"tricks.noise_std": 0.5,
                                                 "tricks.noise_steps": 100}))
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
    states = []
    for module, shape, seed in ((_LinearGenerator(), (1, 2), 3),
                                (_SmoothCritic(), (1, 2), 4)):
        params = module.init(jax.random.key(seed), jnp.zeros(shape))["params"]
        states.append(NetworkState.create(apply_fn=module.apply, params=params,
                                          batch_stats={}, tx=optax.sgd(0.5)))
    real = jax.random.normal(jax.random.key(4), (6, 2)) + 1.0
    latents = jax.random.normal(jax.random.key(5), (6, 2))
    return (*states, real, latents)


def _generator_loss(g_state, d_state, real, latents, unrolled_steps):
    spec = _spec(**{"model.latent_dim": 2, "tricks.unrolled_steps": unrolled_steps})
    objective = objectives_lib.create(spec).generator
    return lambda params: objective(params, g_state, d_state, real, latents)[0]


@pytest.mark.slow
def test_unrolled_gradient_differs_from_plain_and_matches_finite_differences():
    g_state, d_state, real, latents = _tiny_unrolled_problem()
    loss_unrolled = _generator_loss(g_state, d_state, real, latents, 3)
    loss_plain = _generator_loss(g_state, d_state, real, latents, 0)
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
    spec = _spec(**{"tricks.pack": 2})
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
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


def _sum_error_bound(terms: np.ndarray) -> float:
    """float32 rounding of sum(terms), each term rounded too: (n + 1) eps
    sum|terms| (the worst case of a sequential sum)."""
    return (terms.size + 1) * float(np.finfo(np.float32).eps) * float(np.sum(np.abs(terms)))


def test_zcr_generator_term_is_the_per_sample_squared_norm():
    """Zhao et al. 2021's L_G = -lambda_gen ||G(z) - G(T(z))||^2: the squared
    norm of each sample's difference, then the mean over the batch."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    b = (a + rng.normal(0.0, 0.5, a.shape)).astype(np.float32)
    got = float(jax.jit(consistency.generator_diversity)(a, b))
    diff = a.astype(np.float64) - b.astype(np.float64)
    per_sample = np.sum(diff.reshape(4, -1) ** 2, axis=1)
    want = float(np.mean(per_sample))
    per_element = float(np.mean(diff ** 2))
    print(f"zCR G term: got {got:.6f}, per-sample norm {want:.6f}, "
          f"per-element mean {per_element:.6f}")
    # 18 squared differences per sample, then 4 samples; the differences
    # themselves are exact in float32 to within eps |a - b|.
    assert got == pytest.approx(want, rel=0, abs=_sum_error_bound(diff ** 2)
                                + 2 * float(np.finfo(np.float32).eps) * want)
    # Exact on a hand-made case: every sample differs by 0.5 in 3 entries.
    assert float(consistency.generator_diversity(
        np.zeros((2, 3), np.float32), np.full((2, 3), 0.5, np.float32))) == 0.75
    z = jnp.zeros((10_000, 4))
    perturbed = consistency.perturb_latents(z, jax.random.key(0), 0.1)
    assert float(jnp.std(perturbed)) == pytest.approx(0.1, rel=0.03)


def test_consistency_terms_of_d_are_per_sample_squared_norms():
    """CR's and zCR's D terms, ||D(x) - D(x')||^2 per sample then the batch
    mean (Zhang et al. 2020; Zhao et al. 2021): for a scalar D the squared
    difference, for a D with several outputs per sample their squared norm."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    x_other = (x + rng.normal(0.0, 0.3, x.shape)).astype(np.float32)
    weights = rng.normal(size=(4, 3)).astype(np.float32)
    for critic_weights in (weights[:, :1], weights):  # (B, 1) and (B, 3) outputs.
        critic = lambda v, w=critic_weights: v @ w  # noqa: E731
        got = float(jax.jit(lambda a, b: consistency.output_difference(critic, a, b))(
            x, x_other))
        outputs = x.astype(np.float64) @ critic_weights
        other = x_other.astype(np.float64) @ critic_weights
        diff = outputs - other
        want = float(np.mean(np.sum(diff ** 2, axis=1)))
        # Each output is a 4-term float32 dot: off by 4 eps |x| @ |w|.
        output_error = 4 * float(np.finfo(np.float32).eps) * float(np.max(
            (np.abs(x) + np.abs(x_other)) @ np.abs(critic_weights)))
        tolerance = (2 * np.max(np.abs(diff)) * output_error * critic_weights.shape[1]
                     + _sum_error_bound(diff ** 2))
        print(f"D term, {critic_weights.shape[1]} outputs: got {got:.6f}, "
              f"per-sample norm {want:.6f}")
        assert got == pytest.approx(want, rel=0, abs=tolerance)
    z = jnp.zeros((10_000, 4))
    perturbed = consistency.perturb_latents(z, jax.random.key(0), 0.1)
    assert float(jnp.std(perturbed)) == pytest.approx(0.1, rel=0.03)


def _lazy_objectives(interval):
    return objectives_lib.create(_spec(**{"penalty.lazy_interval": interval,
                                            "penalty.weight": 0.3}))


def test_lazy_r1_phase_is_the_penalty_times_the_interval():
    spec = _spec()
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
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
    gradient_checks.assert_norms_close(grads, expected, MLP_REDUCED_TERMS)
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


def test_generator_objective_needs_a_key_when_a_trick_draws_randomness():
    spec = _spec(**{"tricks.augment": "jitter"})
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    objectives = objectives_lib.create(spec)
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
    spec = _spec(**{"tricks.augment": "jitter", "tricks.ada": True,
                        "tricks.lecam_weight": 0.1, "optim.n_critic": 2})
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    assert set(state.tricks) == {"ada", "lecam"}
    batch = {"x": jax.random.normal(jax.random.key(1), (2, BATCH, *SAMPLE_SHAPE))}
    new_state, metrics = jax.jit(experiment.make_train_step(spec))(
        state, batch, jax.random.key(2))
    assert float(new_state.tricks["ada"]["count"]) == 2.0
    assert {"ada_p", "ada_r_t", "lecam_real_ema", "lecam_fake_ema"} <= set(metrics)
    # LeCam's real EMA moved in each critic step: e1 = 0.01 m1 from 0, then
    # e2 = 0.99 e1 + 0.01 m2, m_i the steps' mean real logits. Metrics are
    # the means over the two steps, so e1 = 2 mean(e) - e2 and
    # mean(m) = (100 e1 + 100 (e2 - 0.99 e1)) / 2 = 50 (e2 + 0.01 e1).
    e2 = float(new_state.tricks["lecam"]["real"])
    e1 = 2 * float(metrics["lecam_real_ema"]) - e2
    # Float error: n 2^-24 of the logits' size, 100 |e|.
    np.testing.assert_allclose(float(metrics["d_real_logit"]), 50 * (e2 + 0.01 * e1),
                               rtol=0, atol=MLP_REDUCED_TERMS * 2.0**-24
                               * (1 + 100 * (abs(e1) + abs(e2))))


def test_feature_matching_loss_is_the_squared_distance_of_means():
    real = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)   # mean (2, 3)
    fake = np.array([[0.0, 0.0], [2.0, 2.0]], np.float32)   # mean (1, 1)
    assert float(feature_matching.loss(real, fake)) == pytest.approx(1.0 + 4.0)
    # Replacing the adversarial loss leaves feature matching alone.
    spec = _spec(**{"tricks.feature_matching_weight": 1.0,
                        "tricks.feature_matching_replace": True})
    _, metrics = _train_step(spec)
    assert float(metrics["g_adversarial"]) == 0.0
    assert float(metrics["g_loss"]) == pytest.approx(float(metrics["g_feature_matching"]))


def test_infogan_codes_are_one_hot_and_recovered():
    latents = latents_lib.sample_latents(jax.random.key(0), 64, 6, categories=3)
    codes = steps.categorical_code(latents, 3)
    np.testing.assert_array_equal(np.asarray(latents[:, :3]),
                                  np.eye(3, dtype=np.float32)[np.asarray(codes)])
    assert len(set(np.asarray(codes).tolist())) == 3
    plain = latents_lib.sample_latents(jax.random.key(0), 64, 6)
    np.testing.assert_array_equal(latents[:, 3:], plain[:, 3:])


@pytest.mark.parametrize("overrides, message", [
    ({"tricks.pack": 2, "model.num_classes": 10}, "unconditional"),
    ({"tricks.pack": 2, "model.num_classes": 10}, "--config.tricks.pack=1"),
    ({"tricks.ada": True}, "tricks.augment"),
    ({"tricks.augment": "colour"}, "color"),
    ({"tricks.top_k_min_fraction": 0.5, "loss.name": "relativistic_average"},
     "per sample"),
    ({"loss.name": "began"}, "d_autoencoder"),
    ({"loss.name": "began", "model.d_autoencoder": True,
      "tricks.feature_matching_weight": 1.0},
     "--config.tricks.feature_matching_weight=0.0"),
    ({"penalty.lazy_interval": 4, "penalty.name": "none"}, "penalty.name is none"),
    ({"loss.label_noise": 0.1, "loss.name": "hinge"}, "label_noise=0.1 applies"),
    ({"loss.label_noise": 0.5, "loss.label_smoothing": 0.6},
     r"stay below 1 .* --config.loss.label_noise=0.2\.$"),
    ({"tricks.acgan_weight": 1.0}, "num_classes"),
    ({"tricks.infogan_categories": 9}, "latent_dim"),
    ({"tricks.infogan_categories": 9}, "--config.tricks.infogan_categories=4"),
    ({"tricks.cr_real_weight": 1.0, "tricks.cr_augment": ""},
     "--config.tricks.cr_augment=translation"),
    ({"tricks.pack": 3}, r"must divide --config.data.batch_size=8.* e.g. 2,"),
])
def test_bad_trick_settings_fail_with_the_fix(overrides, message):
    with pytest.raises(ValueError, match=message) as error:
        gan_spec.build(_config(**overrides))
    # One paragraph, every flag written as it is set on the command line.
    text = str(error.value)
    assert "\n" not in text and not re.search(r"(?<!--)config\.", text), text


def test_checkpoints_written_before_the_tricks_field_still_restore(tmp_path):
    from gan_jax.run import checkpoint
    spec = _spec()
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    manager = checkpoint.create_manager(tmp_path, save_every=1)
    # An old GANState had exactly these three fields.
    old = {"generator": state.generator, "discriminator": state.discriminator,
           "ema_params": state.ema_params}
    import orbax.checkpoint as ocp
    manager.save(7, args=ocp.args.StandardSave(old))
    manager.wait_until_finished()
    template = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(1))
    restored, step = checkpoint.restore_latest(manager, template)
    assert step == 7 and restored.tricks == {}
    for a, b in zip(jax.tree.leaves(restored.generator.params),
                    jax.tree.leaves(state.generator.params)):
        np.testing.assert_array_equal(a, b)


def test_lazy_phase_over_vmapped_members_equals_each_member_alone():
    """The ablation runner's lazy phase: each member with its own penalty weight."""
    from gan_jax.sweep import members as members_lib
    from gan_jax.run import gan_phases
    spec = _spec(**{"penalty.lazy_interval": 2})
    members = members_lib.create([0, 1], [
        {"optim.g_lr": 2e-3, "optim.d_lr": 2e-3, "penalty.weight": w,
         "loss.label_smoothing": 0.0} for w in (0.1, 1.0)])
    states = members_lib.create_states(spec, SAMPLE_SHAPE, members)
    batches = jnp.stack([_batch(1)["x"], _batch(2)["x"]])
    keys = members_lib.train_keys(members)
    numeric = {f: jnp.asarray(v) for f, v in members.numeric.items()}
    [_, lazy_phase] = gan_phases.phases(spec, vmapped=True)
    assert lazy_phase.every == 2 and not lazy_phase.ends_step
    together, _ = jax.jit(lazy_phase.step_fn)(states, {"x": batches}, keys, numeric)
    for k, weight in enumerate((0.1, 1.0)):
        alone_spec = _spec(**{"penalty.lazy_interval": 2, "penalty.weight": weight})
        alone, _ = jax.jit(experiment.make_regularizer_step(alone_spec))(
            members_lib.member_state(states, k), {"x": batches[k]}, keys[k])
        # vmap batches the members' matrix products: other reduction orders.
        gradient_checks.assert_same_gradients(
            alone.discriminator, members_lib.member_state(together, k).discriminator,
            MLP_REDUCED_TERMS)
    assert [p.name for p in gan_phases.phases(_spec(), vmapped=True)] == ["train"]


@pytest.mark.slow
def test_image_tricks_train_a_conditional_dcgan_step():
    """ACGAN's class head and DiffAugment's image ops in one compiled step."""
    config = defaults.image_config()
    defaults.make_tiny(config)
    config.model.latent_dim = 8
    config.model.num_classes = 10
    config.tricks.acgan_weight = 1.0
    config.tricks.augment = "color,translation,cutout"
    config.optim.n_critic = 1
    spec = gan_spec.build(config)
    state = experiment.create_state(spec, (28, 28, 1), jax.random.key(0))
    assert state.discriminator.params["aux_head"]["kernel"].shape[-1] == 10
    batch = {"x": jax.random.uniform(jax.random.key(1), (1, 8, 28, 28, 1),
                                     minval=-1.0, maxval=1.0),
             "label": jnp.arange(8, dtype=jnp.int32)[None]}
    _, metrics = jax.jit(experiment.make_train_step(spec))(
        state, batch, jax.random.key(2))
    # An untrained head is near chance on 10 classes: cross-entropy ~ log 10,
    # summed over the real and fake terms for D.
    assert float(metrics["g_acgan"]) == pytest.approx(np.log(10), rel=0.3)
    assert float(metrics["d_acgan"]) == pytest.approx(2 * np.log(10), rel=0.3)


# ADA's step (Karras et al. 2020; stylegan2-ada-pytorch training_loop.py):
# sign(r_t - target) * batch * interval / (ada_kimg * 1000), ada_kimg = 500,
# so that p can cross [0, 1] in ada_kimg thousand real images whatever the
# batch size. Hand-computed: 8 * 4 / 500,000 = 6.4e-5; 64 * 2 / 500,000 =
# 2.56e-4; 64 * 4 / 100,000 = 2.56e-3.
@pytest.mark.parametrize("batch_size, interval, kimg, step", [
    (8, 4, None, 6.4e-5), (64, 2, None, 2.56e-4), (64, 4, 100.0, 2.56e-3)])
@pytest.mark.parametrize("sign, start", [(1.0, 0.5), (-1.0, 0.5),
                                         (1.0, 0.99995), (-1.0, 0.00003)])
def test_ada_step_is_batch_times_interval_over_ada_kimg(batch_size, interval, kimg,
                                                         step, sign, start):
    overrides = {"tricks.augment": "jitter", "tricks.ada": True,
                 "tricks.ada_interval": interval, "data.batch_size": batch_size}
    if kimg is not None:
        overrides["tricks.ada_kimg"] = kimg
    options = _spec(**overrides).tricks
    update = jax.jit(functools.partial(options_lib.update_state, options))
    state = {"ada": dict(augment.ada_init(), p=jnp.float32(start))}
    # All reals scored positive (r_t = 1 > 0.6: p rises) or negative (falls).
    real = jnp.full((batch_size,), sign, jnp.float32)
    for _ in range(interval - 1):
        state, _ = update(state, {"real": real, "fake": -real})
        assert float(state["ada"]["p"]) == np.float32(start)
    state, metrics = update(state, {"real": real, "fake": -real})
    want = min(max(float(np.float32(start)) + sign * step, 0.0), 1.0)
    got = float(state["ada"]["p"])
    print(f"p: {start} -> {got} (want {want})")
    # p + step is one float32 addition of float32 values: half an ulp of
    # the result, plus the step's own rounding to float32.
    assert got == pytest.approx(want, rel=0, abs=float(np.spacing(np.float32(1.0))))
    assert float(metrics["ada_p"]) == got


def test_ada_kimg_must_be_positive():
    with pytest.raises(ValueError, match=r"--config\.tricks\.ada_kimg") as error:
        gan_spec.build(_config(**{"tricks.augment": "jitter", "tricks.ada": True,
                                  "tricks.ada_kimg": 0.0}))
    assert "\n" not in str(error.value)
