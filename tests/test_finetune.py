"""Fine-tuning from another run (`config.init`, gan_jax.run.init_from_run) and
FreezeD (`optim.freeze_d_blocks`).

The source runs here are run directories as training leaves them
(config.json, data_spec.json, orbax checkpoints), written directly from a
state that has taken one train step, so its Adam moments are non-zero and
its EMA differs from its generator.
"""

import hashlib
import json

import jax
import numpy as np
import optax
import pytest

import config_files  # tests/config_files.py
import ring8_tiny  # tests/ring8_tiny.py
import small_toy  # tests/small_toy.py
from gan_jax import defaults
from gan_jax import models
from gan_jax import train
from gan_jax.run import checkpoint
from gan_jax.run import experiment
from gan_jax.run import gan_data
from gan_jax.run import gan_spec
from gan_jax.run import init_from_run
from gan_jax.run import run_dir
from gan_jax.sweep import spec as sweep_spec

POINT = (2,)


def _config(**overrides):
    # Two hidden layers, so that D has two blocks before its output layer.
    return small_toy.config(**{"model.num_layers": 2, **overrides})


def _stepped_state(spec, key):
    """A state after one train step of `spec` on Gaussian points."""
    state = experiment.create_state(spec, POINT, key)
    batch = {"x": jax.random.normal(jax.random.fold_in(key, 1),
                                    (1, small_toy.BATCH, *POINT))}
    new_state, _ = jax.jit(experiment.make_train_step(spec))(
        state, batch, jax.random.fold_in(key, 2))
    return state, new_state


def _write_source(workdir, config, steps=(2, 4)):
    """A run directory with checkpoints at `steps` (each the same stepped
    state); returns that state."""
    spec = gan_spec.build(config)
    _, state = _stepped_state(spec, jax.random.key(11))
    workdir.mkdir(parents=True)
    run_dir.write_config(workdir, config)
    run_dir.write_data_spec(workdir, run_dir.DataSpec(POINT, None))
    manager = checkpoint.create_manager(workdir, save_every=1)
    for step in steps:
        checkpoint.save(manager, step, state, force=True)
    manager.wait_until_finished()
    manager.close()
    return state


def _init(source_dir, **fields):
    return gan_spec.Init(from_workdir=str(source_dir), **fields)


def _fingerprint(directory):
    """Every file under `directory` with its bytes' hash and mtime."""
    return {str(path.relative_to(directory)): (
        hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*")) if path.is_file()}


def _assert_trees_equal(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b) and leaves_a
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _adam(opt_state):
    return init_from_run._adam_state(opt_state)


# What each network's optimizer state holds besides Adam's: the injected
# learning rate (and the schedule's count), which stay this run's.
def _learning_rate(network):
    return float(network.opt_state.hyperparams["learning_rate"])


@pytest.mark.parametrize("optimizer_state,ema", [(False, False), (True, True)])
def test_initialised_state_takes_exactly_the_asked_parts(tmp_path, optimizer_state,
                                                         ema):
    source_dir = tmp_path / "source"
    source = _write_source(source_dir, _config())
    before = _fingerprint(source_dir)
    # Other learning rates: the run's own must survive a restored Adam state.
    config = _config(**{"optim.g_lr": 1e-4, "optim.d_lr": 3e-4})
    spec = gan_spec.build(config)
    fresh = experiment.create_state(spec, POINT, jax.random.key(0))
    init = _init(source_dir, optimizer_state=optimizer_state, ema=ema)
    opened = init_from_run.open_source(init, tmp_path / "run")
    assert opened.step == 4  # The newest, with from_step unset.
    init_from_run.check_shapes(opened, jax.eval_shape(lambda: fresh), config, init)
    state = init_from_run.initialize(fresh, opened, init)

    assert int(state.step) == 0
    for name in ("generator", "discriminator"):
        ours, theirs, new = (getattr(s, name) for s in (state, source, fresh))
        _assert_trees_equal(ours.params, theirs.params)
        assert _learning_rate(ours) == _learning_rate(new) != _learning_rate(theirs)
        _assert_trees_equal(_adam(ours.opt_state),
                            _adam((theirs if optimizer_state else new).opt_state))
    # The source's moments are not a fresh Adam's: the comparison can fail.
    assert float(_adam(source.discriminator.opt_state).count) == 1
    assert float(_adam(fresh.discriminator.opt_state).count) == 0
    _assert_trees_equal(state.ema_params,
                        source.ema_params if ema else source.generator.params)
    assert not np.array_equal(source.ema_params["Dense_0"]["kernel"],
                              source.generator.params["Dense_0"]["kernel"])
    assert _fingerprint(source_dir) == before


def test_shape_mismatches_are_listed_path_by_path_naming_the_flag(tmp_path):
    _write_source(tmp_path / "source", _config())
    config = _config(**{"model.hidden_dim": 8})
    spec = gan_spec.build(config)
    fresh = jax.eval_shape(lambda: experiment.create_state(spec, POINT,
                                                           jax.random.key(0)))
    init = _init(tmp_path / "source")
    source = init_from_run.open_source(init, tmp_path / "run")
    with pytest.raises(ValueError) as raised:
        init_from_run.check_shapes(source, fresh, config, init)
    message = str(raised.value)
    assert message.startswith(f"--config.init.from_workdir={tmp_path / 'source'}")
    # Both shapes, path by path (the full listing: the test below).
    for network in ("generator", "discriminator"):
        assert (f"{network} parameters ['Dense_0']['bias']: (16,) float32 -> "
                "(8,) float32") in message
        assert (f"{network} parameters ['Dense_1']['kernel']: (16, 16) float32 "
                "-> (8, 8) float32") in message
    assert "model.hidden_dim: 16 -> 8" in message
    assert "EMA" not in message and "Adam" not in message


def test_mismatches_name_every_differing_leaf_with_both_shapes():
    """`mismatches` against an independent listing: every leaf of the taken
    parts whose shape differs, and leaves present on one side only."""
    wide = gan_spec.build(_config())
    narrow = gan_spec.build(_config(**{"model.hidden_dim": 8}))
    shapes = {name: jax.eval_shape(lambda s=s: experiment.create_state(
        s, POINT, jax.random.key(0))) for name, s in (("wide", wide), ("narrow", narrow))}
    found = init_from_run.mismatches(shapes["wide"], shapes["narrow"],
                                     gan_spec.Init(ema=True))
    expected = []
    for part, tree_of in (("generator parameters", lambda s: s.generator.params),
                          ("discriminator parameters",
                           lambda s: s.discriminator.params),
                          ("EMA generator parameters", lambda s: s.ema_params)):
        theirs = jax.tree_util.tree_flatten_with_path(tree_of(shapes["wide"]))[0]
        ours = dict(jax.tree_util.tree_flatten_with_path(tree_of(shapes["narrow"]))[0])
        for path, leaf in theirs:
            other = ours[path]
            if leaf.shape != other.shape:
                expected.append(f"{part} {jax.tree_util.keystr(path)}: "
                                f"{leaf.shape} float32 -> {other.shape} float32")
    assert sorted(found) == sorted(expected) and len(expected) > 6

    deeper = gan_spec.build(_config(**{"model.num_layers": 3}))
    deep = jax.eval_shape(lambda: experiment.create_state(deeper, POINT,
                                                          jax.random.key(0)))
    found = init_from_run.mismatches(shapes["wide"], deep, gan_spec.Init())
    assert ("discriminator parameters ['Dense_3']['kernel']: absent -> "
            "(16, 1) float32") in found
    assert ("discriminator parameters ['Dense_2']['kernel']: (16, 1) float32 -> "
            "(16, 16) float32") in found


def test_missing_directory_step_and_run_files_are_refused_by_name(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match=r"--config.init.from_workdir=.*"
                       r"missing does not exist"):
        init_from_run.open_source(_init(tmp_path / "missing"), run)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        init_from_run.open_source(_init(tmp_path / "empty"), run)
    _write_source(tmp_path / "source", _config(), steps=(2, 4, 6))
    with pytest.raises(ValueError) as raised:
        init_from_run.open_source(_init(tmp_path / "source", from_step=5), run)
    assert "--config.init.from_step=5" in str(raised.value)
    assert "steps 2, 4, 6" in str(raised.value)
    assert init_from_run.open_source(_init(tmp_path / "source", from_step=2),
                                     run).step == 2
    with pytest.raises(ValueError, match="this run's own --workdir"):
        init_from_run.open_source(_init(tmp_path / "source"), tmp_path / "source")
    assert not run.exists()


def test_eval_split_compares_with_held_out_images_of_the_same_classes(tmp_path):
    """`eval.split` reads the metrics' real images from another split:
    `data.classes` applies, `data.max_examples` (a training limit) not."""
    import idx_digits  # tests/idx_digits.py
    idx_digits.write(tmp_path / "idx", num=40)  # Labels 0..9, four times over.
    config = _config(**{"data.source": "idx", "data.path": str(tmp_path / "idx"),
                        "data.data_dir": str(tmp_path / "tfds"),
                        "data.split": "test[:20]", "data.classes": (2, 5),
                        "data.max_examples": 3, "eval.split": "test[20:]"})
    labels = [int(example["label"]) for example in gan_data.reference_dataset(
        gan_spec.build(config)).as_numpy_iterator()]
    assert labels == [2, 5, 2, 5]  # Images 22, 25, 32, 35.
    config.eval.split = None  # The training examples: the first 3 of 2 and 5.
    labels = [int(example["label"]) for example in gan_data.reference_dataset(
        gan_spec.build(config)).as_numpy_iterator()]
    assert labels == [2, 5, 2]


def test_init_fields_without_a_source_are_refused():
    config = _config(**{"init.from_step": 4})
    with pytest.raises(ValueError, match=r"--config.init.from_step=4 .* "
                       r"--config.init.from_workdir=DIR"):
        gan_spec.build(config)
    with pytest.raises(ValueError, match="--config.init.ema=True"):
        gan_spec.build(_config(**{"init.ema": True}))


def test_an_ablation_refuses_init():
    config = defaults.ablation_config(_config(**{"init.from_workdir": "runs/x"}),
                                      num_seeds=1)
    config.grid.loss = {"hinge": "loss.name=hinge"}
    with pytest.raises(ValueError, match="an ablation starts every member fresh"):
        sweep_spec.build(config)


def test_frozen_discriminator_blocks_do_not_move_under_a_step_while_the_others_do():
    spec = gan_spec.build(_config(**{"optim.freeze_d_blocks": 1}))
    before, after = _stepped_state(spec, jax.random.key(3))
    old, new = before.discriminator.params, after.discriminator.params
    _assert_trees_equal(old["Dense_0"], new["Dense_0"])
    for layer in ("Dense_1", "Dense_2"):
        assert not np.array_equal(old[layer]["kernel"], new[layer]["kernel"])
    # No moments for the frozen layer; Adam's for the others.
    adam = _adam(after.discriminator.opt_state)
    assert {path[0].key for path, _ in jax.tree_util.tree_flatten_with_path(
        adam.mu)[0]} == {"Dense_1", "Dense_2"}
    # The generator trains as before.
    assert not np.array_equal(before.generator.params["Dense_0"]["kernel"],
                              after.generator.params["Dense_0"]["kernel"])


def test_frozen_optimizer_updates_the_others_exactly_as_adam():
    """Against optax.adam on the trained layers alone (a separate
    computation): the same updates, and zero for the frozen layer."""
    params = {"a": np.ones((3,), np.float32), "b": np.full((2, 2), 2.0, np.float32)}
    grads = {"a": np.array([1.0, -2.0, 3.0], np.float32),
             "b": np.array([[0.5, -0.5], [1.0, 4.0]], np.float32)}
    tx = experiment.create_optimizer(1e-2, 0.5, 0.999, schedule="constant",
                                     num_updates=10, frozen=("a",))
    reference = optax.adam(1e-2, b1=0.5, b2=0.999)
    state, ref_state = tx.init(params), reference.init({"b": params["b"]})
    for _ in range(3):
        updates, state = jax.jit(tx.update)(grads, state, params)
        ref_updates, ref_state = reference.update({"b": grads["b"]}, ref_state)
        np.testing.assert_array_equal(updates["a"], np.zeros(3, np.float32))
        # Same operations in the same order: equal to float32 round-off.
        np.testing.assert_allclose(updates["b"], ref_updates["b"], rtol=1e-6,
                                   atol=0)


@pytest.mark.parametrize("name,config_file", [
    ("dcgan", "cgan_mnist"), ("sngan", "sngan_cifar10"), ("biggan", "biggan_cifar10"),
    ("stylegan2", "stylegan2_cifar10"), ("mlp", "ring8")])
def test_every_declared_block_is_a_distinct_layer_of_the_discriminator(
        name, config_file):
    config = config_files.load(config_file, "tiny")
    spec = gan_spec.build(config, check_devices=False)
    shape = {"dcgan": (28, 28, 1), "mlp": POINT}.get(name, (32, 32, 3))
    _, discriminator = models.create(spec.model, shape)
    blocks = discriminator.blocks_from_input()
    names = [layer for block in blocks for layer in block]
    state = jax.eval_shape(lambda: experiment.create_state(spec, shape,
                                                           jax.random.key(0)))
    params = state.discriminator.params
    assert len(names) == len(set(names)) and set(names) < set(params)
    # The first block reads the input: a kernel of its first layer takes the
    # image's channels (or the point's coordinates).
    first = jax.tree.leaves(params[blocks[0][0]])
    assert any(leaf.ndim >= 2 and leaf.shape[-2] == shape[-1] for leaf in first)


def test_the_experiment_runs_differ_only_in_where_they_start_and_freezed():
    """configs/finetune_mnist.py: (b), (c) and (d) train the same model on
    the same 500 images of 5-9 for the same steps, measured against held-out
    5-9; (a) is the same model on 0-4."""
    runs = {name: config_files.load("finetune_mnist", name).to_dict()
            for name in ("pretrain", "finetune", "scratch", "freezed")}
    assert runs["finetune"] == runs["scratch"]  # The init is a flag: --config.init.
    freezed = runs["freezed"]
    assert freezed["optim"].pop("freeze_d_blocks") == 1
    runs["scratch"]["optim"].pop("freeze_d_blocks")
    assert freezed == runs["scratch"]
    spec = gan_spec.build(config_files.load("finetune_mnist", "finetune"))
    assert (spec.data.classes, spec.data.max_examples) == ((5, 6, 7, 8, 9), 500)
    assert spec.eval.split == "test[5000:]" and spec.data.split == "test[:5000]"
    assert runs["pretrain"]["model"] == runs["finetune"]["model"]
    assert config_files.load("finetune_mnist", "tiny").data.classes == (0, 1, 2, 3, 4)


def test_freezing_more_blocks_than_declared_or_a_model_without_blocks_is_refused():
    spec = gan_spec.build(_config(**{"optim.freeze_d_blocks": 3}))
    with pytest.raises(ValueError, match=r"--config.optim.freeze_d_blocks=3: .* "
                       r"has 2 blocks .* at most 2"):
        experiment.create_state(spec, POINT, jax.random.key(0))
    autoencoder = gan_spec.build(_config(**{
        "optim.freeze_d_blocks": 1, "model.d_autoencoder": True,
        "loss.name": "began"}))
    with pytest.raises(ValueError, match=r"--config.optim.freeze_d_blocks=1: the "
                       r"MLPAutoencoderDiscriminator discriminator declares no blocks"):
        experiment.create_state(autoencoder, POINT, jax.random.key(0))
    with pytest.raises(ValueError, match="--config.optim.d_weight_clip"):
        gan_spec.build(_config(**{"optim.freeze_d_blocks": 1,
                                  "optim.d_weight_clip": 0.01}))


@pytest.mark.slow
def test_a_fine_tuned_run_resumes_from_its_own_checkpoint(tmp_path, toy_data_dir):
    """The init applies only to a run with no checkpoint of its own: with the
    source gone, the resumed run still continues, from its own step 4. The
    source is never written to."""
    source_dir, workdir = tmp_path / "source", tmp_path / "run"
    tiny = ring8_tiny.config(toy_data_dir, num_steps=4)
    source = _write_source(source_dir, tiny)
    before = _fingerprint(source_dir)
    config = ring8_tiny.config(toy_data_dir, num_steps=4)
    config.init.from_workdir = str(source_dir)
    train.train_and_evaluate(config, workdir)
    assert _fingerprint(source_dir) == before
    record = json.loads((workdir / run_dir.INIT_FILE).read_text())
    assert record["from_workdir"] == str(source_dir) and record["step"] == 4
    with checkpoint.open_read_only(workdir) as manager:
        assert sorted(manager.all_steps()) == [2, 4]
    run = train.restore_trained(workdir)
    assert run.step == 4

    for path in sorted(source_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    source_dir.rmdir()
    config.train.num_steps = 6
    final = train.train_and_evaluate(config, workdir)
    assert final["step"] == 6
    resumed = train.restore_trained(workdir)
    assert resumed.step == 6
    assert not np.array_equal(resumed.state.discriminator.params["Dense_0"]["kernel"],
                              source.discriminator.params["Dense_0"]["kernel"])
