"""Multi-layer perceptrons for low-dimensional data such as the 2-D mixtures.

The toy-benchmark networks of the Unrolled GAN / VEEGAN / PacGAN papers: a few
fully-connected ReLU layers on each side.
"""

from collections.abc import Sequence
import math

import flax.linen as nn
import jax.numpy as jnp


class MLPGenerator(nn.Module):
    """Maps latents `(batch, latent_dim)` to samples `(batch, *sample_shape)`."""

    sample_shape: Sequence[int]
    hidden_dim: int = 128
    num_layers: int = 3
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        del labels, train  # Unconditional, and no layer behaves differently in training.
        x = jnp.asarray(z, self.dtype)
        for _ in range(self.num_layers):
            x = nn.relu(nn.Dense(self.hidden_dim, dtype=self.dtype)(x))
        x = nn.Dense(math.prod(self.sample_shape), dtype=self.dtype)(x)
        return x.reshape((x.shape[0], *self.sample_shape))


class MLPDiscriminator(nn.Module):
    """Maps samples `(batch, ...)` to one raw logit per sample, shape `(batch,)`."""

    hidden_dim: int = 128
    num_layers: int = 3
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        del labels, train
        x = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
        for _ in range(self.num_layers):
            x = nn.leaky_relu(nn.Dense(self.hidden_dim, dtype=self.dtype)(x), 0.2)
        return nn.Dense(1, dtype=self.dtype)(x)[:, 0]
