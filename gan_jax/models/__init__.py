"""Generator/discriminator pairs, looked up by name.

`create(model_config, sample_shape)` returns two Flax modules with the calling
convention every trainer relies on:

    generator(z, labels=None, train=False) -> samples (batch, *sample_shape)
    discriminator(x, labels=None, train=False) -> logits (batch,)

Models know nothing about losses; `gan_jax.objectives` combines the two.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import ml_collections

from gan_jax.models import mlp


def _mlp(config: ml_collections.ConfigDict, sample_shape):
    return (
        mlp.MLPGenerator(sample_shape=tuple(sample_shape),
                         hidden_dim=config.hidden_dim,
                         num_layers=config.num_layers),
        mlp.MLPDiscriminator(hidden_dim=config.hidden_dim,
                             num_layers=config.num_layers),
    )


MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    "mlp": _mlp,
}


def create(config: ml_collections.ConfigDict,
           sample_shape: Sequence[int]) -> tuple[nn.Module, nn.Module]:
    """Builds `(generator, discriminator)` for `config.name`."""
    if config.name not in MODELS:
        raise ValueError(f"Unknown model {config.name!r}. Valid models: "
                         f"{', '.join(sorted(MODELS))}. Set --config.model.name.")
    return MODELS[config.name](config, sample_shape)
