"""The project's config files, loaded as `--config=configs/<name>.py:<variant>`
loads them (tests run from any directory), and the size of the networks
they build."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import models

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


def load(name: str, variant: str = "") -> ml_collections.ConfigDict:
    """`get_config(variant)` of `configs/<name>.py`."""
    spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


def parameter_counts(spec, image_size: int, channels: int = 3) -> tuple[int, int]:
    """Parameters of the generator and discriminator of `spec` (a checked
    GanSpec) for square images, counted on abstract shapes (no FLOPs)."""
    generator, discriminator = models.create(
        spec.model, (image_size, image_size, channels))
    labels = jnp.zeros((2,), jnp.int32)
    g_vars = jax.eval_shape(lambda: generator.init(
        jax.random.key(0), jnp.zeros((2, spec.model.latent_dim)), labels))
    d_vars = jax.eval_shape(lambda: discriminator.init(
        jax.random.key(0), jnp.zeros((2, image_size, image_size, channels)), labels))
    return tuple(sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(v["params"]))
                 for v in (g_vars, d_vars))
