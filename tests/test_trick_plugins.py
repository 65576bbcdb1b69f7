"""Tricks as plugins: declared once in their module, composed by name."""

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.tricks import options as options_lib
from gan_jax.tricks import registry
from gan_jax.tricks.base import at_least
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick

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


def test_an_unknown_trick_name_fails_listing_the_registered_ones():
    with pytest.raises(KeyError, match=r"Unknown trick 'lecan'.*lecam.*top_k"):
        registry.get("lecan")
    assert registry.get("lecam").name == "lecam"
    with pytest.raises(KeyError, match="Registered tricks"):
        options_lib.from_config(_config()).is_on("pac_gan")


def test_every_field_is_declared_once_by_its_trick_and_built_into_the_config():
    config = defaults.base_config()
    declared = registry.fields()
    paths = [(f.section, f.name) for f in declared]
    assert len(paths) == len(set(paths))
    # config.tricks holds exactly the declared fields, with their defaults.
    assert set(config.tricks) == {f.name for f in declared if f.section == "tricks"}
    for field in declared:
        assert config[field.section][field.name] == field.default
        # A default is a valid value (error messages suggest it).
        assert field.valid is None or field.default in field.valid, field.name
    # defaults.py assigns none of them itself.
    source = inspect.getsource(defaults)
    for section, name in paths:
        assert not re.search(rf"config\.{section}\.{name}\s*=", source), name


def test_the_ablation_levels_name_declared_fields():
    known = {f"{f.section}.{f.name}" for f in registry.fields()}
    for level, overrides in defaults.ABLATION_TRICKS.items():
        for item in filter(None, (p.strip() for p in overrides.split(","))):
            field = item.partition("=")[0]
            if field.startswith("tricks."):
                assert field in known, (level, field)


@pytest.mark.parametrize("overrides, flag, valid", [
    ({"tricks.noise_std": -1.0}, "--config.tricks.noise_std", ">= 0"),
    ({"tricks.lecam_decay": 1.0}, "--config.tricks.lecam_decay", r"\[0, 1\)"),
    ({"tricks.top_k_min_fraction": 0.0}, "--config.tricks.top_k_min_fraction",
     r"\(0, 1\]"),
    ({"tricks.pack": 0}, "--config.tricks.pack", ">= 1"),
    ({"loss.label_noise": 1.5}, "--config.loss.label_noise", r"\[0, 1\)"),
])
def test_a_value_out_of_range_is_refused_naming_the_flag_and_a_valid_value(
        overrides, flag, valid):
    [(path, _)] = overrides.items()
    default = _config()[path.split(".")[0]][path.split(".")[1]]
    with pytest.raises(ValueError) as error:
        gan_spec.build(_config(**overrides))
    message = str(error.value)
    assert re.search(valid, message), message
    assert f"{flag}={default!r}" in message, message


def test_a_field_cannot_be_declared_twice():
    twin = Trick(name="twin_lecam", title="a second LeCam", order=61,
                 fields=(Field("lecam_weight", 0.0, "taken"),),
                 is_active=lambda options: False)
    with pytest.raises(ValueError, match="lecam_weight.*already declares"):
        registry.register(twin)
    assert "twin_lecam" not in registry.names()


# A trick that lives only in this test: D pays a constant, G pays half of it,
# and it counts critic steps in the state. Registering it is all it takes for
# the config, the objectives and the steps to compose it.

def _toy_terms(prefix, scale):
    def terms(view, options):
        return {f"{prefix}_toy": (scale, jnp.float32(options.toy_constant))}
    return terms


TOY = Trick(
    name="toy_constant", title="a constant toy term", order=1000,
    fields=(Field("toy_constant", 0.0, "the constant D pays (0 = off)",
                  at_least(0.0)),),
    is_active=lambda options: options.toy_constant > 0,
    init_state=lambda options: {"toy_count": jnp.zeros((), jnp.float32)},
    update_state=lambda state, signals, options: (
        {"toy_count": state["toy_count"] + 1.0},
        {"toy_count": state["toy_count"] + 1.0}),
    discriminator_terms=_toy_terms("d", 1.0),
    generator_terms=_toy_terms("g", 0.5),
)


def _step(config):
    spec = gan_spec.build(config)
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    batch = {"x": jax.random.normal(jax.random.key(1), (1, BATCH, *SAMPLE_SHAPE))}
    return jax.jit(experiment.make_train_step(spec))(state, batch, jax.random.key(2))


def test_a_trick_registered_in_a_test_is_composed_by_the_objectives():
    plain_state, plain = _step(_config())
    with registry.registered(TOY):
        assert defaults.base_config().tricks.toy_constant == 0.0
        # Off, it leaves the step as it was, bit for bit.
        off_state, _ = _step(_config())
        for a, b in zip(jax.tree.leaves(off_state), jax.tree.leaves(plain_state)):
            np.testing.assert_array_equal(a, b)
        state, metrics = _step(_config(**{"tricks.toy_constant": 3.0}))
        with pytest.raises(ValueError, match="--config.tricks.toy_constant=0.0"):
            options_lib.from_config(_config(**{"tricks.toy_constant": -1.0}))
    assert "toy_constant" not in defaults.base_config().tricks
    assert float(metrics["d_toy"]) == 3.0 and float(metrics["g_toy"]) == 3.0
    # A constant moves no gradient: only the losses change.
    assert float(metrics["d_loss"]) == pytest.approx(float(plain["d_loss"]) + 3.0)
    assert float(metrics["g_loss"]) == pytest.approx(float(metrics["g_adversarial"]) + 1.5)
    assert float(state.tricks["toy_count"]) == 1.0 and float(metrics["toy_count"]) == 1.0
