"""Pieces shared by the image GANs: initialisers, label handling, projection.

Conditioning follows Mirza & Osindero 2014 ("Conditional Generative
Adversarial Nets") for the generator and the label-concatenating
discriminator, and Miyato & Koyama 2018 ("cGANs with Projection
Discriminator") for the projection discriminator.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

D_CONDITIONINGS = ("concat", "projection")

# Radford et al. 2016, Sec. 4: "All weights were initialized from a zero-centered
# Normal distribution with standard deviation 0.02."
dcgan_kernel_init = nn.initializers.normal(stddev=0.02)


def dcgan_bn_scale_init(key, shape, dtype=jnp.float32):
    """BatchNorm scale ~ N(1, 0.02), as in the DCGAN reference code."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def glorot_uniform(gain: float = 1.0) -> nn.initializers.Initializer:
    """Chainer's `GlorotUniform(gain)`, the initialiser of the SNGAN code.

    The gain multiplies the bound, so it enters the variance squared.
    """
    return nn.initializers.variance_scaling(gain**2, "fan_avg", "uniform")


def check_image_shape(sample_shape: Sequence[int], supported_sizes: Sequence[int],
                model_name: str) -> tuple[int, int, int]:
    """Validates a square `(H, W, C)` sample shape against `supported_sizes`."""
    shape = tuple(int(d) for d in sample_shape)
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"{model_name} needs square (H, W, C) images, got sample "
                         f"shape {shape}.")
    if shape[0] not in supported_sizes:
        raise ValueError(f"{model_name} does not support {shape[0]}x{shape[0]} "
                         f"images. Supported sizes: "
                         f"{', '.join(str(s) for s in supported_sizes)}.")
    return shape


def check_conditioning(conditioning: str):
    """Raises ValueError, listing the valid ones, for an unknown conditioning."""
    if conditioning not in D_CONDITIONINGS:
        raise ValueError(f"Unknown discriminator conditioning {conditioning!r}. "
                         f"Valid: {', '.join(D_CONDITIONINGS)}. Set "
                         f"--config.model.d_conditioning.")


def class_labels(labels, num_classes: int):
    """Labels as int32 `(batch,)` for a conditional model, None otherwise.

    Unconditional models ignore labels, so one initialisation call (which
    always passes labels) serves both kinds.
    """
    if num_classes == 0:
        return None
    if labels is None:
        raise ValueError(f"This model is conditional (num_classes={num_classes}) "
                         "and needs `labels`; set num_classes=0 for an "
                         "unconditional model.")
    return jnp.asarray(labels, jnp.int32).reshape(-1)


def concat_label_maps(x, labels, num_classes: int):
    """Joins one-hot label maps `(B, H, W, num_classes)` to the channels of `x`."""
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)
    maps = jnp.broadcast_to(one_hot[:, None, None, :],
                            (*x.shape[:-1], num_classes))
    return jnp.concatenate([x, maps], axis=-1)


class LatentLabelEmbedding(nn.Module):
    """`concat(z, embed(y))`: the conditional generator input of Mirza & Osindero.

    The embedding keeps Flax's default unit-scale init so that the label
    part of the input starts on the same scale as z ~ N(0, I).
    """

    num_classes: int
    embed_dim: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, labels):
        embedded = nn.Embed(self.num_classes, self.embed_dim, dtype=self.dtype,
                            name="label_embedding")(labels)
        return jnp.concatenate([jnp.asarray(z, self.dtype), embedded], axis=-1)


class ProjectionHead(nn.Module):
    """The class term `<embed(y), h>` of the projection discriminator.

    Miyato & Koyama 2018, eq. (3): logit = psi(h) + <embed(y), h>; the caller
    adds psi(h). With `spectral_norm` the embedding matrix is spectrally
    normalised, as in the paper's SNGAN discriminators.
    """

    num_classes: int
    embedding_init: nn.initializers.Initializer
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h, labels, train: bool = False):
        embed = nn.Embed(self.num_classes, h.shape[-1], dtype=self.dtype,
                         embedding_init=self.embedding_init,
                         name="class_embedding")
        if self.spectral_norm:
            embedded = nn.SpectralNorm(embed)(labels, update_stats=train)
        else:
            embedded = embed(labels)
        return jnp.sum(embedded * h, axis=-1)


def spectral_norm(layer: nn.Module, x, train: bool):
    """Applies `layer` with its kernel divided by its top singular value.

    Miyato et al. 2018, "Spectral Normalization for GANs": one power iteration
    per call, whose vector `u` (and the estimate `sigma`) lives in the
    `batch_stats` collection and only moves in training mode.
    """
    return nn.SpectralNorm(layer)(x, update_stats=train)


UPSAMPLE_IMPLEMENTATIONS = ("auto", "transpose", "subpixel")

# Phase r of the output (row or column index 2m + r) reads input rows m + d
# through kernel taps k: {offset index d + 1: tap k}. Derived from the
# transposed convolution with padding k - 1 - p = 2 on the dilated input.
_SUBPIXEL_TAPS = {0: {0: 0, 1: 2}, 1: {1: 1, 2: 3}}


def _subpixel_kernel(kernel: jax.Array) -> jax.Array:
    """`(4, 4, I, O)` transposed-conv kernel -> `(3, 3, I, 4 O)` conv kernel.

    Output channel `(ry * 2 + rx) * O + o` of the stride-1 convolution is the
    phase `(ry, rx)` pixel of the transposed convolution; taps a phase never
    touches stay zero.
    """
    _, _, in_channels, out_channels = kernel.shape
    phases = jnp.zeros((3, 3, in_channels, 2, 2, out_channels), kernel.dtype)
    for ry, row_taps in _SUBPIXEL_TAPS.items():
        for rx, column_taps in _SUBPIXEL_TAPS.items():
            for dy, ky in row_taps.items():
                for dx, kx in column_taps.items():
                    phases = phases.at[dy, dx, :, ry, rx, :].set(kernel[ky, kx])
    return phases.reshape(3, 3, in_channels, 4 * out_channels)


def _depth_to_space(x: jax.Array) -> jax.Array:
    """`(B, H, W, 4 C)` with channels ordered (ry, rx, c) -> `(B, 2H, 2W, C)`."""
    batch, height, width, channels = x.shape
    x = x.reshape(batch, height, width, 2, 2, channels // 4)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(
        batch, 2 * height, 2 * width, channels // 4)


class DoublingConvTranspose(nn.Module):
    """A 4x4 stride-2 transposed convolution that doubles the resolution:
    PyTorch's `ConvTranspose2d(k=4, s=2, p=1)`, Flax's `ConvTranspose` with
    padding (2, 2) and the same `kernel` parameter.

    `implementation` picks how it is computed; all give the same numbers:
      transpose: `lax.conv_transpose`, the standard layer.
      subpixel: a stride-1 3x3 convolution to 4x the channels followed by
        depth-to-space (Shi et al. 2016), with the kernel rearranged so that
        the result is exactly the transposed convolution. On XLA:CPU its
        kernel gradient is several times faster than conv_transpose's.
      auto: subpixel on CPU, transpose on GPU/TPU (where cuDNN and the TPU
        compiler handle transposed convolutions natively).
    """

    features: int
    use_bias: bool = False
    kernel_init: nn.initializers.Initializer = dcgan_kernel_init
    implementation: str = "auto"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        if self.implementation not in UPSAMPLE_IMPLEMENTATIONS:
            raise ValueError(f"Unknown upsampling implementation "
                             f"{self.implementation!r}. Valid: "
                             f"{', '.join(UPSAMPLE_IMPLEMENTATIONS)}.")
        kernel = self.param("kernel", self.kernel_init,
                            (4, 4, x.shape[-1], self.features), jnp.float32)
        x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
        implementation = self.implementation
        if implementation == "auto":
            implementation = "subpixel" if jax.default_backend() == "cpu" else "transpose"
        dimensions = ("NHWC", "HWIO", "NHWC")
        if implementation == "transpose":
            y = jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                       dimension_numbers=dimensions)
        else:
            y = _depth_to_space(jax.lax.conv_general_dilated(
                x, _subpixel_kernel(kernel), (1, 1), ((1, 1), (1, 1)),
                dimension_numbers=dimensions))
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,),
                              jnp.float32)
            y = y + jnp.asarray(bias, self.dtype)
        return y
