"""The `configs/ring8.py:tiny` config in-process, for tests that train."""

import importlib.util
import pathlib

RING8 = pathlib.Path(__file__).resolve().parents[1] / "configs" / "ring8.py"


def config(data_dir, **train_overrides):
    """Loaded the way config_flags loads it, with the ':tiny' argument; the
    toy data is prepared in `data_dir`."""
    spec = importlib.util.spec_from_file_location("ring8_config", RING8)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded = module.get_config("tiny")
    loaded.data.data_dir = str(data_dir)
    loaded.train.update(train_overrides)
    return loaded
