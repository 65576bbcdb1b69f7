"""Fine-tuning: a fresh GAN run whose networks start from another run's checkpoint.

`--config.init.from_workdir=DIR` (and `from_step`, default the newest)
starts G and D from the checkpoint of the GAN run in DIR: their parameters
and BatchNorm statistics; with `init.optimizer_state` also both optimizers'
Adam moments and counts, with `init.ema` the EMA generator. What is not
taken starts as in any fresh run: the step at 0, the learning rates and
their schedule this run's, the tricks' statistics fresh, the EMA a copy of
the loaded generator (so, like every run, it starts at the generator it
averages).

The loop applies it only to a run that starts at step 0 without a
checkpoint of its own (`Task.initialize`): a resumed fine-tuning run
continues from its own checkpoints. The source is only read
(`checkpoint.open_read_only`); every check (the directory, the step, every
shape) runs before the new run writes anything.
"""

from typing import Any, NamedTuple

from absl import logging
from etils import epath
import jax
import ml_collections
import optax

from gan_jax import defaults
from gan_jax.game import state as state_lib
from gan_jax.run import checkpoint
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.run import run_dir

FLAG = "--config.init.from_workdir"


class Source(NamedTuple):
    """The checked checkpoint a run starts from."""
    workdir: epath.Path
    step: int
    spec: gan_spec.GanSpec
    data_spec: run_dir.DataSpec
    config: ml_collections.ConfigDict

    def record(self, init: gan_spec.Init) -> dict[str, Any]:
        """What the run's `init.json` says it started from."""
        return {"from_workdir": str(self.workdir.absolute()), "step": self.step,
                "taken": taken_parts(init)}


def taken_parts(init: gan_spec.Init) -> list[str]:
    taken = ["generator and discriminator parameters and BatchNorm statistics"]
    if init.optimizer_state:
        taken.append("both optimizers' Adam moments and counts")
    if init.ema:
        taken.append("the EMA generator")
    return taken


def open_source(init: gan_spec.Init, workdir: epath.PathLike) -> Source:
    """The run `init.from_workdir` names, at `init.from_step` (its newest
    checkpoint when None), checked without reading a checkpoint.

    Raises:
      FileNotFoundError or ValueError, one paragraph naming the flag: the
        directory is missing, is this run's own, is not a GAN run, has no
        checkpoint, or none at the step asked (listing those it has).
    """
    source = epath.Path(init.from_workdir)
    where = f"{FLAG}={init.from_workdir}"
    if not source.is_dir():
        raise FileNotFoundError(
            f"{where} does not exist: set it to the --workdir of a trained GAN "
            "run, e.g. runs/cgan_mnist.")
    if source.absolute() == epath.Path(workdir).absolute():
        raise ValueError(
            f"{where} is this run's own --workdir: a run cannot start from "
            "itself. To continue it, run the same command without "
            "--config.init.from_workdir; to fine-tune it, give the new run "
            "another --workdir.")
    if not (source / run_dir.CONFIG_FILE).exists():
        raise FileNotFoundError(
            f"{where} has no {run_dir.CONFIG_FILE}, so it is not a training run "
            "directory: set it to the --workdir of a trained GAN run.")
    saved = run_dir.read_saved_config(source)
    if "task" in saved:
        raise ValueError(
            f"{where} is a {saved['task'].get('name', 'image-to-image')} run; "
            "only GAN runs (configs without a `task`) can start a GAN run.")
    if not (source / run_dir.DATA_SPEC_FILE).exists():
        raise FileNotFoundError(
            f"{where} has no {run_dir.DATA_SPEC_FILE}: that run stopped before "
            "its first save. Resume it first, or choose another run.")
    config = run_dir.read_config(source, defaults.base_config())
    spec = gan_spec.build(config, "config", check_devices=False)
    manager = checkpoint.open_read_only(source)
    try:
        steps = sorted(manager.all_steps())
    finally:
        manager.close()
    if not steps:
        raise FileNotFoundError(
            f"{where} has no checkpoint in {source / 'checkpoints'}. Resume "
            "that run until it saves one, or choose another run.")
    step = steps[-1] if init.from_step is None else init.from_step
    if step not in steps:
        raise ValueError(
            f"--config.init.from_step={init.from_step}: {source} has no "
            f"checkpoint at that step. Its checkpoints: steps "
            f"{', '.join(map(str, steps))}. Set --config.init.from_step to one "
            f"of them, e.g. {steps[-1]}, or leave it unset for the newest.")
    return Source(source, step, spec, run_dir.read_data_spec(source), config)


def _source_template(source: Source):
    return experiment.create_state(source.spec, source.data_spec.sample_shape,
                                   jax.random.key(0))


def _adam_state(opt_state) -> optax.ScaleByAdamState:
    """The one Adam state inside an optimizer state (see
    `experiment.create_optimizer`; under FreezeD its moments hold no entry
    for the frozen layers)."""
    [adam] = [node for node in jax.tree.leaves(
        opt_state, is_leaf=lambda node: isinstance(node, optax.ScaleByAdamState))
        if isinstance(node, optax.ScaleByAdamState)]
    return adam


def _parts(state, init: gan_spec.Init) -> dict[str, tuple[Any, bool]]:
    """The parts of a `GANState` that `init` takes, by name, each with
    whether the source may hold leaves this run lacks: the Adam moments of
    layers this run freezes (FreezeD)."""
    parts = {}
    for name, network in (("generator", state.generator),
                          ("discriminator", state.discriminator)):
        parts[f"{name} parameters"] = (network.params, False)
        parts[f"{name} BatchNorm statistics"] = (network.batch_stats, False)
        if init.optimizer_state:
            parts[f"{name} Adam state"] = (_adam_state(network.opt_state), True)
    if init.ema:
        parts["EMA generator parameters"] = (state.ema_params, False)
    return parts


def _leaves(tree) -> dict[str, Any]:
    return {jax.tree_util.keystr(path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _describe(leaf) -> str:
    return f"{tuple(leaf.shape)} {leaf.dtype}"


def mismatches(source_state, state, init: gan_spec.Init) -> list[str]:
    """Every leaf of the parts `init` takes that differs between the two
    states (abstract or not): `part path: source shape -> this run's shape`,
    "absent" on the side that lacks it."""
    found = []
    this = _parts(state, init)
    for name, (source_part, extra_allowed) in _parts(source_state, init).items():
        theirs, ours = _leaves(source_part), _leaves(this[name][0])
        for path in sorted(set(theirs) | set(ours)):
            if path not in ours and extra_allowed:
                continue
            there = _describe(theirs[path]) if path in theirs else "absent"
            here = _describe(ours[path]) if path in ours else "absent"
            if there != here:
                found.append(f"{name} {path}: {there} -> {here}")
    return found


def check_shapes(source: Source, state_shapes, config: ml_collections.ConfigDict,
                 init: gan_spec.Init) -> None:
    """Raises ValueError listing every leaf of what `init` takes whose path
    or shape differs between `source`'s checkpoint and `state_shapes` (this
    run's state, e.g. from `jax.eval_shape`), with the model fields that
    differ between the two configs."""
    found = mismatches(jax.eval_shape(lambda: _source_template(source)),
                       state_shapes, init)
    if not found:
        return
    differences = [line for line in run_dir.config_differences(source.config, config)
                   if line.startswith(("model.", "data.image_size", "tricks.",
                                       "optim.freeze_d_blocks"))]
    configs = ("\nFields that differ (that run -> this run):\n  "
               + "\n  ".join(differences)) if differences else ""
    listed = "\n  ".join(found)
    raise ValueError(
        f"{FLAG}={source.workdir}: its checkpoint at step {source.step} does not "
        "fit this run's networks, so this run cannot start from it. Leaves that "
        f"differ (that run -> this run):\n  {listed}{configs}\nSet the model "
        "fields to that run's (its config.json), choose a run with the same "
        "networks, or drop --config.init.optimizer_state / --config.init.ema "
        "when only their parts differ.")


def initialize(fresh, source: Source, init: gan_spec.Init):
    """`fresh` (this run's initial `GANState`) with the parts `init` takes
    from `source`'s checkpoint; `check_shapes` has passed."""
    manager = checkpoint.open_read_only(source.workdir)
    try:
        restored = checkpoint.restore_step(manager, source.step,
                                           _source_template(source))
    finally:
        manager.close()

    def network(fresh_net, source_net):
        net = fresh_net.replace(params=source_net.params,
                                batch_stats=source_net.batch_stats)
        if not init.optimizer_state:
            return net
        adam = _adam_state(fresh_net.opt_state)
        taken = _adam_state(source_net.opt_state)
        moments = {name: _take_by_path(getattr(adam, name), getattr(taken, name))
                   for name in ("mu", "nu")}
        adam = adam._replace(count=taken.count, **moments)
        opt_state = jax.tree.map(
            lambda node: adam if isinstance(node, optax.ScaleByAdamState) else node,
            fresh_net.opt_state,
            is_leaf=lambda node: isinstance(node, optax.ScaleByAdamState))
        return net.replace(opt_state=opt_state)

    generator = network(fresh.generator, restored.generator)
    state = fresh.replace(
        generator=generator,
        discriminator=network(fresh.discriminator, restored.discriminator),
        ema_params=restored.ema_params if init.ema else generator.params)
    logging.info("Starting from %s at step %d: %s.", source.workdir, source.step,
                 "; ".join(taken_parts(init)))
    # No two leaves may share a buffer: the train step donates its state.
    return state_lib.copy_tree(state)


def _take_by_path(ours, theirs):
    """`ours` with each leaf replaced by `theirs`' leaf at the same path."""
    leaves = _leaves(theirs)
    return jax.tree_util.tree_map_with_path(
        lambda path, _: leaves[jax.tree_util.keystr(path)], ours)
