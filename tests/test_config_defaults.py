"""The default configs keep every field name, default value and value type.

`tests/data/base_configs.json` is `base_config().to_dict()` for GAN configs
and for each image-to-image task, captured before the defaults were built
from the spec's declarations (gan_jax.fields); a config file or a
`--config.*` override written against the old defaults must keep working.
A deliberate change of a default is made in that file too, so it shows in
review: the toy recipe's R1 weight (0.1 -> 1.0) and length (20,000 -> 30,000
steps), tuned for the 10-seed toy tables (README, "The built-in benchmark").
"""

import json
import pathlib

import pytest

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults

_CAPTURED = json.loads((pathlib.Path(__file__).parent / "data" /
                        "base_configs.json").read_text())
# Read from the environment when the config is built; not a constant.
_CACHE_DIR = "<defaults.compilation_cache_dir()>"


def _typed(tree):
    """Leaves as (type name, value): 0 and 0.0 differ for a ConfigDict."""
    if isinstance(tree, dict):
        return {k: _typed(v) for k, v in tree.items()}
    if isinstance(tree, tuple):
        tree = list(tree)
    return (type(tree).__name__, tree)


def _current(name: str) -> dict:
    config = (defaults.base_config() if name == "gan"
              else translation_defaults.base_config(name))
    tree = config.to_dict()
    assert tree["train"]["compilation_cache_dir"] == defaults.compilation_cache_dir()
    tree["train"]["compilation_cache_dir"] = _CACHE_DIR
    return tree


@pytest.mark.parametrize("name", ["gan", "pix2pix", "cyclegan", "srgan"])
def test_base_config_matches_the_captured_defaults(name):
    assert _typed(_current(name)) == _typed(_CAPTURED[name])
