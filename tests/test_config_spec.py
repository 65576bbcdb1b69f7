"""The typed spec (gan_jax.fields; its sections in gan_jax.run.gan_spec,
gan_jax.image_to_image.spec, gan_jax.sweep.spec): every field declared,
every bad value refused in one paragraph naming its flag, before any work and
any file."""

import os
import re
import pathlib
import subprocess
import sys

import ml_collections
import pytest

from gan_jax import defaults
from gan_jax import fields
from gan_jax import train
from gan_jax.image_to_image import defaults as translation_defaults
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.image_to_image import TASKS
from gan_jax.run import gan_spec
from gan_jax.sweep import runner
from gan_jax.sweep import spec as ablation_spec
import config_files  # tests/config_files.py

REPO = pathlib.Path(__file__).resolve().parents[1]


def _load(name: str, variant: str = "") -> ml_collections.ConfigDict:
    return config_files.load(name, variant)


def _set(config: ml_collections.ConfigDict, field: str, value) -> None:
    *path, leaf = field.split(".")
    node = config
    for part in path:
        node = node[part]
    node[leaf] = value


def _one_paragraph(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


def _assert_refused_before_any_file(train_fn, config, workdir, flag: str) -> str:
    with pytest.raises(ValueError) as refused:
        train_fn(config, workdir)
    text = _one_paragraph(refused.value)
    assert flag in text, text
    assert not workdir.exists() or not any(workdir.iterdir())
    return text


@pytest.mark.parametrize("field, value, says", [
    ("optim.g_lr", -1.0, "--config.optim.g_lr=-1.0 must be > 0, e.g. 0.0002"),
    ("data.batch_size", 0, "--config.data.batch_size=0 must be >= 1, e.g. 256"),
    ("data.batch_size", -3, "--config.data.batch_size=-3 must be >= 1, e.g. 256"),
])
def test_train_refuses_a_bad_value_in_one_paragraph_before_any_file(
        field, value, says, tmp_path):
    config = defaults.base_config()
    _set(config, field, value)
    text = _assert_refused_before_any_file(train.train_and_evaluate, config,
                                           tmp_path / "run", f"--config.{field}")
    assert text.startswith(says), text


@pytest.mark.parametrize("field, value, says", [
    ("optim.g_b1", 1.0, "--config.optim.g_b1=1.0 must be in [0, 1), e.g. 0.5"),
    ("optim.d_b2", -0.1, "--config.optim.d_b2=-0.1 must be in [0, 1)"),
    ("optim.ema_decay", 1.0, "--config.optim.ema_decay=1.0 must be in [0, 1)"),
    ("penalty.weight", -0.5, "--config.penalty.weight=-0.5 must be >= 0"),
    ("penalty.weight", float("inf"), "--config.penalty.weight=inf must be a finite"),
    ("penalty.weight", float("nan"), "--config.penalty.weight=nan must be a finite"),
    ("loss.label_smoothing", 1.0, "--config.loss.label_smoothing=1.0 must be in [0, 1)"),
    ("train.eval_every", 0, "--config.train.eval_every=0 must be >= 1"),
    ("train.checkpoint_every", -5, "--config.train.checkpoint_every=-5 must be >= 1"),
    ("penalty.lazy_interval", 0, "--config.penalty.lazy_interval=0 must be >= 1"),
    ("train.num_steps", -1, "--config.train.num_steps=-1 must be >= 0"),
    ("eval.standing_stats_batches", -1, "must be >= 0"),
    ("data.image_size", 0, "--config.data.image_size=0 must be >= 1, e.g. 64"),
    ("model.latent_dim", 0, "--config.model.latent_dim=0 must be >= 1"),
    ("model.dtype", "float16", "Valid dtypes: float32, bfloat16"),
    ("eval.metrics", ("fid", "fdi"), "--config.eval.metrics names unknown metrics 'fdi'"),
    ("eval.features", "vgg", "Valid: none, inception, mnist_classifier"),
    ("eval.fid_resize", "bicubic", "Valid resizes: pytorch_fid, clean"),
    ("data.loader", "numpy", "Valid loaders: tf_data, in_memory"),
    ("data.source", "hdf5", "Valid sources:"),
    ("distributed", "yes", "Valid: auto, on, off"),
    ("data.classes", (5, 5), "--config.data.classes=(5, 5) must be a non-empty "
     "list of distinct class labels (integers >= 0), e.g. (5, 6, 7, 8, 9)"),
    ("data.classes", (-1,), "must be a non-empty list of distinct class labels"),
    ("data.classes", ("5",), "must be a non-empty list of distinct class labels"),
    ("data.max_examples", 0, "--config.data.max_examples=0 must be >= 1, e.g. 500"),
])
def test_ranges_and_choices_name_the_flag_and_a_valid_value(field, value, says):
    config = defaults.base_config()
    _set(config, field, value)
    with pytest.raises(ValueError) as refused:
        gan_spec.build(config)
    text = _one_paragraph(refused.value)
    assert says in text and f"--config.{field}" in text, text


def test_an_unknown_loss_lists_the_valid_names():
    config = defaults.base_config()
    config.loss.name = "wasserstien"
    with pytest.raises(ValueError) as refused:
        gan_spec.build(config)
    text = _one_paragraph(refused.value)
    assert text.startswith("Unknown --config.loss.name='wasserstien'. Valid losses: "
                           "began, hinge, least_squares, minimax, non_saturating,")
    assert "Set --config.loss.name to one of them" in text


def test_the_spec_mirrors_the_config_and_holds_the_chosen_models_options():
    config = defaults.image_config()
    spec = gan_spec.build(config)
    assert spec.optim.g_lr == config.optim.g_lr and spec.data.batch_size == 64
    assert spec.eval.metrics == tuple(config.eval.metrics)
    assert spec.model.name == "dcgan" and spec.model.d_norm == "batch"
    assert not hasattr(spec.model, "hidden_dim")  # An mlp option.
    assert spec.tricks.pack == 1  # The tricks package's own options.
    with pytest.raises(AttributeError):
        spec.optim.g_lr = 1.0  # Frozen.
    assert spec.to_dict()["optim"]["g_lr"] == 2e-4


@pytest.mark.parametrize("task", TASKS)
def test_an_image_to_image_config_with_a_bad_value_is_refused(task, tmp_path):
    config = translation_defaults.base_config(task)
    config.objective.cycle_weight = -1.0
    text = _assert_refused_before_any_file(
        train.train_and_evaluate, config, tmp_path / "run",
        "--config.objective.cycle_weight")
    assert "must be >= 0, e.g. 10.0 (CycleGAN lambda)." in text


def test_image_to_image_ranges():
    config = translation_defaults.base_config("srgan")
    config.optim.b1 = 1.5
    with pytest.raises(ValueError, match=r"--config.optim.b1=1.5 must be in \[0, 1\)"):
        translation_spec.build(config)
    config = translation_defaults.base_config("cyclegan")
    config.task.name = "stargan"
    with pytest.raises(ValueError, match="Valid tasks: pix2pix, cyclegan, srgan"):
        translation_spec.build(config)


@pytest.mark.parametrize("task, field, value, says", [
    ("srgan", "objective.pretrain_steps", 2001,
     "Set --config.objective.pretrain_steps to at most 2000"),
    ("cyclegan", "data.batch_size", 7, "e.g. --config.data.batch_size=8."),
    ("cyclegan", "task.pairing", "two_folders", "--config.task.pairing=two_splits"),
])
def test_image_to_image_combinations_name_the_flags_and_a_valid_value(
        task, field, value, says):
    config = translation_defaults.base_config(task)
    _set(config, field, value)
    with pytest.raises(ValueError) as refused:
        translation_spec.build(config)
    text = _one_paragraph(refused.value)
    assert says in text and f"--config.{field}=" in text, text


def test_an_ablation_with_a_bad_experiment_value_is_refused_before_any_file(tmp_path):
    config = _load("ablation_ring8", "tiny")
    config.experiment.optim.d_lr = 0.0
    text = _assert_refused_before_any_file(
        runner.run_sweep, config, tmp_path / "sweep", "--config.experiment.optim.d_lr")
    assert "must be > 0" in text


def test_an_ablation_setting_with_a_bad_value_is_refused_before_any_file(tmp_path):
    config = _load("ablation_ring8", "tiny")
    config.grid.lr = {"good": "optim.g_lr=1e-3", "bad": "optim.g_lr=-1e-3"}
    text = _assert_refused_before_any_file(
        runner.run_sweep, config, tmp_path / "sweep", "--config.experiment.optim.g_lr")
    assert "lr=bad" in text and "must be > 0" in text
    config.grid.lr = {"good": "optim.g_lr=1e-3"}
    config.num_seeds = 0
    with pytest.raises(ValueError, match=r"--config.num_seeds=0 must be >= 1"):
        ablation_spec.build(config)


def _assert_all_declared(config: ml_collections.ConfigDict, declared: dict,
                         path: str) -> None:
    """Every leaf of `config` has a declaration in `declared` (a dict of
    field name to Declared, or to a nested such dict)."""
    for name, value in config.items():
        assert name in declared, f"{path}.{name} has no declared type"
        if isinstance(value, ml_collections.ConfigDict):
            _assert_all_declared(value, declared[name], f"{path}.{name}")


def _by_name(*sections: type[fields.Section]) -> dict:
    return {d.name: d for section in sections for d in section.declared()}


def test_every_field_of_the_gan_config_is_declared():
    from gan_jax import models
    from gan_jax.tricks import registry
    declared = _by_name(gan_spec.Run)
    declared.update({name: _by_name(section)
                     for name, section in gan_spec.SECTIONS.items()})
    declared["model"] = _by_name(*models.OPTIONS.values())
    # Each trick declares its own fields (gan_jax.tricks.registry).
    declared["tricks"] = {f.name: f.declared for f in registry.fields("tricks")}
    declared["loss"].update({f.name: f.declared for f in registry.fields("loss")})
    _assert_all_declared(defaults.base_config(), declared, "config")


@pytest.mark.parametrize("task", TASKS)
def test_every_field_of_the_image_to_image_configs_is_declared(task):
    declared = _by_name(gan_spec.Run)
    declared.update({name: _by_name(section)
                     for name, section in translation_spec.SECTIONS.items()})
    _assert_all_declared(translation_defaults.base_config(task), declared, "config")


def test_an_undeclared_field_is_a_type_error():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Sloppy(fields.Section):
        ok: int = fields.field(1, "declared")
        forgotten: int = 2

    with pytest.raises(TypeError, match="Sloppy.forgotten is not declared"):
        Sloppy.declared()


@pytest.mark.slow
@pytest.mark.parametrize("override, expected", [
    ("--config.optim.g_lr=-1",
     "--config.optim.g_lr=-1.0 must be > 0, e.g. 0.0002"),
    # Overrides of fields the config lacks: refused while the flags are
    # parsed, not with ml_collections' traceback.
    ("--config.tricks.ada_speed=0.01",
     "--config.tricks.ada_speed is a retired field: ADA's step is the paper's"),
])
def test_main_refuses_a_bad_override_without_creating_the_workdir(
        tmp_path, override, expected):
    workdir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "gan_jax.main", "--config=configs/ring8.py",
         override, f"--workdir={workdir}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert result.returncode == 1, result.stderr[-3000:]
    message = result.stderr[result.stderr.index("gan_jax.main: ValueError:"):]
    # One paragraph: the heading line, then the message wrapped at 80 columns.
    assert "\n\n" not in message.strip() and "Traceback" not in result.stderr
    assert " ".join(message.split()).startswith(
        "gan_jax.main: ValueError: " + expected)
    assert not workdir.exists()


@pytest.mark.parametrize("override, expected", [
    ("--config.optim.g_lrr=0.1",
     "--config.optim.g_lrr: config.optim has no field 'g_lrr'. Its fields: "),
    ("--config.trick.ada=True", "--config.trick: config has no field 'trick'."),
    ("--config.seed.x=1",
     "--config.seed.x: config.seed is a value, not a section; set --config.seed=VALUE."),
])
def test_an_override_the_config_lacks_is_named_with_the_fields_it_could_be(
        override, expected):
    from gan_jax import cli
    message = cli.unknown_override(["main", "--config=configs/ring8.py", override],
                                   defaults.base_config())
    assert message.startswith(expected), message
    if "Its fields" in expected:
        assert "e.g. --config.optim.g_lr=..." in message
    assert cli.unknown_override(["main", "--config.optim.g_lr=0.1"],
                                defaults.base_config()) is None


def test_a_config_file_field_the_defaults_lack_is_refused_before_any_file(tmp_path):
    """A typo or a retired field set in a config file would otherwise be
    read by nothing; the run refuses it naming the close field."""
    from gan_jax import train
    config = defaults.base_config()
    config.tricks.ada_kimgg = 100.0
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=re.escape(
            "--config.tricks.ada_kimgg: config.tricks has no field 'ada_kimgg'. "
            "Its fields: ")) as error:
        train.train_and_evaluate(config, workdir)
    assert "e.g. --config.tricks.ada_kimg=..." in str(error.value)
    config = defaults.base_config()
    config.tricks.ada_speed = 0.01
    with pytest.raises(ValueError, match="--config.tricks.ada_speed is a retired "
                                         "field: .* --config.tricks.ada_kimg"):
        train.train_and_evaluate(config, workdir)
    assert not workdir.exists()


def test_an_ablation_experiment_field_the_defaults_lack_is_refused():
    from gan_jax.sweep import spec as ablation_spec
    config = defaults.ablation_config(defaults.base_config(), num_seeds=1)
    config.experiment.optim.g_lrr = 0.1
    with pytest.raises(ValueError, match=re.escape(
            "--config.experiment.optim.g_lrr: config.experiment.optim has no "
            "field 'g_lrr'")):
        ablation_spec.build(config)


# TFDS celeb_a (https://www.tensorflow.org/datasets/catalog/celeb_a): train
# 162,770, validation 19,867, test 19,962 images, together the 202,599 of
# img_align_celeba that pytorch/examples' dcgan reads with ImageFolder.
_CELEB_A_SPLITS = {"train": 162_770, "validation": 19_867, "test": 19_962}


def test_dcgan64_reference_reads_all_of_celeb_a_for_25_epochs():
    from gan_jax.data import input_pipeline
    spec = gan_spec.build(_load("dcgan64_reference"))
    assert spec.data.name == "celeb_a"
    # Whole splits only: no slice such as "train[:90%]".
    assert "[" not in spec.data.split
    read = input_pipeline._split_names(spec.data.split)
    print(f"split {spec.data.split!r}: "
          f"{sum(_CELEB_A_SPLITS.get(s, 0) for s in read):,} images")
    assert read == set(_CELEB_A_SPLITS)
    assert sum(_CELEB_A_SPLITS.values()) == 202_599
    # The reference's 25 epochs: its DataLoader (batch 64, drop_last=False)
    # makes ceil(202,599 / 64) = 3,166 iterations an epoch; 25 x 3,166.
    assert spec.data.batch_size == 64
    assert spec.train.num_steps == 25 * 3_166 == 79_150
