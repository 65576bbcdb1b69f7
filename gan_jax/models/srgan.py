"""SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution
Using a Generative Adversarial Network"): the SRResNet generator and the VGG-
style discriminator of Fig. 4.

Convolutions followed by BatchNorm have no bias (BatchNorm cancels it); the
others have one. PReLU has one learned slope per layer, starting at 0.25
(PyTorch's `nn.PReLU()`; the paper gives neither). Running statistics live
in the `batch_stats` collection and move only with `train=True`.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models.pixel_shuffle import pixel_shuffle


def _batch_norm(train: bool, dtype) -> nn.BatchNorm:
    # momentum 0.9 of the old average is PyTorch's BatchNorm2d momentum 0.1.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=dtype)


def _prelu() -> nn.PReLU:
    return nn.PReLU(negative_slope_init=0.25)


class ResidualBlock(nn.Module):
    """`x + BN(conv(PReLU(BN(conv(x)))))`, 3x3 convolutions keeping the width."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = dict(features=x.shape[-1], kernel_size=(3, 3), padding="SAME",
                    use_bias=False, dtype=self.dtype)
        h = _prelu()(_batch_norm(train, self.dtype)(nn.Conv(**conv)(x)))
        return x + _batch_norm(train, self.dtype)(nn.Conv(**conv)(h))


class SRResNetGenerator(nn.Module):
    """Maps low-resolution images `(B, H, W, C)` to `(B, upscale H, upscale W,
    out_channels)` in [-1, 1].

    9x9 convolution + PReLU; `num_blocks` `ResidualBlock`s; 3x3 convolution
    + BN, added to the first convolution's output (the long skip);
    log2(upscale) x (3x3 convolution to 4 * channels, pixel shuffle by 2
    (Shi et al. 2016), PReLU); 9x9 convolution to `out_channels`. The paper
    leaves the last layer linear; here tanh bounds it, since images in this
    project are in [-1, 1] (the paper's HR range too).

    Attributes:
        out_channels: Channels of the output image.
        channels: The width of every layer but the upsampling convolutions'
            outputs (64 in the paper).
        num_blocks: Residual blocks (16 in the paper).
        upscale: The resolution factor, a power of 2 (4 in the paper).
        dtype: Computation dtype; parameters stay float32.
    """

    out_channels: int
    channels: int = 64
    num_blocks: int = 16
    upscale: int = 4
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        if (isinstance(self.upscale, bool) or not isinstance(self.upscale, int)
                or self.upscale < 2 or self.upscale & (self.upscale - 1)):
            raise ValueError(f"SRResNetGenerator upsamples by pixel shuffles of "
                             f"2, so upscale must be a power of 2 (2, 4, 8, ...), "
                             f"got {self.upscale!r}.")

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = jnp.asarray(x, self.dtype)
        h = _prelu()(nn.Conv(self.channels, (9, 9), padding="SAME",
                             dtype=self.dtype)(h))
        skip = h
        for _ in range(self.num_blocks):
            h = ResidualBlock(dtype=self.dtype)(h, train)
        h = nn.Conv(self.channels, (3, 3), padding="SAME", use_bias=False,
                    dtype=self.dtype)(h)
        h = skip + _batch_norm(train, self.dtype)(h)
        for _ in range(round(math.log2(self.upscale))):
            h = nn.Conv(4 * self.channels, (3, 3), padding="SAME",
                        dtype=self.dtype)(h)
            h = _prelu()(pixel_shuffle(h, 2))
        h = nn.Conv(self.out_channels, (9, 9), padding="SAME", dtype=self.dtype)(h)
        # Samples leave the network in float32 whatever the compute dtype.
        return jnp.tanh(h).astype(jnp.float32)


# (width in units of channels / 64, stride) of the 3x3 convolution + BN +
# LeakyReLU blocks after the first convolution (Fig. 4).
_DISCRIMINATOR_BLOCKS = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2))


class SRGANDiscriminator(nn.Module):
    """Maps images `(B, H, W, C)` to logits `(B,)`.

    3x3 convolution to `channels` + LeakyReLU(0.2); seven 3x3 convolution +
    BN + LeakyReLU blocks with (width, stride) (64, 2), (128, 1), (128, 2),
    (256, 1), (256, 2), (512, 1), (512, 2) for `channels=64`; the flattened
    `ceil(H / 16) x ceil(W / 16) x 8 channels` map; Dense(dense_units) +
    LeakyReLU; Dense(1). The paper's final sigmoid is left to the loss. 'SAME' padding,
    so the input size fixes the first Dense layer's shape.

    Attributes:
        channels: The width of the first layer (64 in the paper).
        dense_units: The hidden Dense layer's width (1024 in the paper).
        dtype: Computation dtype; parameters stay float32.
    """

    channels: int = 64
    dense_units: int = 1024
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = jnp.asarray(x, self.dtype)
        h = nn.leaky_relu(nn.Conv(self.channels, (3, 3), padding="SAME",
                                  dtype=self.dtype)(h), 0.2)
        for multiple, stride in _DISCRIMINATOR_BLOCKS:
            h = nn.Conv(self.channels * multiple, (3, 3), strides=(stride, stride),
                        padding="SAME", use_bias=False, dtype=self.dtype)(h)
            h = nn.leaky_relu(_batch_norm(train, self.dtype)(h), 0.2)
        h = h.reshape((h.shape[0], -1))
        h = nn.leaky_relu(nn.Dense(self.dense_units, dtype=self.dtype)(h), 0.2)
        return nn.Dense(1, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)
