"""Generator/discriminator pairs, looked up by name.

`create(model_config, sample_shape)` returns two Flax modules with the calling
convention every trainer relies on:

    generator(z, labels=None, train=False) -> samples (batch, *sample_shape)
    discriminator(x, labels=None, train=False) -> logits (batch,)

Unconditional models (`num_classes == 0`) ignore `labels`, so one
initialisation call that always passes labels serves every model; conditional
ones raise ValueError without them. Images are NHWC. Running statistics
(BatchNorm, and the power-iteration state of spectral normalisation) live in
the `batch_stats` collection and move only with `train=True`.

Models know nothing about losses; `gan_jax.objectives` combines the two.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import ml_collections

from gan_jax.models import dcgan
from gan_jax.models import mlp
from gan_jax.models import sngan


def _mlp(config: ml_collections.ConfigDict, sample_shape):
    # The MLPs ignore labels; failing here beats silently training an
    # unconditional model under a conditional config.
    if config.num_classes:
        raise ValueError("Model 'mlp' is unconditional; set "
                         "--config.model.num_classes=0 or use dcgan or sngan.")
    return (
        mlp.MLPGenerator(sample_shape=tuple(sample_shape),
                         hidden_dim=config.hidden_dim,
                         num_layers=config.num_layers),
        mlp.MLPDiscriminator(hidden_dim=config.hidden_dim,
                             num_layers=config.num_layers),
    )


def _dcgan(config: ml_collections.ConfigDict, sample_shape):
    return (
        dcgan.DCGANGenerator(sample_shape=tuple(sample_shape),
                             base_channels=config.g_channels,
                             num_classes=config.num_classes,
                             label_embed_dim=config.label_embed_dim),
        dcgan.DCGANDiscriminator(sample_shape=tuple(sample_shape),
                                 base_channels=config.d_channels,
                                 norm=config.d_norm,
                                 num_classes=config.num_classes,
                                 conditioning=config.d_conditioning),
    )


def _sngan(config: ml_collections.ConfigDict, sample_shape):
    return (
        sngan.SNGANGenerator(sample_shape=tuple(sample_shape),
                             channels=config.g_channels,
                             num_classes=config.num_classes,
                             label_embed_dim=config.label_embed_dim),
        sngan.SNGANDiscriminator(sample_shape=tuple(sample_shape),
                                 channels=config.d_channels,
                                 num_classes=config.num_classes,
                                 conditioning=config.d_conditioning),
    )


MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    "mlp": _mlp,
    "dcgan": _dcgan,
    "sngan": _sngan,
}


def create(config: ml_collections.ConfigDict,
           sample_shape: Sequence[int]) -> tuple[nn.Module, nn.Module]:
    """Builds `(generator, discriminator)` for `config.name`."""
    if config.name not in MODELS:
        raise ValueError(f"Unknown model {config.name!r}. Valid models: "
                         f"{', '.join(sorted(MODELS))}. Set --config.model.name.")
    return MODELS[config.name](config, sample_shape)
