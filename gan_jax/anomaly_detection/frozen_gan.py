"""A trained GAN as the two frozen functions anomaly detection needs:
G(z), the generator's images, and f(x), the discriminator's intermediate
features (the penultimate per-sample features every discriminator of
`gan_jax.models` sows as "features", the same f feature matching uses).

G is the EMA generator in inference mode, as sampling uses it (with standing
statistics where the run asks for them); D runs in inference mode, BatchNorm
on its running statistics, so that each query's features are its own and not
its batch's.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gan_jax.game.state import apply_discriminator
from gan_jax.game.state import apply_network
from gan_jax.game.state import GANState
from gan_jax.game.state import NetworkState


class FrozenGAN(NamedTuple):
    """The networks and weights of G and D, never updated here."""
    generator: NetworkState
    generator_params: Any
    discriminator: NetworkState


def from_state(state: GANState) -> FrozenGAN:
    """The EMA generator and the discriminator of a GAN's state."""
    return FrozenGAN(state.generator, state.ema_params, state.discriminator)


def generate(gan: FrozenGAN, latents: jax.Array) -> jax.Array:
    """G(z) for latents `(B, latent_dim)`: images `(B, H, W, C)`."""
    images, _ = apply_network(gan.generator, gan.generator_params, latents,
                              labels=None, train=False)
    return images


def features(gan: FrozenGAN, images: jax.Array) -> jax.Array:
    """f(x): the discriminator's sown features, flattened to `(B, n_d)`."""
    _, _, sown = apply_discriminator(gan.discriminator, gan.discriminator.params,
                                     images, labels=None, train=False, capture=True)
    if "features" not in sown:
        raise ValueError(missing_features_message(gan))
    found = sown["features"]
    return jnp.asarray(found, jnp.float32).reshape((found.shape[0], -1))


def missing_features_message(gan: FrozenGAN) -> str:
    module = getattr(gan.discriminator.apply_fn, "__self__", None)
    name = type(module).__name__ if module is not None else "this run's discriminator"
    return (f"{name} sows no intermediate \"features\", which the anomaly scores "
            "compare (f(x) against f(G(z))). Use a run of a model whose "
            "discriminator sows them: --config.model.name=dcgan, sngan, biggan "
            "or mlp.")


def check_features(gan: FrozenGAN, sample_shape) -> int:
    """The feature size n_d, checked without computing anything (abstract
    evaluation); raises ValueError when D sows no features."""
    example = jax.ShapeDtypeStruct((1, *sample_shape), jnp.float32)
    shape = jax.eval_shape(lambda x: features(gan, x), example).shape
    return int(shape[1])
