"""Progressive growing (Karras et al. 2018): the schedule, the fade-in of both
networks and of the real images against their formulas, the pieces (pixel
norm, equalised learning rate, minibatch stddev, the drift term) against
NumPy, the refusals, and a run stopped in the middle of a fade-in and resumed
bit for bit."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import models
from gan_jax import train
from gan_jax.game import growth
from gan_jax.game import objectives as objectives_lib
from gan_jax.game.state import GANState
from gan_jax.game.state import NetworkState
from gan_jax.models import progressive
from gan_jax.models import stylegan2
from gan_jax.run import experiment
from gan_jax.run import gan_phases
from gan_jax.run import gan_spec
from gan_jax.tricks import drift
import config_files  # tests/config_files.py
import idx_digits  # tests/idx_digits.py
import small_toy  # tests/small_toy.py

EPS32 = 2.0**-24  # Unit roundoff of float32.
SIZE = 16
SHAPE = (SIZE, SIZE, 1)
LATENT = 8
NETWORK = dict(sample_shape=SHAPE, channel_base=64, channel_max=8, start_resolution=4)


def _rng(seed):
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def networks():
    """A 16x16 progressive G and D (stages 4, 8, 16) and their variables."""
    generator = progressive.ProgressiveGenerator(**NETWORK)
    discriminator = progressive.ProgressiveDiscriminator(minibatch_stddev_group=2,
                                                         **NETWORK)
    z = jnp.asarray(_rng(0).standard_normal((4, LATENT)), jnp.float32)
    x = jnp.asarray(_rng(1).uniform(-1, 1, (4, *SHAPE)), jnp.float32)
    g_vars = jax.jit(generator.init)(jax.random.key(0), z)
    d_vars = jax.jit(discriminator.init)(jax.random.key(1), x)
    return generator, discriminator, g_vars, d_vars, z, x


@functools.lru_cache
def _compiled(module, resolution):
    """`module` at stage `resolution`, jitted once, alpha an argument."""
    staged = module.clone(resolution=resolution)
    return jax.jit(lambda v, i, a: staged.apply(v, i, alpha=a))


def _run(module, variables, inputs, resolution, alpha):
    return np.asarray(_compiled(module, resolution)(variables, inputs,
                                                    jnp.float32(alpha)), np.float64)


# --- The schedule -------------------------------------------------------------


def test_stages_and_alpha_follow_the_schedule():
    options = models.ProgressiveOptions(start_resolution=4, stable_steps=2,
                                        fade_steps=3)
    stages = growth.stages(options, 32)
    # 4x4 for 2 steps; each later stage 3 fading + 2 stable; 32x32 to the end.
    assert [(s.resolution, s.first_step, s.last_step) for s in stages] == [
        (4, 1, 2), (8, 3, 7), (16, 8, 12), (32, 13, None)]
    assert [growth.stage_at(stages, step).resolution
            for step in (0, 1, 2, 3, 7, 8, 12, 13, 10**6)] == [
                4, 4, 4, 8, 8, 16, 16, 32, 32]
    alpha = jax.jit(stages[1].alpha)
    # alpha(t) = clip((t - 2) / 3, 0, 1), t the completed steps.
    for t, want in [(2, 0.0), (3, 1 / 3), (4, 2 / 3), (5, 1.0), (6, 1.0)]:
        np.testing.assert_allclose(alpha(t), want, rtol=EPS32)
    assert float(stages[0].alpha(1)) == 1.0
    fixed = growth.stages(models.ProgressiveOptions(start_resolution=32), 32)
    assert [(s.resolution, s.first_step, s.last_step, s.fade_steps)
            for s in fixed] == [(32, 1, None, 0)]


def test_each_phase_runs_once_per_stage_within_its_steps():
    config = config_files.load("progressive_mnist", "tiny")
    config.train.num_steps = 6  # Reaches 8x8 (steps 2-5) and 16x16 (from 6).
    names = [(p.name, p.first_step, p.last_step)
             for p in gan_phases.phases(gan_spec.build(config))]
    assert names == [("train_4x4", 1, 1), ("train_8x8", 2, 5),
                     ("train_16x16", 6, 9)]


def test_optimizers_restart_where_a_fade_in_starts_and_ends():
    """Adam's moments and count are zeroed when the step counter t is where
    the stage's fade-in starts (t = 2) or ends (t = 5); the schedule's count
    and the injected learning rate stay."""
    tx = experiment.create_optimizer(1e-3, 0.0, 0.99, schedule="linear",
                                     num_updates=100)
    params = {"w": jnp.ones(3)}

    def network(t):
        net = NetworkState.create(apply_fn=None, params=params, tx=tx)
        net = net.apply_gradients(grads={"w": jnp.full(3, 0.5)})
        return net.replace(step=jnp.int32(t))

    stage = growth.Stage(resolution=8, first_step=3, last_step=7, fade_steps=3)
    reset = jax.jit(growth.reset_at_stage_changes, static_argnums=1)
    for t, restarted in [(1, False), (2, True), (3, False), (5, True), (6, False)]:
        state = GANState(generator=network(t), discriminator=network(t),
                         ema_params=params)
        new = reset(state, stage)
        for before, after in [(state.generator, new.generator),
                              (state.discriminator, new.discriminator)]:
            adam = after.opt_state.inner_state[0]
            old = before.opt_state.inner_state[0]
            if restarted:
                assert int(adam.count) == 0
                np.testing.assert_array_equal(adam.nu["w"], 0.0)
            else:
                jax.tree.map(np.testing.assert_array_equal, adam, old)
                assert int(adam.count) == 1 and float(adam.nu["w"][0]) > 0
            assert int(after.opt_state.count) == 1
            np.testing.assert_array_equal(after.opt_state.hyperparams["learning_rate"],
                                          before.opt_state.hyperparams["learning_rate"])


# --- The networks' fade-in ------------------------------------------------------


def test_generator_fade_in_blends_the_two_stages_images(networks):
    generator, _, g_vars, _, z, _ = networks
    previous = _run(generator, g_vars, z, 8, 1.0)
    grown = _run(generator, g_vars, z, 16, 1.0)
    alpha = 0.3
    want = (1 - alpha) * previous + alpha * grown
    scale = np.abs(previous).max() + np.abs(grown).max()
    np.testing.assert_allclose(_run(generator, g_vars, z, 16, alpha), want,
                               rtol=0, atol=8 * EPS32 * scale)
    # alpha = 0: exactly the previous stage; its 8x8 image repeated to 16x16.
    np.testing.assert_array_equal(_run(generator, g_vars, z, 16, 0.0), previous)
    np.testing.assert_array_equal(
        previous, np.repeat(np.repeat(previous[:, ::2, ::2], 2, 1), 2, 2))
    assert previous.shape == grown.shape == (4, *SHAPE)


def test_discriminator_fade_in_switches_between_the_two_stages(networks):
    _, discriminator, _, d_vars, _, x = networks
    # alpha = 0 is the 8x8 stage (up to the order of the box averages).
    previous = _run(discriminator, d_vars, x, 8, 1.0)
    np.testing.assert_allclose(_run(discriminator, d_vars, x, 16, 0.0), previous,
                               rtol=0, atol=64 * EPS32 * np.abs(previous).max())
    # alpha = 1 reads nothing of the 8x8 from_rgb; alpha = 0 nothing of the
    # 16x16 block and from_rgb.
    params = d_vars["params"]
    changed = lambda names: {"params": {  # noqa: E731
        k: jax.tree.map(lambda w: w + 1.0, v) if k in names else v
        for k, v in params.items()}}
    np.testing.assert_array_equal(
        _run(discriminator, changed({"from_rgb_8"}), x, 16, 1.0),
        _run(discriminator, d_vars, x, 16, 1.0))
    np.testing.assert_array_equal(
        _run(discriminator, changed({"from_rgb_16", "conv0_16", "conv1_16"}), x, 16,
             0.0), _run(discriminator, d_vars, x, 16, 0.0))
    mid = _run(discriminator, d_vars, x, 16, 0.5)
    assert not np.allclose(mid, previous)


def test_every_stage_has_its_layers_from_the_first_step(networks):
    _, _, g_vars, d_vars, _, _ = networks
    for res in (4, 8, 16):
        assert f"to_rgb_{res}" in g_vars["params"]
        assert f"from_rgb_{res}" in d_vars["params"]
    fixed = progressive.ProgressiveGenerator(**dict(NETWORK, start_resolution=SIZE))
    names = jax.eval_shape(lambda: fixed.init(jax.random.key(0),
                                              jnp.zeros((1, LATENT))))["params"]
    assert [n for n in names if n.startswith("to_rgb")] == ["to_rgb_16"]


def test_stage_reals_are_the_box_filtered_blend_repeated_to_full_size():
    x = _rng(2).uniform(-1, 1, (2, 3, 32, 32, 1)).astype(np.float32)
    stage = growth.Stage(resolution=16, first_step=5, last_step=None, fade_steps=4)
    alpha = 0.25
    got = jax.jit(lambda x: growth.stage_reals(x, stage, alpha, fades=True))(x)

    def box(v, f):
        n, h, w, c = v.shape[-4:]
        return v.reshape(*v.shape[:-3], h // f, f, w // f, f, c).mean(axis=(-4, -2))

    def repeat(v, f):
        return np.repeat(np.repeat(v, f, axis=-3), f, axis=-2)

    x64 = x.astype(np.float64)
    x16 = box(x64, 2)
    want = repeat((1 - alpha) * repeat(box(x16, 2), 2) + alpha * x16, 2)
    np.testing.assert_allclose(got, want, rtol=0, atol=8 * EPS32)
    first = growth.Stage(resolution=32, first_step=1, last_step=None, fade_steps=0)
    assert growth.stage_reals(x, first, 1.0, fades=False) is x


# --- The pieces -----------------------------------------------------------------


def test_pixel_norm_divides_each_pixel_by_the_rms_of_its_channels():
    x = 3.0 * _rng(3).standard_normal((2, 4, 4, 8)).astype(np.float32)
    want = x / np.sqrt(np.mean(np.square(x.astype(np.float64)), -1, keepdims=True)
                       + 1e-8)
    np.testing.assert_allclose(jax.jit(progressive.pixel_norm)(x), want,
                               rtol=8 * EPS32)


def test_convolutions_use_the_equalised_learning_rate():
    """Kernel stored N(0, 1), applied as w / sqrt(k^2 c_in), then bias and
    lrelu times sqrt(2) (He's gain; Karras et al. 2018, Sec. 4.1)."""
    layer = stylegan2.Conv2dLayer(16, 3)
    x = _rng(4).standard_normal((2, 5, 5, 32)).astype(np.float32)
    variables = layer.init(jax.random.key(0), x)
    kernel = np.asarray(variables["params"]["kernel"], np.float64)
    # std 1 to within 5 standard errors of 4,608 draws.
    assert abs(kernel.std() - 1) < 5 / math.sqrt(2 * kernel.size)
    bias = 0.1 * _rng(5).standard_normal(16)
    variables = {"params": {"kernel": kernel.astype(np.float32),
                            "bias": bias.astype(np.float32)}}
    padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    w = kernel / math.sqrt(9 * 32)
    v = sum(np.einsum("nhwc,co->nhwo", padded[:, i:i + 5, j:j + 5], w[i, j])
            for i in range(3) for j in range(3)) + bias
    want = np.where(v >= 0, v, 0.2 * v) * math.sqrt(2)
    np.testing.assert_allclose(jax.jit(layer.apply)(variables, x), want, rtol=0,
                               atol=16 * 288 * EPS32 * np.abs(want).max())


def test_discriminator_compares_samples_through_the_minibatch_stddev(networks):
    _, discriminator, _, d_vars, _, x = networks
    other = np.asarray(x).copy()
    other[1] = -other[1]  # Sample 1 shares a group (of 2) with sample 3.
    before, after = (_run(discriminator, d_vars, v, 16, 1.0) for v in (x, other))
    assert after[3] != before[3]
    np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])
    assert "minibatch_stddev" not in d_vars["params"]  # The layer has none.
    # Its extra channel: conv_4 reads 8 + 1 channels.
    assert d_vars["params"]["conv_4"]["kernel"].shape == (3, 3, 9, 8)


def test_drift_term_adds_eps_times_the_mean_squared_real_output():
    x = _rng(6).standard_normal((small_toy.BATCH, 2)).astype(np.float32)
    fake = _rng(7).standard_normal((small_toy.BATCH, 2)).astype(np.float32)
    results = {}
    for weight in (0.0, 0.001):
        spec = gan_spec.build(small_toy.config(**{
            "loss.name": "wasserstein", "penalty.name": "none",
            "penalty.weight": 0.0, "tricks.drift_weight": weight}))
        generator, discriminator = models.create(spec.model, (2,))
        params = jax.jit(discriminator.init)(jax.random.key(0), x)["params"]
        d_state = NetworkState.create(apply_fn=discriminator.apply, params=params,
                                      tx=optax.sgd(0.0))
        objective = objectives_lib.create(spec).discriminator
        results[weight] = jax.jit(objective)(params, d_state, x, fake,
                                             jax.random.key(1))
        real_logits = np.asarray(discriminator.apply({"params": params}, x),
                                 np.float64)
    (plain, _), (total, aux) = results[0.0], results[0.001]
    mean_square = np.mean(real_logits ** 2)
    np.testing.assert_allclose(aux["metrics"]["d_drift"], mean_square,
                               rtol=16 * EPS32)
    np.testing.assert_allclose(total - plain, 0.001 * mean_square, rtol=0,
                               atol=16 * EPS32 * (abs(plain) + abs(total)))
    assert "d_drift" not in results[0.0][1]["metrics"]
    assert float(drift.drift(jnp.zeros((0,)))) == 0.0  # An empty batch.


# --- Refusals -------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"model.start_resolution": 6},
     r"--config\.model\.start_resolution=6: .*power of two from 4 to the image "
     r"size 32"),
    ({"model.start_resolution": 64}, r"--config\.model\.start_resolution=64"),
    ({"data.image_size": None}, r"--config\.data\.image_size"),
    ({"model.d_minibatch_kernels": 2}, r"--config\.model\.d_minibatch_kernels=0"),
])
def test_bad_growth_settings_are_refused_naming_the_flag(overrides, message):
    config = config_files.load("progressive_mnist", "tiny")
    for path, value in overrides.items():
        section, field = path.split(".")
        config[section][field] = value
    with pytest.raises(ValueError, match=message):
        gan_phases.phases(gan_spec.build(config))


def test_a_conditional_progressive_model_is_refused():
    config = config_files.load("progressive_mnist", "tiny")
    config.model.num_classes = 10
    spec = gan_spec.build(config)
    with pytest.raises(ValueError, match=r"--config\.model\.num_classes=0"):
        models.create(spec.model, (32, 32, 1))


# --- Resume in the middle of a fade-in ------------------------------------------


@pytest.mark.slow
def test_run_stopped_in_the_middle_of_a_fade_in_resumes_bit_for_bit(tmp_path):
    """:tiny trains 4x4 at step 1, then fades 8x8 in over steps 2-4 (alpha 0,
    1/3, 2/3). Stopped after step 2 and resumed, steps 3 and 4 are taken in
    the middle of the fade-in; every leaf of the final state equals the
    straight run's, bit for bit."""
    idx_dir = tmp_path / "idx"
    idx_digits.write(idx_dir)
    config = config_files.load("progressive_mnist", "tiny")
    config.data.path, config.data.data_dir = str(idx_dir), str(tmp_path / "tfds")
    config.train.checkpoint_every = 2
    train.train_and_evaluate(config, tmp_path / "straight")
    config.train.num_steps = 2
    train.train_and_evaluate(config, tmp_path / "resumed")
    config.train.num_steps = 4
    train.train_and_evaluate(config, tmp_path / "resumed")
    straight = train.restore_trained(tmp_path / "straight")
    resumed = train.restore_trained(tmp_path / "resumed")
    assert straight.step == resumed.step == 4
    jax.tree.map(np.testing.assert_array_equal, jax.tree.leaves(straight.state),
                 jax.tree.leaves(resumed.state))
    # Both evaluated (and drew) the fading 8x8 stage after steps 2 and 4.
    for run in ("straight", "resumed"):
        grids = sorted(p.name for p in (tmp_path / run / "samples").glob("s*.png"))
        assert grids == ["samples_0000002.png", "samples_0000004.png"]
