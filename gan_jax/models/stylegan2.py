"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), the networks of the ADA paper's code (Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data",
NVlabs/stylegan2-ada-pytorch, training/networks.py), which this follows layer
for layer: the same variables (parameter counts equal the reference's, see
tests/test_stylegan2_networks.py), initialisation and forward pass.

Generator: z -> mapping network (z normalised by its second moment; with
labels, a normalised label embedding joined to it; `mapping_layers` fully
connected lrelu layers at learning-rate multiplier 0.01) -> w, broadcast to
`num_ws` copies -> synthesis network: a learned 4x4 constant, then per
resolution a block of two modulated 3x3 convolutions (the first upsampling
2x, except at 4x4), each with per-pixel noise, and a ToRGB 1x1 modulated
convolution; with architecture "skip" (the default) the RGB outputs of all
blocks are upsampled by the [1, 3, 3, 1] filter and summed.

Discriminator: per resolution from the image's down to 8x8 a block (FromRGB
1x1 at the top, conv 3x3, conv 3x3 downsampling 2x; "resnet", the default, adds
a 1x1 downsampling skip and scales both branches by sqrt(0.5)), then the 4x4
epilogue: minibatch standard deviation, conv 3x3, fully connected, and the
output layer; a conditional discriminator projects the output onto a
mapped label embedding, sum(out * cmap) / sqrt(cmap_dim) (Miyato & Koyama
2018).

Equalised learning rate (Karras et al. 2018, Sec. 4.1): every weight is stored
as N(0, 1) / lr_multiplier and multiplied at run time by lr_multiplier /
sqrt(fan_in); a bias is stored at its `bias_init` and multiplied at run time by
lr_multiplier (so the mapping's biases, initialised at 0, move 100 times slower).
The kernels of modulated convolutions get no run-time gain: demodulation
removes their scale.

Layout: NHWC images and HWIO kernels (`(k, k, in, out)`); dense kernels are
`(in, out)`. The reference's tensors are their transposes (and its epilogue
flattens C, H, W where this flattens H, W, C), which only permutes elements.

Compute dtype (`dtype`): the convolutions, activations and noise of the
synthesis network and of the discriminator's blocks run in it; the
parameters, the mapping network, the styles, the demodulation coefficients,
the accumulated RGB image, the discriminator's epilogue and both networks'
outputs stay float32 (the reference likewise keeps its mapping, styles and
epilogue in float32 under mixed precision).

Running statistics: the generator's moving average of w (`w_avg`, decay
0.995, for truncation) lives in the `batch_stats` collection and moves only
with `train=True` and `batch_stats` mutable (never at init).

Noise (`noise_mode`): "random" draws fresh N(0, 1) per-pixel noise from the
"noise" rng (`rngs={"noise": key}`); "const" uses one fixed noise image per
layer, drawn from a key derived from the layer's name (`const_noise`), so it
costs no parameters or state and is the same in every process (the reference
stores a random `noise_const` buffer instead, so its values differ from ours);
"none" adds nothing. The default (None) is "random" when the "noise" rng is given,
else "const": sampling without an rng is then deterministic, as the reference's
evaluation with noise_mode="const".
"""

from collections.abc import Sequence
import math
import zlib

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models import stylegan2_ops as ops

SUPPORTED_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
ARCHITECTURES = ("orig", "skip", "resnet")
NOISE_MODES = ("random", "const", "none")


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """The reference's channels per resolution, min(channel_base // res, channel_max)."""
    return min(channel_base // resolution, channel_max)


def _check_shape(sample_shape: Sequence[int], model: str) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in sample_shape)
    if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in SUPPORTED_SIZES:
        raise ValueError(f"{model} needs square (H, W, C) images with H one of "
                         f"{', '.join(map(str, SUPPORTED_SIZES))}, got sample "
                         f"shape {shape}. Set --config.data.image_size.")
    return shape


def _check_architecture(architecture: str):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown StyleGAN2 architecture {architecture!r}. "
                         f"Valid: {', '.join(ARCHITECTURES)}.")


def _one_hot(labels, num_classes: int):
    """The reference's c (one-hot rows) from our int labels; None if unconditional."""
    labels = layers.class_labels(labels, num_classes)
    return None if labels is None else jax.nn.one_hot(labels, num_classes)


def _normal_init(scale: float = 1.0):
    """N(0, scale^2): the stored weights of the equalised learning rate."""
    def init(key, shape, dtype=jnp.float32):
        return scale * jax.random.normal(key, shape, dtype)
    return init


class FullyConnected(nn.Module):
    """`act(x @ (W * lr / sqrt(in)) + b * lr)`: the reference's FullyConnectedLayer.

    W is stored as N(0, 1) / lr (`kernel`, `(in, out)`), b at `bias_init`.
    Computes in float32.
    """

    features: int
    activation: str = "linear"
    lr_multiplier: float = 1.0
    bias_init: float = 0.0
    use_bias: bool = True

    @nn.compact
    def __call__(self, x):
        x = jnp.asarray(x, jnp.float32)
        kernel = self.param("kernel", _normal_init(1.0 / self.lr_multiplier),
                            (x.shape[-1], self.features), jnp.float32)
        y = x @ (kernel * (self.lr_multiplier / math.sqrt(x.shape[-1])))
        bias = None
        if self.use_bias:
            bias = self.param("bias", nn.initializers.constant(self.bias_init),
                              (self.features,), jnp.float32) * self.lr_multiplier
        return ops.bias_act(y, bias, activation=self.activation)


class Conv2dLayer(nn.Module):
    """The reference's Conv2dLayer: conv (kernel N(0, 1) times 1/sqrt(in k^2),
    optional 2x up- or downsampling), bias, activation, times `gain` (lrelu:
    times sqrt(2) too), clamped to +-conv_clamp * gain."""

    features: int
    kernel_size: int
    activation: str = "lrelu"
    up: int = 1
    down: int = 1
    use_bias: bool = True
    conv_clamp: float | None = None
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, gain: float = 1.0):
        k = self.kernel_size
        kernel = self.param("kernel", _normal_init(),
                            (k, k, x.shape[-1], self.features), jnp.float32)
        kernel = kernel * (1.0 / math.sqrt(x.shape[-1] * k * k))
        x = jnp.asarray(x, self.dtype)
        y = ops.conv2d_resample(x, kernel.astype(self.dtype), up=self.up, down=self.down)
        bias = (self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
                if self.use_bias else None)
        default_gain = ops.LRELU_GAIN if self.activation == "lrelu" else 1.0
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.bias_act(y, bias, activation=self.activation,
                            gain=default_gain * gain, clamp=clamp)


class MappingNetwork(nn.Module):
    """z (and labels) -> w: the reference's MappingNetwork.

    x = normalize_2nd_moment(z), joined (after z) by normalize_2nd_moment(
    embed(one_hot(labels))) when conditional (embed: FC to `embed_features`,
    None = w_dim); then `num_layers` FC lrelu layers at `lr_multiplier`. With
    `w_avg_beta`, `w_avg` (batch_stats) tracks the batch mean of w:
    w_avg <- beta * w_avg + (1 - beta) * mean_b(w), with `train=True` and
    `update_w_avg`. With `num_ws`, w is broadcast to `(B, num_ws, w_dim)`, and
    truncation gives w_avg + psi (w - w_avg) to the first `truncation_cutoff`
    (None = all) ws. `z_dim=0` maps labels alone (the conditional
    discriminator's cmap).
    """

    z_dim: int
    num_classes: int
    w_dim: int
    num_ws: int | None
    num_layers: int = 8
    embed_features: int | None = None
    layer_features: int | None = None
    lr_multiplier: float = 0.01
    w_avg_beta: float | None = 0.995

    @nn.compact
    def __call__(self, z, c=None, *, train: bool = False, truncation_psi=1.0,
                 truncation_cutoff: int | None = None, update_w_avg: bool = True):
        parts = []
        if self.z_dim:
            parts.append(ops.normalize_2nd_moment(jnp.asarray(z, jnp.float32)))
        if self.num_classes:
            embed = FullyConnected(self.embed_features or self.w_dim, name="embed")
            parts.append(ops.normalize_2nd_moment(embed(c)))
        x = jnp.concatenate(parts, axis=-1)
        for index in range(self.num_layers):
            last = index == self.num_layers - 1
            features = self.w_dim if last else (self.layer_features or self.w_dim)
            x = FullyConnected(features, activation="lrelu",
                               lr_multiplier=self.lr_multiplier, name=f"fc{index}")(x)

        tracked = self.num_ws is not None and self.w_avg_beta is not None
        if tracked:
            w_avg = self.variable("batch_stats", "w_avg", jnp.zeros, (self.w_dim,),
                                  jnp.float32)
            if (train and update_w_avg and not self.is_initializing()
                    and self.is_mutable_collection("batch_stats")):
                batch_mean = jnp.mean(jax.lax.stop_gradient(x), axis=0)
                w_avg.value = batch_mean + self.w_avg_beta * (w_avg.value - batch_mean)
        if self.num_ws is None:
            return x
        x = jnp.broadcast_to(x[:, None, :], (x.shape[0], self.num_ws, x.shape[-1]))
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            if not tracked:
                raise ValueError("Truncation needs the tracked w_avg (w_avg_beta).")
            truncated = w_avg.value + truncation_psi * (x - w_avg.value)
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            keep = jnp.arange(self.num_ws)[None, :, None] < cutoff
            x = jnp.where(keep, truncated, x)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optional 2x upsampling), noise, bias, lrelu * sqrt(2)
    * gain, clamp: the reference's SynthesisLayer.

    styles = affine(w) (FC to the input channels, bias_init 1); the modulated,
    demodulated convolution (`ops.modulated_conv2d`); noise (one map per
    sample, broadcast over channels) times the learned `noise_strength`
    (init 0).
    """

    features: int
    resolution: int
    up: int = 1
    kernel_size: int = 3
    conv_clamp: float | None = None
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, w, noise_mode: str, gain: float = 1.0):
        in_channels = x.shape[-1]
        styles = FullyConnected(in_channels, bias_init=1.0, name="affine")(w)
        k = self.kernel_size
        kernel = self.param("kernel", _normal_init(), (k, k, in_channels, self.features),
                            jnp.float32)
        strength = self.param("noise_strength", nn.initializers.zeros, (), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)

        x = ops.modulated_conv2d(jnp.asarray(x, self.dtype), kernel, styles, up=self.up)
        shape = (self.resolution, self.resolution, 1)
        if noise_mode == "random":
            noise = jax.random.normal(self.make_rng("noise"), (x.shape[0], *shape))
            x = x + (noise * strength).astype(self.dtype)
        elif noise_mode == "const":
            noise = const_noise(f"b{self.resolution}/{self.name}", shape)
            x = x + (noise * strength).astype(self.dtype)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.bias_act(x, bias, activation="lrelu", gain=ops.LRELU_GAIN * gain,
                            clamp=clamp)


def const_noise(layer: str, shape) -> jax.Array:
    """The fixed N(0, 1) noise of synthesis layer `layer` ("b8/conv0") for
    noise_mode="const": drawn from the threefry key crc32(layer) (whatever the
    default PRNG, and wherever the generator is nested), a constant of the
    program."""
    seed = zlib.crc32(layer.encode())
    key = jax.random.key(seed, impl="threefry2x32")
    return jax.random.normal(key, shape, jnp.float32)


class ToRGB(nn.Module):
    """1x1 modulated conv WITHOUT demodulation (styles times 1/sqrt(in)), bias,
    clamp: the reference's ToRGBLayer. Returns float32."""

    features: int
    conv_clamp: float | None = None
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, w):
        in_channels = x.shape[-1]
        styles = FullyConnected(in_channels, bias_init=1.0, name="affine")(w)
        styles = styles * (1.0 / math.sqrt(in_channels))
        kernel = self.param("kernel", _normal_init(), (1, 1, in_channels, self.features),
                            jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        x = ops.modulated_conv2d(jnp.asarray(x, self.dtype), kernel, styles,
                                 demodulate=False)
        return ops.bias_act(x, bias, clamp=self.conv_clamp).astype(jnp.float32)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network (the reference's SynthesisBlock).

    `ws` is `(B, num_conv + num_torgb, w_dim)`. At 4x4 the input is the learned
    constant `const` (N(0, 1)); elsewhere conv0 upsamples 2x. "skip" adds this
    block's ToRGB output to the upsampled image of the block below; "resnet"
    adds a 1x1 upsampling skip (no bias), both branches times sqrt(0.5).
    """

    features: int
    resolution: int
    img_channels: int
    is_last: bool
    architecture: str = "skip"
    conv_clamp: float | None = None
    dtype: jnp.dtype = jnp.float32

    @property
    def num_conv(self) -> int:
        return 1 if self.resolution == 4 else 2

    @property
    def num_torgb(self) -> int:
        return 1 if self.is_last or self.architecture == "skip" else 0

    @nn.compact
    def __call__(self, x, img, ws, noise_mode: str):
        layer = dict(resolution=self.resolution, conv_clamp=self.conv_clamp,
                     dtype=self.dtype)
        conv1 = SynthesisLayer(self.features, **layer, name="conv1")
        if self.resolution == 4:
            const = self.param("const", _normal_init(), (4, 4, self.features),
                               jnp.float32)
            x = jnp.broadcast_to(const.astype(self.dtype), (ws.shape[0], *const.shape))
            x = conv1(x, ws[:, 0], noise_mode)
        else:
            resnet = self.architecture == "resnet"
            gain = math.sqrt(0.5) if resnet else 1.0
            if resnet:
                y = Conv2dLayer(self.features, 1, activation="linear", up=2,
                                use_bias=False, dtype=self.dtype, name="skip")(x, gain=gain)
            x = SynthesisLayer(self.features, up=2, **layer, name="conv0")(
                x, ws[:, 0], noise_mode)
            x = conv1(x, ws[:, 1], noise_mode, gain=gain)
            if resnet:
                x = y + x

        if img is not None:
            img = ops.upsample2d(img)
        if self.num_torgb:
            y = ToRGB(self.img_channels, conv_clamp=self.conv_clamp, dtype=self.dtype,
                      name="torgb")(x, ws[:, self.num_conv])
            img = y if img is None else img + y
        return x, img


def num_ws(resolution: int) -> int:
    """How many ws the synthesis network reads, whatever the architecture: one
    per modulated conv, plus one for the last ToRGB (with "skip", every other
    ToRGB shares the next block's first w)."""
    return 2 * int(math.log2(resolution)) - 2


class SynthesisNetwork(nn.Module):
    """ws `(B, num_ws, w_dim)` -> float32 images `(B, res, res, img_channels)`:
    the blocks b4, b8, ..., b{res} (the reference's SynthesisNetwork). Block r
    reads ws[idx : idx + num_conv + num_torgb] and advances idx by num_conv."""

    resolution: int
    img_channels: int
    channel_base: int = 32768
    channel_max: int = 512
    architecture: str = "skip"
    conv_clamp: float | None = 256.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, ws, noise_mode: str):
        x = img = None
        index = 0
        resolution = 4
        while resolution <= self.resolution:
            block = SynthesisBlock(
                channels_at(resolution, self.channel_base, self.channel_max),
                resolution, self.img_channels, is_last=resolution == self.resolution,
                architecture=self.architecture, conv_clamp=self.conv_clamp,
                dtype=self.dtype, name=f"b{resolution}")
            width = block.num_conv + block.num_torgb
            x, img = block(x, img, ws[:, index:index + width], noise_mode)
            index += block.num_conv
            resolution *= 2
        return img


class StyleGAN2Generator(nn.Module):
    """The StyleGAN2 generator (the reference's Generator): z -> images.

    Call: `(z, labels=None, train=False, *, truncation_psi=1.0,
    truncation_cutoff=None, noise_mode=None)` -> float32 `(B, *sample_shape)`,
    NHWC, unbounded (no tanh; about [-1, 1] once trained). Methods for the
    training loop (`apply(..., method=...)`):
        map_latents(z, labels=None, train=False, *, truncation_psi=1.0,
            truncation_cutoff=None, update_w_avg=True) -> ws `(B, num_ws, w_dim)`;
        synthesize(ws, train=False, *, noise_mode=None) -> images.

    Style mixing (Karras et al. 2019, Sec. 3.1): with `train=True` and
    `style_mixing_prob > 0`, as the reference's loss (`run_G`) does, a second
    z ~ N(0, I) is mapped (w_avg not updated) and, with probability
    `style_mixing_prob`, the ws from one cutoff uniform in [1, num_ws) on
    come from it; one cutoff per batch. Its randomness comes from the "noise"
    rng. 0 (the default) turns it off; the reference's configs use 0.9, and 0
    for cifar.

    Unconditional generators (`num_classes=0`) ignore `labels`; conditional
    ones embed `one_hot(labels)` and raise ValueError without them.
    """

    sample_shape: Sequence[int]
    z_dim: int = 512
    w_dim: int = 512
    num_classes: int = 0
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = 256.0
    style_mixing_prob: float = 0.0
    architecture: str = "skip"
    w_avg_beta: float = 0.995
    mapping_lr_multiplier: float = 0.01
    dtype: jnp.dtype = jnp.float32

    @property
    def num_ws(self) -> int:
        return num_ws(int(self.sample_shape[0]))

    def setup(self):
        height, _, channels = _check_shape(self.sample_shape, "StyleGAN2Generator")
        _check_architecture(self.architecture)
        self.synthesis = SynthesisNetwork(
            height, channels, channel_base=self.channel_base,
            channel_max=self.channel_max, architecture=self.architecture,
            conv_clamp=self.conv_clamp, dtype=self.dtype)
        self.mapping = MappingNetwork(
            self.z_dim, self.num_classes, self.w_dim, num_ws=self.num_ws,
            num_layers=self.mapping_layers, lr_multiplier=self.mapping_lr_multiplier,
            w_avg_beta=self.w_avg_beta)

    def map_latents(self, z, labels=None, train: bool = False, *, truncation_psi=1.0,
                    truncation_cutoff: int | None = None, update_w_avg: bool = True):
        """z `(B, z_dim)` -> ws `(B, num_ws, w_dim)`; moves w_avg when `train`
        (and `update_w_avg`, and `batch_stats` is mutable)."""
        return self.mapping(z, _one_hot(labels, self.num_classes), train=train,
                            truncation_psi=truncation_psi,
                            truncation_cutoff=truncation_cutoff,
                            update_w_avg=update_w_avg)

    def synthesize(self, ws, train: bool = False, *, noise_mode: str | None = None):
        """ws `(B, num_ws, w_dim)` -> float32 images `(B, H, W, C)`."""
        del train  # The synthesis network has no training-only behaviour.
        if noise_mode is None:
            noise_mode = "random" if self.has_rng("noise") else "const"
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"Unknown noise_mode {noise_mode!r}. Valid: "
                             f"{', '.join(NOISE_MODES)}.")
        if noise_mode == "random" and not self.has_rng("noise"):
            raise ValueError('noise_mode="random" draws from the "noise" rng: pass '
                             'rngs={"noise": key} to apply, or noise_mode="const".')
        return self.synthesis(jnp.asarray(ws, jnp.float32), noise_mode)

    def __call__(self, z, labels=None, train: bool = False, *, truncation_psi=1.0,
                 truncation_cutoff: int | None = None, noise_mode: str | None = None):
        ws = self.map_latents(z, labels, train, truncation_psi=truncation_psi,
                              truncation_cutoff=truncation_cutoff)
        if train and self.style_mixing_prob > 0:
            ws = self._mix_styles(z, labels, ws, truncation_psi, truncation_cutoff)
        return self.synthesize(ws, train, noise_mode=noise_mode)

    def _mix_styles(self, z, labels, ws, truncation_psi, truncation_cutoff):
        if not self.has_rng("noise"):
            raise ValueError(f"Style mixing (style_mixing_prob="
                             f"{self.style_mixing_prob}) draws from the \"noise\" "
                             'rng in training: pass rngs={"noise": key} to apply.')
        key_z, key_cutoff, key_coin = jax.random.split(self.make_rng("noise"), 3)
        other = self.map_latents(jax.random.normal(key_z, jnp.shape(z)), labels, True,
                                 truncation_psi=truncation_psi,
                                 truncation_cutoff=truncation_cutoff, update_w_avg=False)
        count = ws.shape[1]
        cutoff = jax.random.randint(key_cutoff, (), 1, count)
        cutoff = jnp.where(jax.random.uniform(key_coin) < self.style_mixing_prob,
                           cutoff, count)
        return jnp.where(jnp.arange(count)[None, :, None] < cutoff, ws, other)


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator (the reference's DiscriminatorBlock):
    [FromRGB 1x1 lrelu, at the top or with "skip"], conv0 3x3, conv1 3x3
    downsampling 2x; "resnet" adds a 1x1 downsampling skip without bias and
    scales both branches by sqrt(0.5); "skip" downsamples the image too."""

    tmp_channels: int
    out_channels: int
    first: bool
    architecture: str = "resnet"
    conv_clamp: float | None = 256.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, img):
        conv = dict(conv_clamp=self.conv_clamp, dtype=self.dtype)
        if self.first or self.architecture == "skip":
            y = Conv2dLayer(self.tmp_channels, 1, **conv, name="fromrgb")(img)
            x = y if x is None else x + y
            img = ops.downsample2d(img) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            half = math.sqrt(0.5)
            y = Conv2dLayer(self.out_channels, 1, activation="linear", down=2,
                            use_bias=False, dtype=self.dtype, name="skip")(x, gain=half)
            x = Conv2dLayer(self.tmp_channels, 3, **conv, name="conv0")(x)
            x = Conv2dLayer(self.out_channels, 3, down=2, **conv, name="conv1")(
                x, gain=half)
            return y + x, img
        x = Conv2dLayer(self.tmp_channels, 3, **conv, name="conv0")(x)
        x = Conv2dLayer(self.out_channels, 3, down=2, **conv, name="conv1")(x)
        return x, img


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 end of the discriminator (the reference's DiscriminatorEpilogue),
    in float32: [FromRGB with "skip"], minibatch stddev
    (`ops.minibatch_stddev`, `mbstd_num_channels=0` = off), conv 3x3, FC lrelu
    -> the features, FC -> `out_features`. Returns (features, out)."""

    channels: int
    out_features: int
    architecture: str = "resnet"
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    conv_clamp: float | None = 256.0

    @nn.compact
    def __call__(self, x, img):
        x = jnp.asarray(x, jnp.float32)
        if self.architecture == "skip":
            x = x + Conv2dLayer(self.channels, 1, name="fromrgb")(img)
        if self.mbstd_num_channels:
            x = ops.minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = Conv2dLayer(self.channels, 3, conv_clamp=self.conv_clamp, name="conv")(x)
        features = FullyConnected(self.channels, activation="lrelu", name="fc")(
            x.reshape(x.shape[0], -1))
        return features, FullyConnected(self.out_features, name="out")(features)


class StyleGAN2Discriminator(nn.Module):
    """The StyleGAN2 discriminator (the reference's Discriminator): images
    `(B, *sample_shape)` -> float32 logits `(B,)`.

    Blocks b{res}, ..., b8, then the epilogue b4. Conditional discriminators
    (`num_classes > 0`) map one_hot(labels) through a MappingNetwork
    (`mapping_layers` layers, lr multiplier 0.01, no w_avg) to cmap
    (`cmap_dim`, None = the 4x4 channels) and return sum(out * cmap) /
    sqrt(cmap_dim); they raise ValueError without labels. Sows the epilogue's
    per-sample features (the input of its last FC) as "features", and with
    `aux_outputs > 0` an auxiliary head on them (`layers.aux_head`).
    """

    sample_shape: Sequence[int]
    num_classes: int = 0
    channel_base: int = 32768
    channel_max: int = 512
    architecture: str = "resnet"
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    conv_clamp: float | None = 256.0
    mapping_layers: int = 8
    cmap_dim: int | None = None
    dtype: jnp.dtype = jnp.float32
    aux_outputs: int = 0

    def blocks_from_input(self) -> tuple[tuple[str, ...], ...]:
        """The parameter names of each block b{res}, ..., b8, from the input
        (FreezeD's blocks); the epilogue b4 and the label mapping are the head."""
        height = self.sample_shape[0]
        return tuple((f"b{height >> i}",) for i in range(int(math.log2(height // 4))))

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        height, _, _ = _check_shape(self.sample_shape, "StyleGAN2Discriminator")
        _check_architecture(self.architecture)
        layers.check_discriminator_options(aux_outputs=self.aux_outputs)
        c = _one_hot(labels, self.num_classes)
        img = jnp.asarray(x, self.dtype)
        h = None
        resolution = height
        while resolution > 4:
            h, img = DiscriminatorBlock(
                channels_at(resolution, self.channel_base, self.channel_max),
                channels_at(resolution // 2, self.channel_base, self.channel_max),
                first=resolution == height, architecture=self.architecture,
                conv_clamp=self.conv_clamp, dtype=self.dtype,
                name=f"b{resolution}")(h, img)
            resolution //= 2
        channels = channels_at(4, self.channel_base, self.channel_max)
        cmap_dim = (self.cmap_dim or channels) if self.num_classes else 0
        features, out = DiscriminatorEpilogue(
            channels, cmap_dim or 1, architecture=self.architecture,
            mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels,
            conv_clamp=self.conv_clamp, name="b4")(h, img)
        self.sow("intermediates", "features", features)
        layers.aux_head(self, features, self.aux_outputs, train=train)
        if not self.num_classes:
            return out[:, 0]
        cmap = MappingNetwork(0, self.num_classes, cmap_dim, num_ws=None,
                              num_layers=self.mapping_layers, w_avg_beta=None,
                              name="mapping")(None, c)
        return jnp.sum(out * cmap, axis=-1) / math.sqrt(cmap_dim)
