"""CycleGAN's generator (Zhu et al. 2017, "Unpaired Image-to-Image Translation
using Cycle-Consistent Adversarial Networks"), after Johnson et al. 2016.

The layout follows pytorch-CycleGAN-and-pix2pix's `ResnetGenerator` (with
`resnet_9blocks` the paper's 256x256 network), so the parameter counts match
that implementation: convolutions followed by a norm have a bias only with
instance norm, the reference's `use_bias = norm is instance`. CycleGAN's
discriminator is pix2pix's unconditional PatchGAN
(`pix2pix.PatchDiscriminator`, `norm="instance"`).
"""

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models.pix2pix import check_norm
from gan_jax.models.pix2pix import normalization


def _reflect_pad(x, width: int):
    """PyTorch's `ReflectionPad2d(width)` on NHWC (the edge is not repeated)."""
    return jnp.pad(x, ((0, 0), (width, width), (width, width), (0, 0)),
                   mode="reflect")


class ResnetBlock(nn.Module):
    """`x + norm(conv(pad(relu(norm(conv(pad(x)))))))`, 3x3 convolutions with
    reflection padding, keeping the width and the size."""

    norm: str = "instance"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = dict(features=x.shape[-1], kernel_size=(3, 3), padding="VALID",
                    use_bias=self.norm == "instance",
                    kernel_init=layers.dcgan_kernel_init, dtype=self.dtype)
        h = nn.Conv(**conv)(_reflect_pad(x, 1))
        h = nn.relu(normalization(self.norm, train, self.dtype)(h))
        h = nn.Conv(**conv)(_reflect_pad(h, 1))
        return x + normalization(self.norm, train, self.dtype)(h)


class ResnetGenerator(nn.Module):
    """Maps images `(B, H, W, C)` to `(B, H, W, out_channels)` in [-1, 1].

    Reflection pad 3 + 7x7 convolution to `base_channels` + norm + ReLU;
    `num_downsamples` x (3x3 stride-2 convolution, padding 1, doubling the
    width, + norm + ReLU); `num_blocks` `ResnetBlock`s; `num_downsamples` x
    (3x3 stride-2 transposed convolution to exactly twice the size, PyTorch's
    padding=1, output_padding=1, halving the width, + norm + ReLU);
    reflection pad 3 + 7x7 convolution (with bias) to `out_channels` + tanh.

    Attributes:
        out_channels: Channels of the output image.
        base_channels: ngf, the width of the first and last hidden layers.
        num_blocks: Residual blocks at the lowest resolution (9 for 256x256
            images in the paper, 6 for 128x128).
        num_downsamples: Halvings before the blocks (and doublings after);
            H and W must be divisible by 2**it.
        norm: "instance" (the paper) or "batch".
        dtype: Computation dtype; parameters stay float32.
    """

    out_channels: int
    base_channels: int = 64
    num_blocks: int = 9
    num_downsamples: int = 2
    norm: str = "instance"
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        check_norm(self.norm)

    @nn.compact
    def __call__(self, x, train: bool = False):
        factor = 2**self.num_downsamples
        height, width = x.shape[1:3]
        if height % factor or width % factor:
            # The stride-2 convolutions round odd sizes up, so the output
            # would not have the input's size.
            raise ValueError(
                f"ResnetGenerator with num_downsamples={self.num_downsamples} "
                f"needs H and W divisible by 2**{self.num_downsamples} = "
                f"{factor} to give an output of the input's size; got "
                f"{height}x{width}. Resize or crop the images, or lower "
                f"num_downsamples.")
        use_bias = self.norm == "instance"
        conv = dict(use_bias=use_bias, kernel_init=layers.dcgan_kernel_init,
                    dtype=self.dtype)

        def norm_relu(h):
            return nn.relu(normalization(self.norm, train, self.dtype)(h))

        h = jnp.asarray(x, self.dtype)
        h = norm_relu(nn.Conv(self.base_channels, (7, 7), padding="VALID",
                              **conv)(_reflect_pad(h, 3)))
        features = self.base_channels
        for _ in range(self.num_downsamples):
            features *= 2
            h = norm_relu(nn.Conv(features, (3, 3), strides=(2, 2),
                                  padding=((1, 1), (1, 1)), **conv)(h))
        for _ in range(self.num_blocks):
            h = ResnetBlock(self.norm, dtype=self.dtype)(h, train)
        for _ in range(self.num_downsamples):
            features //= 2
            # Padding (k - 1 - p, k - 1 - p + output_padding) = (1, 2) of the
            # dilated input is PyTorch's ConvTranspose2d(k=3, s=2, p=1,
            # output_padding=1): the 2H - 1 dilated rows, padded to 2H + 2,
            # give 2H outputs.
            h = norm_relu(nn.ConvTranspose(features, (3, 3), strides=(2, 2),
                                           padding=((1, 2), (1, 2)), **conv)(h))
        h = nn.Conv(self.out_channels, (7, 7), padding="VALID",
                    kernel_init=layers.dcgan_kernel_init,
                    dtype=self.dtype)(_reflect_pad(h, 3))
        # Samples leave the network in float32 whatever the compute dtype.
        return jnp.tanh(h).astype(jnp.float32)
