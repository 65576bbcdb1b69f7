"""The training state of an image-to-image GAN: several networks in one pytree.

pix2pix and SRGAN have one generator and one discriminator, CycleGAN two of
each plus their history pools. Every network is a `gan_jax.game.state.NetworkState`
(a flax `TrainState` with BatchNorm statistics), so a checkpoint of a
`TranslationState` is a complete snapshot, like a `GANState`'s.
"""

from typing import Any

import flax
import flax.linen as nn
import jax
import optax

from gan_jax.game import state as gan_state
from gan_jax.game.state import NetworkState


@flax.struct.dataclass
class TranslationState:
    """`networks` by name ("generator", "discriminator"; CycleGAN's "g_ab",
    "g_ba", "d_a", "d_b"); `pools` the CycleGAN discriminators' image history
    pools (`gan_jax.image_to_image.history_pool`), empty otherwise; `step` the
    completed training steps (pre-training ones included)."""

    networks: dict[str, NetworkState]
    pools: dict[str, Any]
    step: jax.Array


def init_network(module: nn.Module, key: jax.Array, example_inputs: tuple,
                 tx: optax.GradientTransformation) -> NetworkState:
    """A `NetworkState` for `module`, initialised from one example's shapes."""
    param_key, dropout_key = jax.random.split(key)
    return gan_state.init_network_state(
        module, {"params": param_key, "dropout": dropout_key}, example_inputs, tx,
        train=False)


def apply(network: NetworkState, params, *inputs, train: bool,
          key: jax.Array | None = None, **kwargs) -> tuple[jax.Array, NetworkState]:
    """Runs `network` with `params`; returns `(outputs, network)` with its
    BatchNorm statistics advanced when `train` (the next call of the same
    network sees them, as in PyTorch's sequential forward passes). `key`
    drives dropout."""
    variables = {"params": params}
    rngs = {} if key is None else {"dropout": key}
    if network.batch_stats and train:
        variables["batch_stats"] = network.batch_stats
        outputs, updates = network.apply_fn(variables, *inputs, train=True,
                                            mutable=["batch_stats"], rngs=rngs,
                                            **kwargs)
        return outputs, network.replace(batch_stats=updates["batch_stats"])
    if network.batch_stats:
        variables["batch_stats"] = network.batch_stats
    return network.apply_fn(variables, *inputs, train=train, rngs=rngs,
                            **kwargs), network
