"""The project's config files, loaded as `--config=configs/<name>.py:<variant>`
loads them (tests run from any directory)."""

import importlib.util
import pathlib

import ml_collections

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


def load(name: str, variant: str = "") -> ml_collections.ConfigDict:
    """`get_config(variant)` of `configs/<name>.py`."""
    spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)
