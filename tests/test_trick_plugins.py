"""Tricks as plugins: declared once in their module, composed by name."""

import inspect
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax import fields
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.tricks import options as options_lib
from gan_jax.tricks import registry
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick
import small_toy  # tests/small_toy.py

SAMPLE_SHAPE = (2,)
BATCH = small_toy.BATCH


_config = small_toy.config


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
        fields.read_field(field.declared, field.default, field.path())
    # base_config() assigns none of them itself (the recipes built on it,
    # such as defaults.use_stylegan2 and make_tiny, set them as config files do).
    source = inspect.getsource(defaults.base_config)
    for section, name in paths:
        assert not re.search(rf"config\.{section}\.{name}\s*=", source), name


def test_the_ablation_levels_name_declared_fields():
    known = {f"{f.section}.{f.name}" for f in registry.fields()}
    for level, overrides in defaults.ABLATION_TRICKS.items():
        for item in filter(None, (p.strip() for p in overrides.split(","))):
            field = item.partition("=")[0]
            if field.startswith("tricks."):
                assert field in known, (level, field)


@pytest.mark.parametrize("path, value, valid", [
    ("tricks.noise_std", -1.0, ">= 0"),
    ("tricks.lecam_decay", 1.0, "in [0, 1)"),
    ("tricks.top_k_min_fraction", 0.0, "in (0, 1]"),
    ("tricks.pack", 0, ">= 1"),
    ("loss.label_noise", 1.5, "in [0, 1)"),
])
def test_a_value_out_of_range_is_refused_naming_the_flag_and_a_valid_value(
        path, value, valid):
    section, name = path.split(".")
    default = _config()[section][name]
    with pytest.raises(ValueError) as error:
        gan_spec.build(_config(**{path: value}))
    message = str(error.value)
    assert message.startswith(
        f"--config.{path}={value!r} must be {valid}, e.g. {default!r} ("), message


def test_an_unknown_augmentation_op_is_refused_by_the_fields_check():
    with pytest.raises(ValueError) as error:
        gan_spec.build(_config(**{"tricks.augment": "color,rotate"}))
    message = str(error.value)
    assert message.startswith(
        "--config.tricks.augment='color,rotate' must be a comma-separated list of "
        "color, cutout, flip, jitter, translation, or '' for none ('rotate' is "
        "not one), e.g. 'color,translation,cutout' ("), message
    # A valid policy reaches the hooks parsed.
    options = options_lib.from_config(_config(**{"tricks.augment": " color, flip"}))
    assert options.augment == ("color", "flip")


def _shape(message: str, flag: str, value) -> str:
    """`message` with its flag, value, example and doc blanked out."""
    prefix = f"--{flag}={value!r} must be "
    assert message.startswith(prefix), message
    return re.sub(r", e\.g\. \S+ \(.*\)\.$", ", e.g. X (DOC).", message[len(prefix):])


@pytest.mark.parametrize("trick_path, spec_path, value", [
    ("tricks.lecam_decay", "optim.ema_decay", 1.5),  # Both in [0, 1).
    ("tricks.noise_std", "penalty.weight", -1.0),  # Both >= 0.
    ("tricks.pack", "optim.n_critic", 0),  # Both integers >= 1.
    ("tricks.zcr_std", "penalty.target", float("nan")),  # Both finite.
])
def test_a_tricks_field_and_a_spec_field_are_refused_in_the_same_sentence(
        trick_path, spec_path, value):
    """The tricks' fields and the spec's go through one checker
    (`fields.read_field`): the same bad value, the same sentence."""
    messages = []
    for path in (trick_path, spec_path):
        with pytest.raises(ValueError) as error:
            gan_spec.build(_config(**{path: value}))
        messages.append(_shape(str(error.value), f"config.{path}", value))
    assert messages[0] == messages[1], messages


def test_the_tricks_fields_are_read_by_the_fields_module(monkeypatch):
    read = []
    original = fields.read_field

    def spy(declared, value, flag):
        read.append(flag)
        return original(declared, value, flag)

    monkeypatch.setattr(fields, "read_field", spy)
    gan_spec.build(_config())
    assert {f"config.{f.section}.{f.name}" for f in registry.fields()} <= set(read)
    assert "config.optim.ema_decay" in read


def test_an_ablation_names_the_tricks_field_under_its_experiment():
    config = _config(**{"tricks.lecam_decay": 1.5})
    with pytest.raises(ValueError, match=r"^--config\.experiment\.tricks\.lecam_decay=1\.5 "):
        gan_spec.build(config, "config.experiment")


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
                  fields.NON_NEGATIVE),),
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
        with pytest.raises(ValueError, match=r"--config.tricks.toy_constant=-1.0 must "
                           r"be >= 0, e.g. 0.0 \(the constant D pays"):
            options_lib.from_config(_config(**{"tricks.toy_constant": -1.0}))
    assert "toy_constant" not in defaults.base_config().tricks
    assert float(metrics["d_toy"]) == 3.0 and float(metrics["g_toy"]) == 3.0
    # A constant moves no gradient: only the losses change.
    assert float(metrics["d_loss"]) == pytest.approx(float(plain["d_loss"]) + 3.0)
    assert float(metrics["g_loss"]) == pytest.approx(float(metrics["g_adversarial"]) + 1.5)
    assert float(state.tricks["toy_count"]) == 1.0 and float(metrics["toy_count"]) == 1.0
