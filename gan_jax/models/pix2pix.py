"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks"): the U-Net generator and the PatchGAN discriminator.

The layout follows pytorch-CycleGAN-and-pix2pix (`UnetGenerator`,
`UnetSkipConnectionBlock`, `NLayerDiscriminator`), so the parameter counts
match that implementation. Every convolution followed by a normalisation
layer has no bias with BatchNorm (which cancels it) and one with instance
norm, as there (`use_bias = norm is instance`); the reference applies that
rule to the U-Net's first convolution too, although no norm follows it. The
weights start from N(0, 0.02) and BatchNorm scales from N(1, 0.02), the
reference's `init_weights('normal', 0.02)` (DCGAN's initialisation).

Running statistics live in the `batch_stats` collection and move only with
`train=True` (apply with `mutable=["batch_stats"]`). The U-Net's dropout is
active only with `train=True`; the caller then passes
`rngs={"dropout": key}`.
"""

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models import strided_conv

NORMS = ("batch", "instance")


def check_norm(norm: str):
    """Raises ValueError, listing the valid ones, for an unknown norm name."""
    if norm not in NORMS:
        raise ValueError(f"Unknown norm {norm!r}. Valid: {', '.join(NORMS)}.")


def normalization(name: str, train: bool, dtype) -> nn.Module:
    """The reference's `norm_layer`: "batch" or "instance".

    BatchNorm keeps running statistics with PyTorch's momentum (0.1 of the new
    batch, Flax's 0.9 of the old average). Instance norm is PyTorch's
    `InstanceNorm2d` default: no affine parameters, no running statistics,
    epsilon 1e-5.
    """
    check_norm(name)
    if name == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                            scale_init=layers.dcgan_bn_scale_init, dtype=dtype)
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False,
                           dtype=dtype)


class UNetGenerator(nn.Module):
    """Maps images `(B, H, W, C)` to `(B, H, W, out_channels)` in [-1, 1].

    Encoder level i (0 = outermost) is a 4x4 stride-2 convolution (padding 1,
    'SAME' for the even sizes it gets) to `min(base_channels * 2**i,
    max_channels)` channels, preceded by LeakyReLU(0.2) except at level 0 and
    followed by the norm except at level 0 and at the innermost level, whose
    1x1 (at H = 2**num_downsamples) output is the bottleneck. The decoder
    walks back up: at level i, ReLU, a 4x4 stride-2 transposed convolution to
    level i-1's width, the norm, and the concatenation `[level i-1's encoder
    output, decoder output]` on the channels (the skip connection); level 0
    ends with ReLU, a transposed convolution (with bias) to `out_channels`
    and tanh. `unet_256` is `num_downsamples=8` with the defaults.

    Dropout (`dropout_rate`) follows the norm of the decoder levels i whose
    input and output both have `max_channels` channels, innermost level
    excluded: levels num_downsamples-4 .. num_downsamples-2 with the default
    widths, i.e. the reference's `num_downs - 5` inner `ngf * 8` blocks (three
    for unet_256). Narrow nets where fewer levels reach `max_channels` get
    fewer (possibly none).

    Attributes:
        out_channels: Channels of the output image.
        base_channels: ngf, the width of level 0.
        num_downsamples: Levels; H and W must be divisible by 2**it.
        max_channels: The cap on the doubling widths (the reference's ngf * 8).
        dropout_rate: The decoder dropout rate (0 turns it off).
        norm: "batch" or "instance".
        dtype: Computation dtype; parameters stay float32.
    """

    out_channels: int
    base_channels: int = 64
    num_downsamples: int = 8
    max_channels: int = 512
    dropout_rate: float = 0.5
    norm: str = "batch"
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        check_norm(self.norm)
        if self.num_downsamples < 1:
            raise ValueError(f"UNetGenerator needs num_downsamples >= 1, got "
                             f"{self.num_downsamples}.")

    @nn.compact
    def __call__(self, x, train: bool = False):
        levels = self.num_downsamples
        factor = 2**levels
        height, width = x.shape[1:3]
        if height % factor or width % factor:
            raise ValueError(
                f"UNetGenerator with num_downsamples={levels} halves the image "
                f"{levels} times, so H and W must be divisible by 2**{levels} = "
                f"{factor}; got {height}x{width}. Resize or crop the images to "
                f"multiples of {factor}, or lower num_downsamples.")
        widths = [min(self.base_channels * 2**i, self.max_channels)
                  for i in range(levels)]
        use_bias = self.norm == "instance"
        # PyTorch's Conv2d(k=4, s=2, p=1) and ConvTranspose2d(k=4, s=2, p=1),
        # computed the fastest way for the backend (see strided_conv).
        down = dict(kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                    use_bias=use_bias, kernel_init=layers.dcgan_kernel_init,
                    dtype=self.dtype,
                    conv_general_dilated=strided_conv.flax_conv_general_dilated())
        up = dict(kernel_init=layers.dcgan_kernel_init, dtype=self.dtype)

        h = jnp.asarray(x, self.dtype)
        encoded = []
        for i, features in enumerate(widths):
            if i > 0:
                h = nn.leaky_relu(h, 0.2)
            h = nn.Conv(features, name=f"down{i}", **down)(h)
            if 0 < i < levels - 1:
                h = normalization(self.norm, train, self.dtype)(h)
            # The reference's in-place LeakyReLU also rewrites this tensor,
            # the skip it concatenates; the ReLU that starts every decoder
            # level makes that irrelevant (relu(lrelu(a)) = relu(a)).
            encoded.append(h)

        for i in range(levels - 1, 0, -1):
            h = nn.relu(h)
            h = layers.DoublingConvTranspose(widths[i - 1], use_bias=use_bias,
                                             name=f"up{i}", **up)(h)
            h = normalization(self.norm, train, self.dtype)(h)
            if i < levels - 1 and widths[i - 1] == widths[i] == self.max_channels:
                h = nn.Dropout(self.dropout_rate, deterministic=not train,
                               name=f"dropout{i}")(h)
            h = jnp.concatenate([encoded[i - 1], h], axis=-1)
        h = nn.relu(h)
        h = layers.DoublingConvTranspose(self.out_channels, use_bias=True,
                                         name="up0", **up)(h)
        # Samples leave the network in float32 whatever the compute dtype.
        return jnp.tanh(h).astype(jnp.float32)


class PatchDiscriminator(nn.Module):
    """PatchGAN: maps images `(B, H, W, C)` to per-patch logits `(B, H', W')`.

    The reference's `NLayerDiscriminator`: a 4x4 stride-2 convolution (bias,
    no norm) + LeakyReLU(0.2); `num_layers - 1` 4x4 stride-2 convolutions to
    `base_channels * min(2**n, 8)` channels + norm + LeakyReLU; a 4x4 stride-1
    one to `base_channels * min(2**num_layers, 8)` + norm + LeakyReLU; and a
    4x4 stride-1 convolution (bias) to one logit per patch. Every convolution
    pads by 1, so a 256x256 input gives 30x30 logits, each seeing a 70x70
    patch with `num_layers=3` (the paper's 70x70 PatchGAN).

    pix2pix's discriminator is conditional: `condition` (the generator's
    input image) is joined to the channels before the first convolution, in
    the reference's order `[condition, x]` (its `cat(real_A, fake_B)`).

    Attributes:
        base_channels: ndf, the width of the first layer.
        num_layers: Stride-2 convolutions (n_layers_D).
        norm: "batch" or "instance".
        dtype: Computation dtype; parameters stay float32.
    """

    base_channels: int = 64
    num_layers: int = 3
    norm: str = "batch"
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        check_norm(self.norm)
        if self.num_layers < 1:
            raise ValueError(f"PatchDiscriminator needs num_layers >= 1, got "
                             f"{self.num_layers}.")

    @nn.compact
    def __call__(self, x, condition=None, train: bool = False):
        if condition is not None:
            if condition.shape[:-1] != x.shape[:-1]:
                raise ValueError(f"The condition {condition.shape} and the images "
                                 f"{x.shape} must agree on (B, H, W).")
            x = jnp.concatenate([jnp.asarray(condition, self.dtype),
                                 jnp.asarray(x, self.dtype)], axis=-1)
        # Each stride-2 layer maps s to s // 2 and each stride-1 one to s - 1,
        # so one logit needs 3 * 2**num_layers pixels.
        minimum = 3 * 2**self.num_layers
        if min(x.shape[1:3]) < minimum:
            raise ValueError(
                f"PatchDiscriminator with num_layers={self.num_layers} needs "
                f"images of at least {minimum}x{minimum} pixels to give one "
                f"patch logit, got {x.shape[1]}x{x.shape[2]}. Use larger images "
                f"or fewer layers.")
        use_bias = self.norm == "instance"
        conv = dict(kernel_size=(4, 4), padding=((1, 1), (1, 1)),
                    kernel_init=layers.dcgan_kernel_init, dtype=self.dtype,
                    conv_general_dilated=strided_conv.flax_conv_general_dilated())

        h = jnp.asarray(x, self.dtype)
        h = nn.leaky_relu(nn.Conv(self.base_channels, strides=(2, 2), **conv)(h), 0.2)
        for n in range(1, self.num_layers + 1):
            stride = 2 if n < self.num_layers else 1
            h = nn.Conv(self.base_channels * min(2**n, 8), strides=(stride, stride),
                        use_bias=use_bias, **conv)(h)
            h = nn.leaky_relu(normalization(self.norm, train, self.dtype)(h), 0.2)
        logits = nn.Conv(1, strides=(1, 1), **conv)(h)
        return logits[..., 0].astype(jnp.float32)
