"""A small toy GAN config built in-process, for tests of single steps."""

from gan_jax import defaults

BATCH = 8


def config(**overrides):
    """`base_config()` with 16-unit one-layer MLPs, a 4-d latent and batch
    `BATCH`; `overrides` are {"section.field": value}."""
    small = defaults.base_config()
    small.model.hidden_dim = 16
    small.model.num_layers = 1
    small.model.latent_dim = 4
    small.data.batch_size = BATCH
    small.train.num_steps = 10
    for path, value in overrides.items():
        section, field = path.split(".")
        small[section][field] = value
    return small
