"""The files of a run directory, and reading a trained run back.

    <workdir>/config.json         the config the run was started with
    <workdir>/data_spec.json      sample shape and classes of its data
    <workdir>/checkpoints/<step>/ orbax checkpoints of the whole GANState
    <workdir>/samples/            PNG grids per evaluation, progress.gif
    <workdir>/final_metrics.json  the last evaluation's numbers
    <workdir>/events.out.tfevents.*  TensorBoard scalars and images

`data_spec.json` lets sampling and evaluation rebuild the networks without
touching the dataset, which may not exist on the machine that samples.
"""

import json
from typing import NamedTuple

from etils import epath
import jax
import ml_collections

from gan_jax import checkpoint
from gan_jax import defaults
from gan_jax import experiment
from gan_jax.state import GANState

CONFIG_FILE = "config.json"
DATA_SPEC_FILE = "data_spec.json"
FINAL_METRICS_FILE = "final_metrics.json"
SAMPLES_DIR = "samples"


class DataSpec(NamedTuple):
    sample_shape: tuple[int, ...]
    num_classes: int | None


class TrainedRun(NamedTuple):
    config: ml_collections.ConfigDict
    state: GANState
    step: int
    data_spec: DataSpec


def write_config(workdir: epath.Path, config: ml_collections.ConfigDict) -> None:
    (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2) + "\n")


def read_config(workdir: epath.Path) -> ml_collections.ConfigDict:
    """The run's saved config; fields added to the library since the run was
    trained take their defaults (which are "off"), so older runs still load."""
    saved = json.loads((workdir / CONFIG_FILE).read_text())
    return ml_collections.ConfigDict(_fill_missing(saved, defaults.base_config().to_dict()))


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


def restore_trained(workdir: epath.PathLike) -> TrainedRun:
    """The config and newest checkpointed state of the run in `workdir`.

    Raises:
      FileNotFoundError: `workdir` holds no finished training run, with what
        is missing and how to make it.
    """
    workdir = epath.Path(workdir)
    for name in (CONFIG_FILE, DATA_SPEC_FILE):
        if not (workdir / name).exists():
            raise FileNotFoundError(
                f"{workdir / name} does not exist: {workdir} is not a training "
                "run directory. Train first: python -m gan_jax.main "
                f"--config=configs/NAME.py --workdir={workdir}")
    config = read_config(workdir)
    spec = read_data_spec(workdir)
    manager = checkpoint.create_manager(workdir, save_every=1)
    if manager.latest_step() is None:
        raise FileNotFoundError(
            f"No checkpoint in {workdir / 'checkpoints'}: the run stopped before "
            "its first save. Resume it with the same gan_jax.main command.")
    # Initialising only supplies the structure; shapes come from the data spec.
    template = experiment.create_state(config, spec.sample_shape, jax.random.key(0))
    state, step = checkpoint.restore_latest(manager, template)
    return TrainedRun(config, state, step, spec)
