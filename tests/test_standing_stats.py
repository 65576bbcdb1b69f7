"""Standing BatchNorm statistics (Brock et al. 2019) and InfoGAN sampling inputs."""

import json

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds

from gan_jax import defaults
from gan_jax import models
from gan_jax import train
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.evaluation import standing_stats
from gan_jax.evaluation import visualize
from gan_jax.game import latents as latents_lib
from gan_jax.game import steps
from gan_jax.game.state import create_gan_state
from gan_jax.game.state import GANState
from gan_jax.models import dcgan
from gan_jax.models import layers
from gan_jax.models import mlp
from gan_jax.run import experiment
from gan_jax.run import gan_spec
import config_files  # tests/config_files.py

LATENT_DIM = 8
BATCH = 16
NUM_BATCHES = 3
SHAPE = (28, 28, 1)
# The inputs of the tiny DCGAN generator's BatchNorm layers: the outputs of
# the layers before them, as `capture_intermediates` names them.
BN_INPUTS = {"BatchNorm_0": "ConvTranspose_0",
             "BatchNorm_1": "DoublingConvTranspose_0"}


def _dcgan_spec(num_classes: int = 0, standing_stats_batches: int = NUM_BATCHES,
                infogan_categories: int = 0):
    config = defaults.image_config()
    defaults.make_tiny(config)
    config.model.latent_dim = LATENT_DIM
    config.model.num_classes = num_classes
    config.eval.batch_size = BATCH
    config.eval.standing_stats_batches = standing_stats_batches
    config.tricks.infogan_categories = infogan_categories
    return gan_spec.build(config)


def _random_running_stats(batch_stats, key):
    """Running statistics far from any batch's, as if left by other weights."""
    leaves, treedef = jax.tree.flatten(batch_stats)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [
        jnp.exp(jax.random.normal(k, leaf.shape, jnp.float32)) for k, leaf in
        zip(keys, leaves)])


def _trained_looking(state: GANState) -> GANState:
    """EMA weights that differ from the training weights, as after training;
    the initial running statistics (0, 1) fit neither."""
    ema = jax.tree.map(lambda p: 1.5 * p, state.generator.params)
    return state.replace(ema_params=ema)


class _Critic(nn.Module):
    """A one-layer discriminator: these tests only sample from generators."""

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        del labels, train
        return nn.Dense(1)(x.reshape((x.shape[0], -1)))[:, 0]


def _gan_state(generator: nn.Module, latent_dim: int, sample_shape) -> GANState:
    """A fresh state around `generator`, initialised in one compiled program
    with the "rbg" PRNG: these tests need some weights, not particular ones,
    and on XLA:CPU that compiles several times faster than eager threefry
    initialisers, one program per parameter shape."""
    def init(key):
        return create_gan_state(key, generator, _Critic(),
                                latent_dim=latent_dim, sample_shape=sample_shape,
                                generator_tx=optax.sgd(0.1),
                                discriminator_tx=optax.sgd(0.1))
    return jax.jit(init)(jax.random.key(0, impl="rbg"))


def _dcgan_state(num_classes: int = 0) -> GANState:
    """The tiny DCGAN generator of `_dcgan_spec(num_classes)`."""
    generator = dcgan.DCGANGenerator(sample_shape=SHAPE, base_channels=8,
                                     num_classes=num_classes)
    return _trained_looking(_gan_state(generator, LATENT_DIM, SHAPE))


@pytest.fixture(scope="module")
def dcgan_state():
    return _dcgan_state()


@jax.jit
def _training_intermediates(network, params, latents, labels):
    """One training-mode pass of `network` with `params`: its updated
    variables, including every module's output under "intermediates"."""
    _, variables = network.apply_fn(
        {"params": params, "batch_stats": network.batch_stats}, latents,
        labels=labels, train=True, capture_intermediates=True,
        mutable=["batch_stats", "intermediates"])
    return variables


def _direct_layer_inputs(state, params, latents, labels=None):
    """Inputs of every BatchNorm layer in one training-mode pass, float64."""
    captured = _training_intermediates(state.generator, params, latents,
                                       labels)["intermediates"]
    return {bn: np.asarray(captured[layer]["__call__"][0], np.float64)
            for bn, layer in BN_INPUTS.items()}


def _direct_standing(state, key, params, labels=None):
    """`(1/N) sum_i mean_i` and `(1/N) sum_i var_i` of each BatchNorm input, in
    NumPy, plus the per-batch statistics."""
    per_batch = []
    for i in range(NUM_BATCHES):
        latents = latents_lib.sample_latents(jax.random.fold_in(key, i), BATCH,
                                             LATENT_DIM)
        batch_labels = None if labels is None else labels[i * BATCH:(i + 1) * BATCH]
        inputs = _direct_layer_inputs(state, params, latents, batch_labels)
        per_batch.append({bn: (x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2)))
                          for bn, x in inputs.items()})
    average = {bn: tuple(np.mean([b[bn][j] for b in per_batch], axis=0)
                         for j in range(2)) for bn in BN_INPUTS}
    return average, per_batch


def _assert_stats_close(batch_stats, expected):
    for bn, (mean, var) in expected.items():
        np.testing.assert_allclose(batch_stats[bn]["mean"], mean, rtol=1e-4,
                                   atol=1e-7, err_msg=f"{bn} mean")
        np.testing.assert_allclose(batch_stats[bn]["var"], var, rtol=1e-4,
                                   atol=1e-7, err_msg=f"{bn} var")


def test_standing_stats_average_the_batch_statistics_of_the_ema_generator(dcgan_state):
    key = jax.random.key(7)
    standing = standing_stats.standing_batch_stats(
        dcgan_state, key, num_batches=NUM_BATCHES, batch_size=BATCH,
        latent_dim=LATENT_DIM)
    expected, per_batch = _direct_standing(dcgan_state, key, dcgan_state.ema_params)
    _assert_stats_close(standing, expected)
    for name in ("mean", "var"):
        assert standing["BatchNorm_0"][name].dtype == jnp.float32

    # The check above tells the average from the last batch alone and from
    # the statistics of the training weights.
    last = per_batch[-1]["BatchNorm_0"][1]
    assert not np.allclose(last, expected["BatchNorm_0"][1], rtol=1e-3)
    training, _ = _direct_standing(dcgan_state, key, dcgan_state.generator.params)
    assert not np.allclose(training["BatchNorm_0"][1], expected["BatchNorm_0"][1],
                           rtol=1e-2)


def test_standing_stats_do_not_depend_on_the_running_statistics(dcgan_state):
    key = jax.random.key(8)
    kwargs = dict(num_batches=NUM_BATCHES, batch_size=BATCH, latent_dim=LATENT_DIM)
    other = dcgan_state.replace(generator=dcgan_state.generator.replace(
        batch_stats=_random_running_stats(dcgan_state.generator.batch_stats,
                                          jax.random.key(1))))
    a = standing_stats.standing_batch_stats(dcgan_state, key, **kwargs)
    b = standing_stats.standing_batch_stats(other, key, **kwargs)
    assert not np.allclose(dcgan_state.generator.batch_stats["BatchNorm_0"]["var"],
                           other.generator.batch_stats["BatchNorm_0"]["var"])
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), a, b)


class _SpectralBatchNormGenerator(nn.Module):
    """Spectrally normalised dense layer, then BatchNorm with an unusual
    momentum: both keep running state in `batch_stats`."""

    momentum: float = 0.5

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        h = layers.spectral_norm(nn.Dense(6), z, train)
        self.sow("intermediates", "bn_input", h)
        h = nn.BatchNorm(use_running_average=not train, momentum=self.momentum)(h)
        return nn.Dense(2)(nn.relu(h))


def test_spectral_norm_state_is_kept_and_any_momentum_is_undone():
    state = _gan_state(_SpectralBatchNormGenerator(), LATENT_DIM, (2,))
    stats = state.generator.batch_stats
    spectral = stats["SpectralNorm_0"]
    assert set(spectral) == {"Dense_0/kernel/u", "Dense_0/kernel/sigma"}

    key = jax.random.key(3)
    standing = standing_stats.standing_batch_stats(
        state, key, num_batches=NUM_BATCHES, batch_size=BATCH, latent_dim=LATENT_DIM)
    jax.tree.map(np.testing.assert_array_equal, standing["SpectralNorm_0"], spectral)

    means, variances = [], []
    for i in range(NUM_BATCHES):
        latents = latents_lib.sample_latents(jax.random.fold_in(key, i), BATCH,
                                             LATENT_DIM)
        variables = _training_intermediates(state.generator, state.ema_params,
                                            latents, None)
        h = np.asarray(variables["intermediates"]["bn_input"][0], np.float64)
        means.append(h.mean(axis=0))
        variances.append(h.var(axis=0))
        # A training-mode pass does move the power iteration's state, so the
        # equality above is a real check.
        assert not np.allclose(variables["batch_stats"]["SpectralNorm_0"]
                               ["Dense_0/kernel/u"], spectral["Dense_0/kernel/u"])
    np.testing.assert_allclose(standing["BatchNorm_0"]["mean"],
                               np.mean(means, axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(standing["BatchNorm_0"]["var"],
                               np.mean(variances, axis=0), rtol=1e-5, atol=1e-7)


def test_dcgan_spectral_norm_state_is_kept():
    if not hasattr(dcgan.DCGANGenerator, "spectral_norm"):
        pytest.skip("This DCGANGenerator has no spectral_norm option.")
    generator = dcgan.DCGANGenerator(sample_shape=SHAPE, base_channels=8,
                                     spectral_norm=True)
    state = _trained_looking(_gan_state(generator, LATENT_DIM, SHAPE))
    before = traverse_util.flatten_dict(state.generator.batch_stats)
    after = traverse_util.flatten_dict(standing_stats.standing_batch_stats(
        state, jax.random.key(6), num_batches=NUM_BATCHES, batch_size=BATCH,
        latent_dim=LATENT_DIM))
    assert after.keys() == before.keys()
    spectral = [path for path in before if path[-1].endswith(("/u", "/sigma"))]
    assert spectral and all(path[0].startswith("SpectralNorm") for path in spectral)
    for path in spectral:
        np.testing.assert_array_equal(after[path], before[path], err_msg=str(path))
    for path in set(before) - set(spectral):
        assert path[0].startswith("BatchNorm") and path[-1] in ("mean", "var")
        assert not np.allclose(after[path], before[path]), path


def test_a_generator_without_batch_norm_keeps_its_batch_stats():
    config = defaults.base_config()
    config.model.hidden_dim, config.model.num_layers = 8, 1
    config.eval.standing_stats_batches = 2
    spec = gan_spec.build(config)
    generator = mlp.MLPGenerator(sample_shape=(2,), hidden_dim=8, num_layers=1)
    state = _gan_state(generator, spec.model.latent_dim, (2,))
    stats = standing_stats.standing_batch_stats(
        state, jax.random.key(1), num_batches=2, batch_size=4,
        latent_dim=spec.model.latent_dim)
    assert stats is state.generator.batch_stats
    new = standing_stats.with_standing_stats(state, jax.random.key(1), spec)
    assert new.generator.batch_stats is state.generator.batch_stats


def test_conditional_standing_stats_use_balanced_labels():
    spec = _dcgan_spec(num_classes=3)
    state = _dcgan_state(num_classes=3)
    key = jax.random.key(5)
    new = standing_stats.with_standing_stats(state, key, spec)
    labels = sampling.balanced_labels(NUM_BATCHES * BATCH, 3)
    expected, _ = _direct_standing(state, key, state.ema_params, labels)
    _assert_stats_close(new.generator.batch_stats, expected)
    one_class, _ = _direct_standing(state, key, state.ema_params,
                                    np.zeros_like(labels))
    assert not np.allclose(one_class["BatchNorm_0"][0], expected["BatchNorm_0"][0],
                           rtol=1e-3)
    # Only the generator's statistics change.
    assert new.discriminator is state.discriminator
    assert new.ema_params is state.ema_params


def test_standing_stats_off_returns_the_state_and_evaluations_unchanged(dcgan_state):
    key = jax.random.key(11)
    off = _dcgan_spec(standing_stats_batches=0)
    assert standing_stats.with_standing_stats(dcgan_state, key, off) is dcgan_state
    before = evaluator.sample_grid(dcgan_state, key, off)
    np.testing.assert_array_equal(
        evaluator.evaluate(dcgan_state, key, off, step=0).images["samples"], before)

    on = _dcgan_spec()
    standing = standing_stats.with_standing_stats(
        dcgan_state, jax.random.fold_in(key, 2), on)
    grid = evaluator.evaluate(dcgan_state, key, on, step=0).images["samples"]
    np.testing.assert_array_equal(grid, evaluator.sample_grid(standing, key, on))
    assert not np.array_equal(grid, before)


def test_infogan_grid_rows_are_categories_with_shared_noise_per_column():
    categories, latent_dim = 3, LATENT_DIM
    inputs = sampling.grid_inputs(jax.random.key(1), latent_dim, 0,
                                  categories=categories)
    assert (inputs.num_rows, inputs.num_columns) == (categories, sampling.GRID_COLUMNS)
    assert inputs.labels is None
    latents = np.asarray(inputs.latents).reshape(categories, sampling.GRID_COLUMNS,
                                                 latent_dim)
    codes = np.asarray(steps.categorical_code(inputs.latents, categories))
    np.testing.assert_array_equal(codes.reshape(categories, -1),
                                  np.arange(categories)[:, None]
                                  * np.ones((1, sampling.GRID_COLUMNS), int))
    np.testing.assert_array_equal(latents[:, :, :categories],
                                  np.eye(categories)[:, None, :].repeat(
                                      sampling.GRID_COLUMNS, axis=1))
    noise = latents[:, :, categories:]
    np.testing.assert_array_equal(noise[0], noise[2])
    assert len(np.unique(noise[0], axis=0)) == sampling.GRID_COLUMNS

    # Without a code the grid is exactly the old one.
    plain = sampling.grid_inputs(jax.random.key(1), latent_dim, 0, categories=0)
    np.testing.assert_array_equal(
        plain.latents, latents_lib.sample_latents(jax.random.key(1), 64, latent_dim))


def test_infogan_interpolations_keep_the_row_category_and_slerp_the_noise():
    key, categories = jax.random.key(4), 2
    inputs = sampling.interpolation_inputs(key, latent_dim=LATENT_DIM,
                                           num_classes=0, num_rows=3,
                                           num_steps=4, categories=categories)
    latents = np.asarray(inputs.latents).reshape(3, 4, LATENT_DIM)
    np.testing.assert_array_equal(
        steps.categorical_code(inputs.latents, categories), np.repeat([0, 1, 0], 4))
    np.testing.assert_array_equal(latents[..., :categories].sum(axis=-1), 1.0)
    ends = np.asarray(latents_lib.sample_latents(key, 6, LATENT_DIM))
    np.testing.assert_allclose(latents[1, 0, categories:], ends[2, categories:],
                               atol=1e-6)
    np.testing.assert_allclose(latents[1, -1, categories:], ends[3, categories:],
                               atol=1e-6)
    plain = sampling.interpolation_inputs(key, latent_dim=LATENT_DIM,
                                          num_classes=0, num_rows=3, num_steps=4)
    # Without a code the strips are exactly the old ones.
    np.testing.assert_array_equal(
        plain.latents[:4], sampling.slerp(ends[0], ends[1], jnp.linspace(0.0, 1.0, 4)))


def test_generate_and_the_evaluator_grid_draw_infogan_codes(dcgan_state):
    key = jax.random.key(9)
    samples = sampling.generate(dcgan_state, key, BATCH + 3, latent_dim=LATENT_DIM,
                                batch_size=BATCH, categories=4)
    expected = np.concatenate([
        np.asarray(sampling.generate_from(dcgan_state, latents_lib.sample_latents(
            jax.random.fold_in(key, i), BATCH, LATENT_DIM, 4), None))
        for i in range(2)])
    np.testing.assert_allclose(samples, expected[:BATCH + 3], rtol=1e-6)
    plain = sampling.generate(dcgan_state, key, BATCH + 3, latent_dim=LATENT_DIM,
                              batch_size=BATCH)
    assert not np.allclose(samples, plain)

    spec = _dcgan_spec(standing_stats_batches=0, infogan_categories=4)
    inputs = sampling.grid_inputs(key, LATENT_DIM, 0, categories=4)
    expected_grid = visualize.image_grid(
        np.asarray(sampling.generate_from(dcgan_state, inputs.latents,
                                          inputs.labels)), 4,
        sampling.GRID_COLUMNS)
    np.testing.assert_array_equal(evaluator.sample_grid(dcgan_state, key, spec),
                                  expected_grid)


# The rule (gan_jax.run.gan_spec.standing_stats_rule): an EMA generator with
# BatchNorm is measured with standing statistics unless the config says.


def _config_file(name: str, variant: str = ""):
    return config_files.load(name, variant)


def _generator_has_batch_norm(model: str) -> bool:
    """Whether `model`'s built generator calls a BatchNorm layer in training
    mode, found by type during an abstract init (no FLOPs)."""
    config = defaults.image_config() if model != "mlp" else defaults.base_config()
    config.model.name = model
    spec = gan_spec.build(config)
    shape = {"mlp": (2,), "dcgan": (28, 28, 1)}.get(model, (32, 32, 3))
    generator, _ = models.create(spec.model, shape)
    found = []

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.BatchNorm):
            found.append(context.module)
        return next_fun(*args, **kwargs)

    latents = jax.ShapeDtypeStruct((2, spec.model.latent_dim), jnp.float32)
    with nn.intercept_methods(record):
        jax.eval_shape(lambda z: generator.init(jax.random.key(0), z, train=True),
                       latents)
    return bool(found)


@pytest.mark.parametrize("model", sorted(models.MODELS))
def test_batch_norm_generators_are_declared_as_built(model):
    assert (model in models.BATCH_NORM_GENERATORS) == _generator_has_batch_norm(model)


@pytest.mark.parametrize("name", ["sngan_cifar10", "wgan_gp_mnist", "dcgan_mnist",
                                  "biggan_cifar10"])
def test_ema_batch_norm_configs_are_measured_with_standing_stats(name):
    spec = gan_spec.build(_config_file(name))
    assert spec.optim.ema_decay > 0
    assert spec.eval.standing_stats_batches == gan_spec.AUTO_STANDING_STATS_BATCHES
    assert evaluator.measured_generator(spec) == "ema+standing_stats"


def test_the_rule_leaves_other_generators_and_set_values_alone(caplog):
    raw = defaults.image_config()
    raw.optim.ema_decay = 0.0
    spec = gan_spec.build(raw)
    assert spec.eval.standing_stats_batches == 0
    assert evaluator.measured_generator(spec) == "raw"

    spec = gan_spec.build(defaults.base_config())  # The mlp: no BatchNorm.
    assert spec.eval.standing_stats_batches == 0
    assert evaluator.measured_generator(spec) == "ema"

    explicit = defaults.image_config()
    explicit.eval.standing_stats_batches = 5
    assert gan_spec.build(explicit).eval.standing_stats_batches == 5

    off = defaults.image_config()
    off.eval.standing_stats_batches = 0
    with caplog.at_level("WARNING"):
        spec = gan_spec.build(off)
    assert spec.eval.standing_stats_batches == 0
    assert evaluator.measured_generator(spec) == "ema"
    [warning] = [r.getMessage() for r in caplog.records
                 if "--config.eval.standing_stats_batches=0" in r.getMessage()]
    assert "running statistics of the training weights" in warning


@pytest.mark.slow
def test_a_trained_ema_batch_norm_run_is_measured_and_recorded_with_standing_stats(
        tmp_path):
    """End to end: the final grid is the one of the standing-statistics
    state, not of the training statistics, and final_metrics.json says so."""
    config = _config_file("dcgan_mnist", "tiny")
    config.data.data_dir = str(tmp_path / "tfds")
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=32):
        final = train.train_and_evaluate(config, workdir)
    on_disk = json.loads((workdir / "final_metrics.json").read_text())
    assert final["generator"] == on_disk["generator"] == "ema+standing_stats"
    assert on_disk["step"] == config.train.num_steps

    run = train.restore_trained(workdir)
    assert run.spec.eval.standing_stats_batches == gan_spec.AUTO_STANDING_STATS_BATCHES
    eval_key = experiment.run_keys(run.spec.seed).eval
    saved = visualize.read_png(workdir / "samples" /
                               f"samples_{run.step:07d}.png")
    standing = evaluator.evaluation_state(run.state, eval_key, run.spec)
    np.testing.assert_array_equal(
        saved, evaluator.sample_grid(standing, eval_key, run.spec))
    assert not np.array_equal(
        saved, evaluator.sample_grid(run.state, eval_key, run.spec))
