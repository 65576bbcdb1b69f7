"""Opens trained generators as one: the `--workdir` list of `gan_jax.sample`
and `gan_jax.evaluate`, with `--ensemble_weights`.

Each comma-separated entry of `--workdir` names one or more members:

    RUN                     a training run directory (gan_jax.main)
    SWEEP                   a sweep directory (gan_jax.ablate) with one
                            setting: every seed of it
    SWEEP/settings/NAME     a finished setting of a sweep: every seed of it
    SWEEP/settings/NAME@S   that setting's seed S only
    SWEEP/groups/KEY        a training group of a sweep: all its members

Members are in the order written (a setting's in seed order, a group's in its
group.json order); `--ensemble_weights` gives one weight per member in that
order (equal weights without it). A sweep keeps the stacked states of each
group in `groups/KEY/checkpoints`, and each finished setting's config in
`settings/NAME/results.json`: a member is its row of the stacked state.

The members must draw the same kind of sample: one sample shape, one set of
classes, one latent size and InfoGAN code, or the ensemble is refused naming
the flag. They may differ in anything else (architecture, loss, steps).
"""

from collections.abc import Sequence
import json
from typing import NamedTuple

from absl import flags
from absl import logging
from etils import epath
import jax

from gan_jax import defaults
from gan_jax import train
from gan_jax.evaluation import ensemble
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.run import run_dir
from gan_jax.sweep import members as members_lib
from gan_jax.sweep import runner

WORKDIR_FLAG = "--workdir"
SEED_MARK = "@"


def define_flags(done_to_them: str):
    """Defines `--workdir` and `--ensemble_weights` for a command; returns
    their holders. `done_to_them` says what the command does with several
    (e.g. "drawn as one ensemble")."""
    workdir = flags.DEFINE_list(
        "workdir", None, "A training run directory, or several "
        f"(comma-separated) and sweep members, {done_to_them} "
        "(gan_jax.trained_ensemble).")
    weights = flags.DEFINE_list(
        "ensemble_weights", None, "One mixture weight per --workdir member, "
        "e.g. 1,1,2 (default: equal).")
    return workdir, weights


class Member(NamedTuple):
    """One trained generator of an ensemble, and where it came from (e.g.
    "runs/sweep/settings/recipe-default seed 3 step 6000")."""
    run: train.TrainedRun
    source: str


def open_members(workdirs: Sequence[str]) -> list[Member]:
    """The members `workdirs` name (the module docstring), restored.

    Raises:
      FileNotFoundError, ValueError: an entry that names no run, sweep,
        finished setting, seed or group, with what each would hold.
    """
    if not workdirs:
        raise ValueError(f"{WORKDIR_FLAG} names no run; e.g. "
                         f"{WORKDIR_FLAG}=runs/a or {WORKDIR_FLAG}=runs/a,runs/b.")
    members = []
    for entry in workdirs:
        members.extend(_open_entry(entry))
    return members


def parse_weights(texts: Sequence[str] | None) -> list[float] | None:
    """`--ensemble_weights` (absl's list of strings) as numbers; None when
    the flag is not given (equal weights)."""
    if not texts:
        return None
    try:
        return [float(text) for text in texts]
    except ValueError:
        raise ValueError(
            f"{ensemble.WEIGHTS_FLAG}={','.join(texts)} is not a list of "
            f"numbers: give one weight per member, e.g. "
            f"{ensemble.WEIGHTS_FLAG}=1,1,2.") from None


def describe(members: Sequence[Member], generator: ensemble.Ensemble) -> list[dict]:
    """Each member's source, step and weight, as the reports record them."""
    return [{"member": index, "source": member.source, "step": member.run.step,
             "weight": float(weight)}
            for index, (member, weight) in enumerate(zip(members, generator.weights))]


def create(members: Sequence[Member],
           weights: Sequence[float] | None = None) -> ensemble.Ensemble:
    """The ensemble of `members`, refused (ValueError naming the flag) when
    they draw different kinds of samples or the weights are not valid
    (`ensemble.check_weights`)."""
    check_compatible(members)
    return ensemble.create([m.run.state for m in members],
                           [m.run.spec for m in members], weights)


def check_compatible(members: Sequence[Member]) -> None:
    """Raises ValueError naming `--workdir` unless every member draws the
    same kind of sample from the same kind of latent."""
    if len(members) > 1:
        for member in members:
            if member.run.image_to_image:
                raise ValueError(
                    f"{WORKDIR_FLAG}: {member.source} is an image-to-image run; "
                    "an ensemble mixes GAN generators. Name it alone to sample "
                    "or evaluate it.")
    traits = {
        "sample shape (data_spec.json)": lambda r: tuple(r.data_spec.sample_shape),
        "classes (config.model.num_classes)": lambda r: r.spec.model.num_classes or 0,
        "latent size (config.model.latent_dim)": lambda r: r.spec.model.latent_dim,
        "InfoGAN code (config.tricks.infogan_categories)":
            lambda r: r.spec.tricks.infogan_categories,
    }
    if members[0].run.image_to_image:
        return
    for trait, value_of in traits.items():
        values = [value_of(m.run) for m in members]
        if len(set(values)) > 1:
            listed = "; ".join(f"{m.source}: {v}" for m, v in zip(members, values))
            raise ValueError(
                f"{WORKDIR_FLAG}: the ensemble's members differ in their "
                f"{trait} ({listed}). A mixture draws one kind of sample: name "
                f"runs of the same data and latent, e.g. the seeds of one "
                f"sweep setting.")


def _open_entry(entry: str) -> list[Member]:
    path_text, mark, seed_text = entry.rpartition(SEED_MARK)
    if not mark or "/" in seed_text:
        path_text, seed_text = entry, None
    path = epath.Path(path_text)
    if seed_text is not None:
        if not (path / runner.RESULTS_FILE).exists():
            raise FileNotFoundError(
                f"{WORKDIR_FLAG}={entry}: a seed ({SEED_MARK}{seed_text}) picks "
                f"a member of a finished sweep setting, and {path} holds no "
                f"{runner.RESULTS_FILE}; e.g. {WORKDIR_FLAG}=runs/SWEEP/"
                f"{runner.SETTINGS_DIR}/NAME{SEED_MARK}0.")
        try:
            seed = int(seed_text)
        except ValueError:
            raise ValueError(f"{WORKDIR_FLAG}={entry}: {seed_text!r} after "
                             f"{SEED_MARK} is not a seed (an integer), e.g. "
                             f"{path}{SEED_MARK}0.") from None
        return _setting_members(path, seed)
    if (path / run_dir.CONFIG_FILE).exists():
        run = train.restore_trained(path)
        return [Member(run, f"{path} step {run.step}")]
    if (path / runner.RESULTS_FILE).exists():
        return _setting_members(path, None)
    if (path / runner.GROUP_FILE).exists():
        return _group_members(path, None)
    if (path / runner.ABLATION_FILE).exists():
        return _sweep_members(path)
    raise FileNotFoundError(
        f"{WORKDIR_FLAG}={entry} is not a trained generator: a run directory "
        f"holds {run_dir.CONFIG_FILE}, a sweep {runner.ABLATION_FILE}, a "
        f"finished sweep setting ({runner.SETTINGS_DIR}/NAME) "
        f"{runner.RESULTS_FILE}, a sweep group ({runner.GROUPS_DIR}/KEY) "
        f"{runner.GROUP_FILE}.")


def _read_json(path: epath.Path):
    return json.loads(path.read_text())


def _finished_settings(sweep: epath.Path) -> dict[str, epath.Path]:
    """Setting name -> its directory, for every finished setting of `sweep`."""
    found = {}
    for results in sorted((sweep / runner.SETTINGS_DIR).glob(
            f"*/{runner.RESULTS_FILE}")):
        found[_read_json(results)["setting"]] = results.parent
    return found


def _sweep_members(sweep: epath.Path) -> list[Member]:
    settings = _finished_settings(sweep)
    if len(settings) != 1:
        listed = ", ".join(f"{sweep}/{runner.SETTINGS_DIR}/{d.name}"
                           for d in settings.values()) or "none"
        raise ValueError(
            f"{WORKDIR_FLAG}={sweep} is a sweep with {len(settings)} finished "
            f"settings; name one (all its seeds) or one seed of it "
            f"({SEED_MARK}S). Finished: {listed}.")
    return _setting_members(next(iter(settings.values())), None)


def _setting_members(setting_dir: epath.Path, seed: int | None) -> list[Member]:
    results = _read_json(setting_dir / runner.RESULTS_FILE)
    name, seeds = results["setting"], results["seeds"]
    if seed is not None and seed not in seeds:
        raise ValueError(
            f"{WORKDIR_FLAG}={setting_dir}{SEED_MARK}{seed}: setting {name} "
            f"trained seeds {', '.join(map(str, seeds))}; e.g. "
            f"{setting_dir}{SEED_MARK}{seeds[0]}.")
    sweep = setting_dir.parent.parent
    for group_file in sorted((sweep / runner.GROUPS_DIR).glob(
            f"*/{runner.GROUP_FILE}")):
        group = _read_json(group_file)
        if name in group["settings"] and group["seeds"] == seeds:
            wanted = [(name, s) for s in (seeds if seed is None else [seed])]
            return _group_members(group_file.parent, wanted)
    raise FileNotFoundError(
        f"{WORKDIR_FLAG}={setting_dir}: no group in {sweep / runner.GROUPS_DIR} "
        f"holds the checkpoint of setting {name} (seeds {seeds}); its "
        "groups/ directory was moved or deleted, so only its results remain.")


def _group_members(group_dir: epath.Path,
                   wanted: list[tuple[str, int]] | None) -> list[Member]:
    """The members `wanted` ((setting name, seed), default all) of the
    sweep group in `group_dir`, each its row of the group's stacked state."""
    group = _read_json(group_dir / runner.GROUP_FILE)
    names, seeds = group["settings"], group["seeds"]
    settings = _finished_settings(group_dir.parent.parent)
    unfinished = [name for name in names if name not in settings]
    if unfinished:
        raise FileNotFoundError(
            f"{WORKDIR_FLAG}: the sweep group {group_dir} has unfinished "
            f"settings ({', '.join(unfinished)}), whose configs are recorded "
            "when they finish. Run the same gan_jax.ablate command to finish "
            "them.")
    wanted = wanted or [(name, seed) for name in names for seed in seeds]
    results = {name: _read_json(settings[name] / runner.RESULTS_FILE)
               for name in names}
    specs = {name: gan_spec.build(run_dir.config_from_saved(
        json.loads(results[name]["config"]), defaults.base_config()),
        check_devices=False) for name, _ in wanted}
    first = specs[wanted[0][0]]
    data_spec = _group_data_spec(group_dir, first)
    # The group's settings differ only in numbers: one spec gives the shapes.
    stacked = jax.vmap(lambda key: experiment.create_state(
        first, data_spec.sample_shape, key))(
            jax.random.split(jax.random.key(0), len(names) * len(seeds)))
    states, step = train.restore_newest(
        group_dir, stacked, "Run the same gan_jax.ablate command to train it.")
    members = []
    for name, seed in wanted:
        column = seeds.index(seed)
        if results[name]["metrics"].get("diverged", [0] * len(seeds))[column]:
            logging.warning("Setting %s seed %d diverged in training; its "
                            "samples may be non-finite.", name, seed)
        run = train.TrainedRun(
            specs[name], members_lib.member_state(
                states, names.index(name) * len(seeds) + column),
            step, data_spec, image_to_image=False)
        members.append(Member(run, f"{settings[name]} seed {seed} step {step}"))
    return members


def _group_data_spec(group_dir: epath.Path,
                     spec: gan_spec.GanSpec) -> run_dir.DataSpec:
    """The group's data_spec.json, or (a sweep from before groups recorded
    it) the shape of its dataset's samples, which must then be readable."""
    if (group_dir / run_dir.DATA_SPEC_FILE).exists():
        return run_dir.read_data_spec(group_dir)
    from gan_jax.run import gan_data  # pylint: disable=g-import-not-at-top
    _, sample_shape = gan_data.load_dataset(spec)
    return run_dir.DataSpec(sample_shape, spec.model.num_classes or None)
