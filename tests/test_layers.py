"""The package's layers: each module sits in one, and imports only from its
own layer and the ones below (README, "Architecture")."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "gan_jax"

# Lowest first. A module belongs to the layer of the longest prefix that
# names it.
LAYERS = (
    ("foundation: pure functions, networks, data, metrics",
     ("gan_jax.losses", "gan_jax.penalties", "gan_jax.fields", "gan_jax.parallel",
      "gan_jax.models", "gan_jax.metrics", "gan_jax.data")),
    ("game: state, objectives, steps, tricks",
     ("gan_jax.game", "gan_jax.tricks")),
    ("evaluation: sampling, measuring, pictures", ("gan_jax.evaluation",)),
    ("run: the loop, the GAN task, checkpoints, the checked config",
     ("gan_jax.run", "gan_jax.defaults")),
    ("tasks on the run: image-to-image, sweeps, anomaly detection",
     ("gan_jax.image_to_image", "gan_jax.sweep", "gan_jax.anomaly_detection")),
    ("command lines",
     ("gan_jax.main", "gan_jax.sample", "gan_jax.evaluate", "gan_jax.ablate",
      "gan_jax.train_classifier", "gan_jax.train", "gan_jax.measure",
      "gan_jax.trained_ensemble", "gan_jax.cli", "gan_jax.anomaly",
      "gan_jax.anomaly_detection.detector")),
)


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return None if best is None else best[0]


def _imported(tree: ast.AST) -> set[str]:
    """Every gan_jax module a file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from gan_jax.run import loop` imports the module gan_jax.run.loop.
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if (PACKAGE.parent / node.module.replace(".", "/") /
                             f"{alias.name}.py").exists())
    return {name for name in found if name.split(".")[0] == "gan_jax"}


MODULES = sorted(_module_name(path) for path in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_belongs_to_a_layer(module):
    assert module == "gan_jax" or _layer(module) is not None, (
        f"{module} is in no layer of tests/test_layers.py: place it there and "
        "in the README's architecture table.")


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        own = _layer(module)
        if own is None:
            continue
        for name in _imported(ast.parse(path.read_text())):
            other = _layer(name)
            if other is not None and other > own:
                upward.append(f"{module} ({LAYERS[own][0].split(':')[0]}) imports "
                              f"{name} ({LAYERS[other][0].split(':')[0]})")
    assert not upward, "\n".join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check itself: a game module importing the loop is found."""
    tree = ast.parse("from gan_jax.run import loop\n")
    [name] = _imported(tree) - {"gan_jax.run"}
    assert _layer(name) > _layer("gan_jax.game.steps")
