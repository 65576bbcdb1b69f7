"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity
Natural Image Synthesis"), with the block widths of PyTorch-StudioGAN's
`big_resnet` (Kang et al. 2023), whose CIFAR-10 and ImageNet-128 numbers are
the ones this project compares against.

Generator: z is split into `num_blocks + 1` equal chunks (hierarchical
latents, Sec. 3.2 of the paper): the first feeds a dense layer to a 4x4 map,
each later one is joined to a shared class embedding and conditions one
residual up block through conditional BatchNorm,

    CBN(x | y) = BN(x) * (1 + W_gain y) + W_bias y,

where BN has no affine parameters and W_gain, W_bias are spectrally
normalised linear maps without bias. A block is CBN, ReLU, nearest x2, conv3x3,
CBN, ReLU, conv3x3, plus a nearest-x2 conv1x1 shortcut. Then BN (affine),
ReLU, conv3x3 and tanh. Every convolution and dense layer of G and D is
spectrally normalised (Miyato et al. 2018); the shared class embedding is not.

Discriminator: an "optimised" first block (no leading ReLU; the shortcut
pools before its conv1x1), then pre-activation residual blocks, ReLU, a
global sum pool to h, and logit = psi(h) + <embed(y), h> (projection, Miyato
& Koyama 2018), with a spectrally normalised class embedding.

A self-attention block (Zhang et al. 2019, SAGAN) follows the G block and the
D block whose output has `attention_resolution` pixels a side, as in
StudioGAN's `attn_g_loc`/`attn_d_loc` (32 px: at 16x16 in both; 128 px: at
64x64 in both, the paper's choice).

Initialisation is orthogonal everywhere (BigGAN's and StudioGAN's "ortho");
BatchNorm uses eps 1e-4 and momentum 0.1 (PyTorch's convention, 0.9 in Flax's).
Unconditional (`num_classes == 0`): no class embedding; the blocks are
conditioned on their latent chunk alone, and D has no projection term.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import layers

# Block widths in units of the base width (StudioGAN's g_conv_dim/d_conv_dim),
# by image size: the generator's (in, out) per up block, the
# discriminator's out per block and whether it halves the resolution (its
# first block takes the image).
_G_WIDTHS = {
    32: ((4, 4), (4, 4), (4, 4)),
    64: ((16, 8), (8, 4), (4, 2), (2, 1)),
    128: ((16, 16), (16, 8), (8, 4), (4, 2), (2, 1)),
    256: ((16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)),
}
_D_BLOCKS = {
    32: ((2, True), (2, True), (2, False), (2, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
    256: ((1, True), (2, True), (4, True), (8, True), (8, True), (16, True),
          (16, False)),
}
SUPPORTED_SIZES = tuple(sorted(_G_WIDTHS))
_BOTTOM = 4
_INIT = nn.initializers.orthogonal()
_BN = dict(momentum=0.9, epsilon=1e-4)


def num_generator_blocks(image_size: int) -> int:
    """Up blocks of the generator: z is split into one more chunk than this."""
    return len(_G_WIDTHS[image_size])


def check_latent_dim(latent_dim: int, image_size: int) -> None:
    """The hierarchical latent needs `latent_dim` divisible by blocks + 1."""
    chunks = num_generator_blocks(image_size) + 1
    if latent_dim % chunks:
        valid = chunks * max(1, round(latent_dim / chunks))
        raise ValueError(
            f"BigGAN splits z into {chunks} equal chunks at {image_size}x"
            f"{image_size} (one per up block and one for the input), but "
            f"--config.model.latent_dim={latent_dim} is not divisible by "
            f"{chunks}. Set --config.model.latent_dim to a multiple of {chunks}, "
            f"e.g. {valid}.")


def attention_resolutions(image_size: int) -> tuple[int, ...]:
    """The feature-map sides both networks pass through at `image_size` (the
    outputs of a G block and of a D block), where attention can sit."""
    generator = {_BOTTOM * 2 ** (i + 1) for i in range(len(_G_WIDTHS[image_size]))}
    discriminator, side = set(), image_size
    for _, downsample in _D_BLOCKS[image_size]:
        side //= 2 if downsample else 1
        discriminator.add(side)
    return tuple(sorted(generator & discriminator))


def check_attention_resolution(resolution: int, image_size: int) -> None:
    valid = attention_resolutions(image_size)
    if resolution and resolution not in valid:
        raise ValueError(
            f"--config.model.attention_resolution={resolution} is not a "
            f"feature-map side of BigGAN at {image_size}x{image_size}. Valid: "
            f"{', '.join(map(str, valid))}, or 0 for no attention.")


def _sn(module: nn.Module, x, train: bool):
    return layers.spectral_norm(module, x, train)


def _conv(features: int, kernel: int, dtype, name: str, use_bias: bool = True):
    return nn.Conv(features, (kernel, kernel), use_bias=use_bias, kernel_init=_INIT,
                   dtype=dtype, name=name)


def _upsample(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def _downsample(x):
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


class SelfAttention(nn.Module):
    """SAGAN's non-local block, as BigGAN uses it:

        theta = W_theta x,  phi = maxpool(W_phi x),  g = maxpool(W_g x),
        beta = softmax_j(theta_i . phi_j),  o = W_o (sum_j beta_ij g_j),
        y = x + sigma * o,

    with C/8 channels for theta and phi, C/2 for g, 2x2 max pools (keys and
    values at a quarter of the positions), every 1x1 convolution spectrally
    normalised and without bias, and sigma a learned scalar that starts at 0
    (so the block starts as the identity). Needs even H, W and C >= 8.
    """

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        batch, height, width, channels = x.shape
        conv = lambda features, name: _conv(features, 1, self.dtype, name,  # noqa: E731
                                            use_bias=False)
        theta = _sn(conv(channels // 8, "theta"), x, train)
        phi = nn.max_pool(_sn(conv(channels // 8, "phi"), x, train), (2, 2), (2, 2))
        g = nn.max_pool(_sn(conv(channels // 2, "g"), x, train), (2, 2), (2, 2))
        theta = theta.reshape(batch, height * width, -1)
        phi = phi.reshape(batch, height * width // 4, -1)
        g = g.reshape(batch, height * width // 4, -1)
        # The softmax in float32 whatever the compute dtype.
        scores = jnp.einsum("bqc,bkc->bqk", theta, phi).astype(jnp.float32)
        attention = jax.nn.softmax(scores, axis=-1)
        self.sow("intermediates", "attention", attention)
        attended = jnp.einsum("bqk,bkc->bqc", attention.astype(self.dtype), g)
        attended = attended.reshape(batch, height, width, channels // 2)
        out = _sn(conv(channels, "o"), attended, train)
        sigma = self.param("sigma", nn.initializers.zeros, (), jnp.float32)
        return x + jnp.asarray(sigma, self.dtype) * out


class ConditionalBatchNorm(nn.Module):
    """BN(x) * (1 + W_gain c) + W_bias c: BatchNorm without its own affine
    parameters, then a per-sample gain and bias linear in the conditioning
    vector c (spectrally normalised, no bias; de Vries et al. 2017 as BigGAN
    uses it). The gain is 1 + ..., so the layer starts near plain BN."""

    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, condition, train: bool):
        channels = x.shape[-1]
        normalised = nn.BatchNorm(use_running_average=not train, use_scale=False,
                                  use_bias=False, dtype=self.dtype, **_BN)(x)
        dense = lambda name: nn.Dense(channels, use_bias=False,  # noqa: E731
                                      kernel_init=_INIT, dtype=self.dtype, name=name)
        gain = 1.0 + _sn(dense("gain"), condition, train)
        bias = _sn(dense("bias"), condition, train)
        return normalised * gain[:, None, None, :] + bias[:, None, None, :]


class GBlock(nn.Module):
    """CBN, ReLU, nearest x2, conv3x3, CBN, ReLU, conv3x3, plus a nearest-x2
    conv1x1 shortcut."""

    channels: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, condition, train: bool):
        h = nn.relu(ConditionalBatchNorm(self.dtype, name="cbn0")(x, condition, train))
        h = _sn(_conv(self.channels, 3, self.dtype, "conv0"), _upsample(h), train)
        h = nn.relu(ConditionalBatchNorm(self.dtype, name="cbn1")(h, condition, train))
        h = _sn(_conv(self.channels, 3, self.dtype, "conv1"), h, train)
        shortcut = _sn(_conv(self.channels, 1, self.dtype, "shortcut"),
                       _upsample(x), train)
        return h + shortcut


class DBlock(nn.Module):
    """[ReLU,] conv3x3, ReLU, conv3x3 [, avg pool], plus a conv1x1 shortcut
    when the width or resolution changes; the `optimized` first block has no
    leading ReLU and pools its shortcut before the conv1x1."""

    channels: int
    downsample: bool = True
    optimized: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        h = x if self.optimized else nn.relu(x)
        h = _sn(_conv(self.channels, 3, self.dtype, "conv0"), h, train)
        h = _sn(_conv(self.channels, 3, self.dtype, "conv1"), nn.relu(h), train)
        if self.downsample:
            h = _downsample(h)
        shortcut = x
        if self.optimized:
            shortcut = _sn(_conv(self.channels, 1, self.dtype, "shortcut"),
                           _downsample(x), train)
        elif self.downsample or x.shape[-1] != self.channels:
            shortcut = _sn(_conv(self.channels, 1, self.dtype, "shortcut"), x, train)
            if self.downsample:
                shortcut = _downsample(shortcut)
        return h + shortcut


class BigGANGenerator(nn.Module):
    """Maps z `(B, latent_dim)` (and labels when conditional) to images
    `(B, S, S, C)` in [-1, 1], S in `SUPPORTED_SIZES`.

    Attributes:
        sample_shape: `(S, S, C)`.
        channels: The base width (StudioGAN's g_conv_dim; 96 in its configs).
        num_classes: > 0 conditions every block on a shared class embedding.
        shared_dim: Size of that embedding (128 in the paper).
        attention_resolution: Side of the feature map after whose block the
            self-attention sits; 0 for none.
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    channels: int = 96
    num_classes: int = 0
    shared_dim: int = 128
    attention_resolution: int = 0
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, SUPPORTED_SIZES, "biggan")

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        size, out_channels = self.sample_shape[0], self.sample_shape[-1]
        widths = _G_WIDTHS[size]
        check_latent_dim(z.shape[-1], size)
        labels = layers.class_labels(labels, self.num_classes)
        chunks = jnp.split(jnp.asarray(z, self.dtype), len(widths) + 1, axis=-1)
        if labels is not None:
            shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=_INIT,
                              dtype=self.dtype, name="shared_embedding")(labels)
            conditions = [jnp.concatenate([shared, chunk], axis=-1)
                          for chunk in chunks[1:]]
        else:
            conditions = chunks[1:]

        first = widths[0][0] * self.channels
        x = _sn(nn.Dense(_BOTTOM * _BOTTOM * first, kernel_init=_INIT,
                         dtype=self.dtype, name="dense"), chunks[0], train)
        # PyTorch's (C, 4, 4) view of the dense output, moved to NHWC, so the
        # layout of this kernel's columns is the reference's.
        x = x.reshape(x.shape[0], first, _BOTTOM, _BOTTOM).transpose(0, 2, 3, 1)
        resolution = _BOTTOM
        for index, ((_, out), condition) in enumerate(zip(widths, conditions)):
            x = GBlock(out * self.channels, self.dtype, name=f"block{index}")(
                x, condition, train)
            resolution *= 2
            if resolution == self.attention_resolution:
                x = SelfAttention(self.dtype, name="attention")(x, train)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, dtype=self.dtype,
                                 name="final_bn", **_BN)(x))
        x = _sn(_conv(out_channels, 3, self.dtype, "to_image"), x, train)
        return jnp.tanh(x).astype(jnp.float32)


class BigGANDiscriminator(nn.Module):
    """Maps images `(B, S, S, C)` (and labels when conditional) to logits `(B,)`.

    Attributes:
        sample_shape: `(S, S, C)`, S in `SUPPORTED_SIZES`.
        channels: The base width (StudioGAN's d_conv_dim; 96 in its configs).
        num_classes: > 0 adds the projection term.
        attention_resolution: As the generator's; 0 for none.
        aux_outputs, minibatch_*: the discriminator options every model has
            (`layers`), on the sum-pooled features h, spectrally normalised.
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    channels: int = 96
    num_classes: int = 0
    attention_resolution: int = 0
    aux_outputs: int = 0
    minibatch_stddev_group: int = 0
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_image_shape(self.sample_shape, SUPPORTED_SIZES, "biggan")
        layers.check_discriminator_options(
            aux_outputs=self.aux_outputs,
            minibatch_stddev_group=self.minibatch_stddev_group,
            minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim)

    def _attention_after(self) -> int | None:
        """The index of the block the self-attention follows: the first
        that reaches `attention_resolution` (the blocks that keep 8x8 at the
        end would otherwise all qualify); None for none."""
        resolution = self.sample_shape[0]
        for index, (_, downsample) in enumerate(_D_BLOCKS[self.sample_shape[0]]):
            resolution //= 2 if downsample else 1
            if resolution == self.attention_resolution:
                return index
        return None

    def blocks_from_input(self) -> tuple[tuple[str, ...], ...]:
        """The parameter names of each residual block, from the input, the
        self-attention with the block it follows (FreezeD's blocks); psi and
        the projection are the head."""
        attention = self._attention_after()
        return tuple((f"block{index}",) + (("attention",) if index == attention else ())
                     for index in range(len(_D_BLOCKS[self.sample_shape[0]])))

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        labels = layers.class_labels(labels, self.num_classes)
        x = jnp.asarray(x, self.dtype)
        attention = self._attention_after()
        for index, (width, downsample) in enumerate(_D_BLOCKS[self.sample_shape[0]]):
            x = DBlock(width * self.channels, downsample=downsample,
                       optimized=index == 0, dtype=self.dtype,
                       name=f"block{index}")(x, train)
            if index == attention:
                x = SelfAttention(self.dtype, name="attention")(x, train)
        features = jnp.sum(nn.relu(x), axis=(1, 2))
        self.sow("intermediates", "features", features)
        layers.aux_head(self, features, self.aux_outputs, train=train,
                        kernel_init=_INIT, spectral_norm=True, dtype=self.dtype)
        h = layers.minibatch_features(
            features, stddev_group=self.minibatch_stddev_group,
            kernels=self.minibatch_kernels, kernel_dim=self.minibatch_kernel_dim,
            train=train, spectral_norm=True, dtype=self.dtype)
        logits = _sn(nn.Dense(1, kernel_init=_INIT, dtype=self.dtype, name="psi"),
                     h, train)[:, 0]
        if labels is not None:
            logits += layers.ProjectionHead(
                self.num_classes, _INIT, spectral_norm=True, dtype=self.dtype,
                name="projection")(features, labels, train)
        return logits.astype(jnp.float32)
