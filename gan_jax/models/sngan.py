"""The ResNet SNGAN for 32x32 images (Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks", Table 4, CIFAR-10 ResNet).

Generator: z -> dense 4x4xch -> 3 up ResBlocks -> BN, ReLU, conv3x3 -> tanh.
Discriminator: optimised down block, down ResBlock, 2 ResBlocks -> ReLU ->
global sum pool -> dense, every convolution and dense layer spectrally
normalised. Initialisers follow the authors' Chainer code (sngan_projection):
Glorot uniform with gain sqrt(2) inside residual branches, 1 elsewhere.

When conditional, the generator concatenates a label embedding to z (Mirza &
Osindero 2014) rather than using the paper's conditional BatchNorm, and the
discriminator uses a spectrally normalised projection (Miyato & Koyama 2018)
unless `conditioning="concat"`.

Discriminator options, all off by default (and then the network is exactly
the above): the minibatch layers and an auxiliary head (see `layers`), all
spectrally normalised like the rest of D. They act on the sum-pooled
features h rather than inside the last ResBlock, so that h, the sown
"features", stays per-sample. The generator has no spectral-normalisation
option: `models.read_options` refuses `g_spectral_norm` for sngan.
"""

from collections.abc import Sequence
import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers

SUPPORTED_SIZES = (32,)
_BOTTOM = 4  # 4x4 -> 32x32 through three up blocks.
_RESIDUAL_INIT = layers.glorot_uniform(math.sqrt(2.0))
_INIT = layers.glorot_uniform(1.0)


def _upsample(x):
    """Nearest-neighbour x2, the Chainer code's `unpooling_2d`."""
    return x.repeat(2, axis=1).repeat(2, axis=2)


def _downsample(x):
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


class GBlock(nn.Module):
    """BN, ReLU, upsample, conv3x3, BN, ReLU, conv3x3, plus upsample + conv1x1."""

    channels: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        def batch_norm(h):
            return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                dtype=self.dtype)(h)

        conv3 = dict(kernel_size=(3, 3), kernel_init=_RESIDUAL_INIT, dtype=self.dtype)
        h = _upsample(nn.relu(batch_norm(x)))
        h = nn.Conv(self.channels, **conv3)(h)
        h = nn.Conv(self.channels, **conv3)(nn.relu(batch_norm(h)))
        shortcut = nn.Conv(self.channels, (1, 1), kernel_init=_INIT,
                           dtype=self.dtype, name="shortcut")(_upsample(x))
        return h + shortcut


class DBlock(nn.Module):
    """ReLU, SN conv3x3, ReLU, SN conv3x3 [, avg pool]; the shortcut gets an SN
    conv1x1 (then the pool) when it changes width or resolution.

    `optimized` is the first block: no leading ReLU (the input is an image) and
    the shortcut pools before its conv1x1, which is cheaper.
    """

    channels: int
    downsample: bool = True
    optimized: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        conv3 = dict(kernel_size=(3, 3), kernel_init=_RESIDUAL_INIT, dtype=self.dtype)
        h = x if self.optimized else nn.relu(x)
        h = layers.spectral_norm(nn.Conv(self.channels, **conv3), h, train)
        h = layers.spectral_norm(nn.Conv(self.channels, **conv3), nn.relu(h), train)
        if self.downsample:
            h = _downsample(h)

        shortcut = x
        if self.downsample or x.shape[-1] != self.channels:
            conv1 = nn.Conv(self.channels, (1, 1), kernel_init=_INIT,
                            dtype=self.dtype, name="shortcut")
            if self.optimized:
                shortcut = layers.spectral_norm(conv1, _downsample(x), train)
            else:
                shortcut = layers.spectral_norm(conv1, x, train)
                if self.downsample:
                    shortcut = _downsample(shortcut)
        return h + shortcut


class SNGANGenerator(nn.Module):
    """Maps z `(B, latent_dim)` (and labels when conditional) to `(B, 32, 32, C)`
    images in [-1, 1].

    Attributes:
        sample_shape: `(32, 32, C)`, any C.
        channels: Width of every block (the paper's CIFAR model: 256).
        num_classes: > 0 concatenates a label embedding to z.
        label_embed_dim: Size of that embedding.
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    channels: int = 256
    num_classes: int = 0
    label_embed_dim: int = 50
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, SUPPORTED_SIZES, "sngan")

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        out_channels = self.sample_shape[-1]
        labels = layers.class_labels(labels, self.num_classes)
        x = jnp.asarray(z, self.dtype)
        if labels is not None:
            x = layers.LatentLabelEmbedding(self.num_classes, self.label_embed_dim,
                                            dtype=self.dtype)(x, labels)
        x = nn.Dense(_BOTTOM * _BOTTOM * self.channels, kernel_init=_INIT,
                     dtype=self.dtype)(x)
        x = x.reshape((x.shape[0], _BOTTOM, _BOTTOM, self.channels))
        for _ in range(3):
            x = GBlock(self.channels, dtype=self.dtype)(x, train)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                 dtype=self.dtype)(x))
        x = nn.Conv(out_channels, (3, 3), kernel_init=_INIT, dtype=self.dtype)(x)
        # Samples leave the network in float32 whatever the compute dtype.
        return jnp.tanh(x).astype(jnp.float32)


# The discriminator's residual blocks (Miyato et al. 2018, Table 4): the
# optimized first block, one more 2x downsampling block, two at 8x8.
_D_BLOCKS = (dict(optimized=True), {}, dict(downsample=False), dict(downsample=False))


class SNGANDiscriminator(nn.Module):
    """Maps images `(B, 32, 32, C)` (and labels when conditional) to logits `(B,)`.

    Attributes:
        sample_shape: `(32, 32, C)`, any C.
        channels: Width of every block (the paper's CIFAR model: 128).
        num_classes: > 0 makes the discriminator conditional.
        conditioning: projection (default; h is the sum-pooled ReLU features
            and the class embedding is spectrally normalised, as in Miyato &
            Koyama 2018) or concat (one-hot label maps joined to the input).
        aux_outputs: > 0 adds a spectrally normalised linear head "aux_head"
            on h, its `(B, aux_outputs)` output sown as "aux_logits".
        minibatch_stddev_group: > 0 appends the minibatch standard deviation
            (Karras et al. 2018) of h over groups of this size as one extra
            input of psi. (Karras et al. put it before their last conv block;
            here that would make h, which feature matching compares, depend
            on the rest of the batch.)
        minibatch_kernels: > 0 appends minibatch discrimination (Salimans et
            al. 2016; `minibatch_kernel_dim` per kernel, T spectrally
            normalised) to psi's input, after the standard deviation.
        minibatch_kernel_dim: See `minibatch_kernels`.
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    channels: int = 128
    num_classes: int = 0
    conditioning: str = "projection"
    aux_outputs: int = 0
    minibatch_stddev_group: int = 0
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, SUPPORTED_SIZES, "sngan")
        layers.check_conditioning(self.conditioning)
        layers.check_discriminator_options(
            aux_outputs=self.aux_outputs,
            minibatch_stddev_group=self.minibatch_stddev_group,
            minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim)

    def blocks_from_input(self) -> tuple[tuple[str, ...], ...]:
        """The parameter names of each residual block, from the input
        (FreezeD's blocks); psi and the projection are the head."""
        return tuple((f"DBlock_{i}",) for i in range(len(_D_BLOCKS)))

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        labels = layers.class_labels(labels, self.num_classes)
        x = jnp.asarray(x, self.dtype)
        if labels is not None and self.conditioning == "concat":
            x = layers.concat_label_maps(x, labels, self.num_classes)

        block = dict(channels=self.channels, dtype=self.dtype)
        for options in _D_BLOCKS:
            x = DBlock(**options, **block)(x, train)
        features = jnp.sum(nn.relu(x), axis=(1, 2))
        self.sow("intermediates", "features", features)
        layers.aux_head(self, features, self.aux_outputs, train=train,
                        kernel_init=_INIT, spectral_norm=True, dtype=self.dtype)
        h = layers.minibatch_features(
            features, stddev_group=self.minibatch_stddev_group,
            kernels=self.minibatch_kernels, kernel_dim=self.minibatch_kernel_dim,
            train=train, spectral_norm=True, dtype=self.dtype)

        psi = nn.Dense(1, kernel_init=_INIT, dtype=self.dtype, name="psi")
        logits = layers.spectral_norm(psi, h, train)[:, 0]
        if labels is not None and self.conditioning == "projection":
            logits += layers.ProjectionHead(
                self.num_classes, _INIT, spectral_norm=True, dtype=self.dtype,
                name="projection")(features, labels, train)
        return logits.astype(jnp.float32)
