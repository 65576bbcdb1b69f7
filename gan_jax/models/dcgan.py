"""DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks") for 28, 32 and 64 pixel images.

The layout follows pytorch/examples/dcgan: the generator lifts z from 1x1 to
4x4 (7x7 for 28-pixel images) with a VALID transposed convolution, then 4x4
stride-2 transposed convolutions double the resolution and halve the channels
down to `base_channels` (ngf) before the RGB/grey output layer. The
discriminator mirrors it with 4x4 stride-2 convolutions from `base_channels`
(ndf) upwards and a VALID convolution to one logit.

Convolutions followed by BatchNorm carry no bias (BatchNorm cancels it); the
generator's output layer has none either, as in pytorch/examples, and with
`bias=False` neither have the discriminator's first layer and psi, so the
parameter counts match that implementation.

Options, all off by default (and then the networks are exactly the above):
spectral normalisation of every generator convolution, the minibatch layers
between the discriminator's last feature map and psi, and an auxiliary head
(see `layers`).
"""

from collections.abc import Sequence
import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models import strided_conv

SUPPORTED_SIZES = (28, 32, 64)
D_NORMS = ("batch", "layer", "none")


def layout(image_size: int) -> tuple[int, int]:
    """`(bottom_size, num_doublings)` between the 1x1 latent and the image."""
    bottom = 7 if image_size == 28 else 4
    return bottom, round(math.log2(image_size // bottom))


def _batch_norm(train: bool, dtype) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        scale_init=layers.dcgan_bn_scale_init, dtype=dtype)


class DCGANGenerator(nn.Module):
    """Maps z `(B, latent_dim)` (and labels when conditional) to `(B, H, W, C)`
    images in [-1, 1].

    Attributes:
        sample_shape: `(H, W, C)` with H = W in `SUPPORTED_SIZES`.
        base_channels: ngf, the width of the last hidden layer; each layer
            towards z doubles it (ngf=64 at 64x64: 512, 256, 128, 64).
        num_classes: > 0 makes the generator conditional on labels by
            concatenating a learned label embedding to z (Mirza & Osindero 2014).
        label_embed_dim: Size of that embedding.
        upsample: How the stride-2 transposed convolutions are computed
            (`strided_conv.UPSAMPLE_IMPLEMENTATIONS`); the result is the same.
        spectral_norm: Spectrally normalise every transposed convolution
            (Zhang et al. 2019, "Self-Attention GANs", Sec. 4.1: W / sigma(W)
            with sigma from one power iteration per call on the kernel seen
            as a `(kh * kw * in, out)` matrix). BatchNorm stays, as in SAGAN's
            generator; the label embedding is not normalised.
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    base_channels: int = 64
    num_classes: int = 0
    label_embed_dim: int = 50
    upsample: str = "auto"
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, SUPPORTED_SIZES, "dcgan")

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        size, _, channels = self.sample_shape  # Validated in __post_init__.
        bottom, doublings = layout(size)
        labels = layers.class_labels(labels, self.num_classes)
        x = jnp.asarray(z, self.dtype)
        if labels is not None:
            x = layers.LatentLabelEmbedding(self.num_classes, self.label_embed_dim,
                                            dtype=self.dtype)(x, labels)
        x = x[:, None, None, :]

        def normalized(layer, h):
            # DoublingConvTranspose reads its kernel through `self.param`, so
            # the SpectralNorm wrapper (map_variables) hands it W / sigma(W)
            # whichever implementation then computes the convolution.
            return layers.maybe_spectral_norm(layer, h, train=train,
                                              enabled=self.spectral_norm)

        conv = dict(use_bias=False, kernel_init=layers.dcgan_kernel_init,
                    dtype=self.dtype)
        width = self.base_channels * 2 ** (doublings - 1)
        x = normalized(nn.ConvTranspose(width, (bottom, bottom), padding="VALID",
                                        **conv), x)
        x = nn.relu(_batch_norm(train, self.dtype)(x))
        # PyTorch's ConvTranspose2d(k=4, s=2, p=1), computed the fastest way
        # for the backend (see DoublingConvTranspose).
        upsample = dict(kernel_init=layers.dcgan_kernel_init,
                        implementation=self.upsample, dtype=self.dtype)
        for _ in range(doublings - 1):
            width //= 2
            x = normalized(layers.DoublingConvTranspose(width, **upsample), x)
            x = nn.relu(_batch_norm(train, self.dtype)(x))
        x = normalized(layers.DoublingConvTranspose(channels, **upsample), x)
        # Samples leave the network in float32 whatever the compute dtype.
        return jnp.tanh(x).astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
    """Maps images `(B, H, W, C)` (and labels when conditional) to logits `(B,)`.

    Attributes:
        sample_shape: `(H, W, C)` with H = W in `SUPPORTED_SIZES`.
        base_channels: ndf, the width of the first layer, doubled by each
            following one.
        norm: Normalisation after every convolution but the first: batch
            (the paper), layer (per-sample over H, W, C, as in the WGAN-GP
            critics of Gulrajani et al. 2017) or none; gradient penalties
            need layer or none, since BatchNorm couples the samples of a batch.
        num_classes: > 0 makes the discriminator conditional.
        conditioning: concat (one-hot label maps joined to the input channels,
            Mirza & Osindero 2014) or projection (Miyato & Koyama 2018, with
            h the flattened last feature map, so psi is the final convolution).
        aux_outputs: > 0 adds a linear head "aux_head" on h (the sown
            "features"), its `(B, aux_outputs)` output sown as "aux_logits".
        minibatch_stddev_group: > 0 appends the minibatch standard deviation
            (Karras et al. 2018) over groups of this size to the last feature
            map, as a constant extra channel that psi convolves.
        minibatch_kernels: > 0 applies minibatch discrimination (Salimans et
            al. 2016; `minibatch_kernel_dim` per kernel) to the flattened last
            feature map (with the standard-deviation channel when that is on);
            psi then becomes the equivalent Dense layer on the flattened map
            joined with the minibatch features.
        minibatch_kernel_dim: See `minibatch_kernels`.
        bias: Biases on the layers without BatchNorm after them (the first
            convolution and psi; every layer when norm is not batch). False
            is pytorch/examples/dcgan, which has no bias anywhere.
        downsample: How the stride-2 convolutions are computed
            (`strided_conv.DOWNSAMPLE_IMPLEMENTATIONS`); the result is the same.
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    base_channels: int = 64
    norm: str = "batch"
    num_classes: int = 0
    conditioning: str = "projection"
    aux_outputs: int = 0
    minibatch_stddev_group: int = 0
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    bias: bool = True
    downsample: str = "auto"
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, SUPPORTED_SIZES, "dcgan")
        if self.norm not in D_NORMS:
            raise ValueError(f"Unknown d_norm {self.norm!r}. Valid: "
                             f"{', '.join(D_NORMS)}. Set --config.model.d_norm.")
        layers.check_conditioning(self.conditioning)
        layers.check_discriminator_options(
            aux_outputs=self.aux_outputs,
            minibatch_stddev_group=self.minibatch_stddev_group,
            minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim)

    def blocks_from_input(self) -> tuple[tuple[str, ...], ...]:
        """The parameter names of each convolution block, from the input
        (FreezeD's blocks, `optim.freeze_d_blocks`): the first convolution,
        then each further one with its normalisation; psi, the projection and
        the minibatch and auxiliary layers are the head."""
        _, doublings = layout(self.sample_shape[0])
        norm = {"batch": "BatchNorm", "layer": "LayerNorm"}.get(self.norm)
        return (("Conv_0",), *((f"Conv_{i}",) + ((f"{norm}_{i - 1}",) if norm else ())
                                for i in range(1, doublings)))

    def _normalize(self, x, train: bool):
        if self.norm == "batch":
            return _batch_norm(train, self.dtype)(x)
        if self.norm == "layer":
            return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1,
                                dtype=self.dtype)(x)
        return x

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        bottom, doublings = layout(self.sample_shape[0])
        labels = layers.class_labels(labels, self.num_classes)
        x = jnp.asarray(x, self.dtype)
        if labels is not None and self.conditioning == "concat":
            x = layers.concat_label_maps(x, labels, self.num_classes)

        # PyTorch's Conv2d(k=4, s=2, p=1), computed the fastest way for the
        # backend (see strided_conv); parameters and names are nn.Conv's.
        conv = dict(kernel_size=(4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                    kernel_init=layers.dcgan_kernel_init, dtype=self.dtype,
                    conv_general_dilated=strided_conv.flax_conv_general_dilated(
                        self.downsample))
        width = self.base_channels
        x = nn.leaky_relu(nn.Conv(width, use_bias=self.bias, **conv)(x), 0.2)
        for _ in range(doublings - 1):
            width *= 2
            x = nn.Conv(width, use_bias=self.bias and self.norm != "batch", **conv)(x)
            x = nn.leaky_relu(self._normalize(x, train), 0.2)

        batch = x.shape[0]
        features = x.reshape((batch, -1))
        # Sown before the minibatch layers, so that they stay per-sample.
        self.sow("intermediates", "features", features)
        layers.aux_head(self, features, self.aux_outputs, train=train,
                        kernel_init=layers.dcgan_kernel_init, dtype=self.dtype)
        if self.minibatch_stddev_group:
            x = layers.MinibatchStdDev(self.minibatch_stddev_group,
                                       name="minibatch_stddev")(x)
        if self.minibatch_kernels:
            # The paper feeds concat(f, o) to the next layer; a VALID conv over
            # the whole map is a Dense layer on the flattened map, so psi
            # becomes that Dense layer on the longer vector.
            h = layers.MinibatchDiscrimination(
                self.minibatch_kernels, self.minibatch_kernel_dim,
                dtype=self.dtype, name="minibatch_discrimination")(
                    x.reshape((batch, -1)))
            logits = nn.Dense(1, use_bias=self.bias, kernel_init=layers.dcgan_kernel_init,
                              dtype=self.dtype, name="psi")(h)[:, 0]
        else:
            logits = nn.Conv(1, (bottom, bottom), padding="VALID", use_bias=self.bias,
                             kernel_init=layers.dcgan_kernel_init,
                             dtype=self.dtype, name="psi")(x).reshape((batch,))
        if labels is not None and self.conditioning == "projection":
            # N(0, 0.02) like psi, so both terms of the logit start on one scale.
            logits += layers.ProjectionHead(
                self.num_classes, layers.dcgan_kernel_init, dtype=self.dtype,
                name="projection")(features, labels, train)
        return logits.astype(jnp.float32)
