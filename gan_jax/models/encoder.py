"""The image encoder E: x -> z of f-AnoGAN (Schlegl et al. 2019, "f-AnoGAN:
Fast unsupervised anomaly detection with generative adversarial networks",
Medical Image Analysis 54).

f-AnoGAN's encoder mirrors the critic's convolutions and ends in a dense layer
to the latent size (with tanh there, for their uniform z in [-1, 1]). Ours
mirrors the DCGAN discriminator (`dcgan.DCGANDiscriminator`: 4x4 stride-2
convolutions, doubling widths from `base_channels`, leaky ReLU 0.2) and ends
in a linear layer, since this project's latents are z ~ N(0, I)
(`gan_jax.game.latents`). It has no BatchNorm, so a query's code never
depends on the other images of its batch.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import dcgan
from gan_jax.models import layers
from gan_jax.models import strided_conv


class ImageEncoder(nn.Module):
    """Maps images `(B, H, W, C)` in [-1, 1] to latents `(B, latent_dim)`.

    Attributes:
        sample_shape: `(H, W, C)` with H = W in `dcgan.SUPPORTED_SIZES`.
        latent_dim: size of z.
        base_channels: width of the first convolution.
        dtype: computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    latent_dim: int
    base_channels: int = 32
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, dcgan.SUPPORTED_SIZES, "encoder")

    @nn.compact
    def __call__(self, x):
        _, doublings = dcgan.layout(self.sample_shape[0])
        conv = dict(kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                    kernel_init=layers.dcgan_kernel_init, dtype=self.dtype,
                    conv_general_dilated=strided_conv.flax_conv_general_dilated("auto"))
        x = jnp.asarray(x, self.dtype)
        width = self.base_channels
        for _ in range(doublings):
            x = nn.leaky_relu(nn.Conv(width, **conv)(x), 0.2)
            width *= 2
        z = nn.Dense(self.latent_dim, dtype=self.dtype, name="to_latent")(
            x.reshape((x.shape[0], -1)))
        return z.astype(jnp.float32)
