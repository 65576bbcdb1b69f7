"""The files of a run directory (any task's).

    <workdir>/config.json         the config the run was (last) started with
    <workdir>/config.until_step_<N>.json  an earlier config, when a resume at
                                  step N changed fields that change no shape
    <workdir>/data_spec.json      sample shape and classes of its data
    <workdir>/init.json           the run (and step) it started from, when
                                  fine-tuned (`config.init`)
    <workdir>/checkpoints/<step>/ orbax checkpoints of the whole state
    <workdir>/unreadable_checkpoints/<step>/  damaged checkpoints set aside
    <workdir>/samples/            pictures per evaluation (grids, strips), progress.gif
    <workdir>/final_metrics.json  the last evaluation's numbers, and what
                                  they measured ("generator", "fid_resize")
    <workdir>/events.out.tfevents.*  TensorBoard scalars and images

`data_spec.json` lets sampling and evaluation rebuild the networks without
touching the dataset, which may not exist on the machine that samples.
"""

import json
from typing import Callable, NamedTuple

from etils import epath
import ml_collections


CONFIG_FILE = "config.json"
DATA_SPEC_FILE = "data_spec.json"
INIT_FILE = "init.json"
FINAL_METRICS_FILE = "final_metrics.json"
SAMPLES_DIR = "samples"


class DataSpec(NamedTuple):
    sample_shape: tuple[int, ...]
    num_classes: int | None


class ConfigChanged(ValueError):
    """The workdir holds a run whose saved config builds differently shaped
    state; resuming it under this config is impossible."""

    def __init__(self, message: str, differences: list[str]):
        super().__init__(message)
        self.differences = differences


def write_config(workdir: epath.Path, config: ml_collections.ConfigDict, *,
                 start_step: int = 0) -> None:
    """Saves the run's config; a resume that changed it keeps the old one as
    `config.until_step_<start_step>.json`."""
    path = workdir / CONFIG_FILE
    text = config.to_json_best_effort(indent=2) + "\n"
    earlier = workdir / f"config.until_step_{start_step}.json"
    # With `earlier` there already, config.json is from an attempt that
    # saved nothing after `start_step`: it is not the config of any step.
    if (start_step and path.exists() and path.read_text() != text
            and not earlier.exists()):
        path.rename(earlier)
    path.write_text(text)


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def config_differences(saved: ml_collections.ConfigDict,
                       current: ml_collections.ConfigDict) -> list[str]:
    """`"field: saved -> current"` for every field whose value differs."""
    old = _flatten(json.loads(saved.to_json_best_effort()))
    new = _flatten(json.loads(current.to_json_best_effort()))
    missing = "(absent)"
    return [f"{name}: {old.get(name, missing)!r} -> {new.get(name, missing)!r}"
            for name in sorted(set(old) | set(new))
            if old.get(name, missing) != new.get(name, missing)]


def has_checkpoints(workdir: epath.Path) -> bool:
    directory = workdir / "checkpoints"
    return directory.exists() and any(
        path.name.isdigit() for path in directory.iterdir())


def check_resumable(workdir: epath.Path, config: ml_collections.ConfigDict, *,
                    layout: Callable, data_spec: DataSpec,
                    defaults: ml_collections.ConfigDict) -> list[str]:
    """Compares `config` with the config saved beside `workdir`'s checkpoints.

    Args:
      layout: `layout(config, data_spec)`, the state's leaves (path, shape,
        dtype) that `config` builds for data of `data_spec`.
      data_spec: the data of this run (the saved run's is read from its
        `data_spec.json`, when it has one).
      defaults: the config fields' defaults, for a saved config older than a
        field.

    Returns:
      The differences (empty when none, or when there is nothing to resume);
      none of them changes a shape, so the run can resume under `config`.

    Raises:
      ConfigChanged: the two configs build state of different structure or
        shapes; the message lists every differing field.
    """
    if not (workdir / CONFIG_FILE).exists() or not has_checkpoints(workdir):
        return []
    saved = read_config(workdir, defaults)
    differences = config_differences(saved, config)
    if not differences:
        return []
    saved_spec = (read_data_spec(workdir) if (workdir / DATA_SPEC_FILE).exists()
                  else data_spec)
    if (saved.get("task") != config.get("task")
            or layout(saved, saved_spec) != layout(config, data_spec)):
        shapes = ("" if tuple(saved_spec.sample_shape) == tuple(data_spec.sample_shape)
                  else f"\n  data sample shape: {tuple(saved_spec.sample_shape)} -> "
                  f"{tuple(data_spec.sample_shape)}")
        raise _config_changed(workdir, differences, shapes)
    return differences


def _config_changed(workdir: epath.Path, differences: list[str],
                    shapes: str) -> "ConfigChanged":
    listed = "\n  ".join(differences)
    return ConfigChanged(
        f"{workdir} holds checkpoints of a run whose config builds "
        "differently shaped networks or state, so it cannot resume under "
        f"this config. Differences (saved -> now):\n  {listed}{shapes}\n"
        "Use the saved config to resume, choose another --workdir for the "
        "new run, or pass --if_config_changed=new_workdir to start the new "
        f"run in a fresh directory beside {workdir.name} (the old run is "
        "never touched).", differences)


def free_workdir(workdir: epath.PathLike) -> epath.Path:
    """The first of `<workdir>-2`, `<workdir>-3`, ... that does not exist."""
    workdir = epath.Path(workdir)
    number = 2
    while (candidate := workdir.parent / f"{workdir.name}-{number}").exists():
        number += 1
    return candidate


def read_config(workdir: epath.Path,
                defaults: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The run's saved config; fields added to the library since the run was
    trained take their `defaults` (which are "off"), so older runs still load."""
    return config_from_saved(read_saved_config(workdir), defaults)


def config_from_saved(saved: dict,
                      defaults: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A recorded config (as JSON-decoded), with the fields it lacks taken
    from `defaults` (see `read_config`)."""
    return ml_collections.ConfigDict(_fill_missing(saved, defaults.to_dict()))


def read_saved_config(workdir: epath.Path) -> dict:
    """`config.json` as written, or FileNotFoundError saying how to make one."""
    path = workdir / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: {workdir} is not a training run "
            "directory. Train first: python -m gan_jax.main "
            f"--config=configs/NAME.py --workdir={workdir}")
    return json.loads(path.read_text())


def _fill_missing(saved: dict, current: dict) -> dict:
    filled = dict(saved)
    for name, default in current.items():
        if name not in filled:
            filled[name] = default
        elif isinstance(default, dict) and isinstance(filled[name], dict):
            filled[name] = _fill_missing(filled[name], default)
    return filled


def write_data_spec(workdir: epath.Path, spec: DataSpec) -> None:
    (workdir / DATA_SPEC_FILE).write_text(json.dumps(
        {"sample_shape": list(spec.sample_shape), "num_classes": spec.num_classes},
        indent=2) + "\n")


def read_data_spec(workdir: epath.Path) -> DataSpec:
    spec = json.loads((workdir / DATA_SPEC_FILE).read_text())
    return DataSpec(tuple(spec["sample_shape"]), spec["num_classes"])


def write_init_record(workdir: epath.Path, record: dict) -> None:
    """What a fine-tuned run started from (`gan_jax.run.init_from_run`)."""
    (workdir / INIT_FILE).write_text(json.dumps(record, indent=2) + "\n")
