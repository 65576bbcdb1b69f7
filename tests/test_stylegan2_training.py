"""StyleGAN2 on the one core: the configs build the reference's networks,
truncation when sampling, and the refusals of its options."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax import models
from gan_jax.evaluation import sampling
from gan_jax.run import experiment
from gan_jax.run import gan_spec
import config_files  # tests/config_files.py

def _config_file(name, variant=""):
    return config_files.load(name, variant)


# stylegan2-ada-pytorch at d72cc7d041b42ec8e806021a205ed9349f87c6a4, networks
# built as its train.py builds them for one GPU (`--cfg=cifar --cond=1`;
# `--cfg=auto` at 64, 128, 256 px), counted with
# `sum(p.numel() for p in module.parameters())`: measured from an
# independent implementation, so these constants are a reference.
REFERENCE_COUNTS = {
    ("stylegan2_cifar10", ""): (32, 20_215_315, 23_089_664),
    ("stylegan2_folder", "64"): (64, 22_243_608, 23_407_361),
    ("stylegan2_folder", "128"): (128, 22_949_277, 23_882_369),
    ("stylegan2_folder", "256"): (256, 23_191_522, 24_001_089),
}


@pytest.mark.parametrize("name, variant", sorted(REFERENCE_COUNTS))
def test_configs_build_the_references_networks(name, variant):
    size, g_count, d_count = REFERENCE_COUNTS[(name, variant)]
    config = _config_file(name, variant)
    config.data.path = "/unused"  # The folder config needs one; nothing is read.
    spec = gan_spec.build(config)
    assert config_files.parameter_counts(spec, size) == (g_count, d_count)


def test_folder_config_follows_train_pys_auto_rule():
    for resolution, batch in ((64, 32), (128, 32), (256, 16)):
        config = _config_file("stylegan2_folder", str(resolution))
        assert config.data.batch_size == batch
        gamma = 0.0002 * resolution ** 2 / batch
        np.testing.assert_allclose(config.penalty.weight, gamma / 2)
        half_life_images = batch * 10 / 32 * 1000
        np.testing.assert_allclose(config.optim.ema_decay ** (half_life_images / batch),
                                   0.5, rtol=1e-12)
    with pytest.raises(ValueError, match=r"stylegan2_folder.py:64 \(or :128, :256\)"):
        _config_file("stylegan2_folder", "tiny")


def _tiny_spec(**overrides):
    config = _config_file("stylegan2_cifar10", "tiny")
    config.model.num_classes = 0
    for name, value in overrides.items():
        section, field = name.split(".")
        config[section][field] = value
    return gan_spec.build(config)


def test_truncation_psi_zero_puts_every_sample_at_the_average_style():
    spec = _tiny_spec()
    state = experiment.create_state(spec, (32, 32, 3), jax.random.key(0))
    # A w_avg away from its initial zeros.
    stats = jax.tree.map(lambda leaf: leaf + 0.3, state.generator.batch_stats)
    state = state.replace(generator=state.generator.replace(batch_stats=stats))
    latents = jax.random.normal(jax.random.key(1), (4, spec.model.latent_dim))
    plain = sampling.generate_from(state, latents)
    assert not np.allclose(plain[0], plain[1])
    # Deterministic without a noise rng (the "const" noise of evaluation).
    np.testing.assert_array_equal(plain, sampling.generate_from(state, latents))
    at_average = sampling.generate_from(state, latents, truncation_psi=0.0)
    for image in at_average[1:]:
        np.testing.assert_allclose(image, at_average[0], atol=1e-6)
    half = sampling.generate_from(state, latents, truncation_psi=0.5)
    assert not np.allclose(half, plain) and not np.allclose(half, at_average)


@pytest.mark.parametrize("model, psi, message", [
    ("dcgan", 0.7, r"--truncation_psi=0\.7 asks for the truncation trick, which "
     r"only the stylegan2 generator has .* model is 'dcgan'\. Leave "
     r"--truncation_psi at 1\."),
    ("stylegan2", -0.5, r"--truncation_psi=-0\.5 must be >= 0"),
])
def test_truncation_is_refused_where_it_has_no_meaning(model, psi, message):
    with pytest.raises(ValueError, match=message):
        models.check_truncation(model, psi, "--truncation_psi")
    models.check_truncation(model, 1.0, "--truncation_psi")


@pytest.mark.parametrize("overrides, message", [
    ({"model.name": "dcgan", "tricks.path_length_weight": 2.0},
     r"Path length regularisation \(--config\.tricks\.path_length_weight=2\) "
     r"needs a generator with a mapping network; model 'dcgan' has none"),
    ({"model.d_minibatch_kernels": 4},
     r"Set --config\.model\.d_minibatch_kernels=0"),
    ({"model.g_spectral_norm": True},
     r"not stylegan2's\. Set --config\.model\.g_spectral_norm=False"),
])
def test_bad_stylegan2_settings_fail_with_the_fix(overrides, message):
    config = defaults.image_config()
    config.data.image_size = 32
    defaults.use_stylegan2(config, channel_base=512, mapping_layers=2,
                           d_architecture="orig", mbstd_group=4)
    for name, value in overrides.items():
        section, field = name.split(".")
        config[section][field] = value
    with pytest.raises(ValueError, match=message):
        gan_spec.build(config)


def test_path_length_phase_moves_the_generator_and_its_running_mean():
    spec = _tiny_spec(**{"tricks.path_length_weight": 2.0,
                         "model.style_mixing_prob": 0.9})
    [(trick, step_fn)] = experiment.generator_regularizers(spec)
    assert trick.name == "path_length" and trick.regularizer_interval(spec.tricks) == 2
    state = experiment.create_state(spec, (32, 32, 3), jax.random.key(0))
    batch = {"x": jnp.zeros((1, 8, 32, 32, 3))}
    new, metrics = jax.jit(step_fn)(state, batch, jax.random.key(1))
    # The first phase: a = 0 + 0.01 * (mean length - 0).
    assert metrics["g_path_length_mean"] > 0
    np.testing.assert_allclose(new.tricks["path_length_mean"],
                               metrics["g_path_length_mean"])
    assert np.isfinite(metrics["g_path_length_penalty"])
    assert int(new.generator.step) == 1
    moved = [not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(new.generator.params), jax.tree.leaves(state.generator.params))]
    assert any(moved)
    # The discriminator is untouched.
    for a, b in zip(jax.tree.leaves(new.discriminator), jax.tree.leaves(state.discriminator)):
        np.testing.assert_array_equal(a, b)
