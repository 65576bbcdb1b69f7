"""Progressive GAN's networks (Karras et al. 2018, "Progressive Growing of GANs
for Improved Quality, Stability, and Variation", ICLR), after the official
code (tkarras/progressive_growing_of_gans, networks.py, G_paper / D_paper).

Generator: z normalised by its second moment, a fully connected layer to a
4x4 map, a 3x3 convolution; then per resolution 8, 16, ... a block of nearest
2x upsampling and two 3x3 convolutions; leaky ReLU (0.2) and pixel norm after
every layer; a linear 1x1 "to_rgb" per resolution. Discriminator: a 1x1
"from_rgb" per resolution, per resolution down to 8 a block of two 3x3
convolutions and 2x2 average pooling, then at 4x4 the minibatch standard
deviation (`layers.MinibatchStdDev`, groups of `d_minibatch_stddev_group`),
a 3x3 convolution, a fully connected layer (its output sown as "features")
and the linear output. Every layer has the equalised learning rate: the
StyleGAN2 layers of `gan_jax.models.stylegan2` (weights stored N(0, 1),
scaled by 1/sqrt(fan_in) at run time, lrelu outputs times sqrt(2)).

Growing. Both networks always see and make images of the full size R (the
data's): a network at stage `resolution` r makes its r x r image and
upsamples it to R by repeating pixels (nearest), and reads its input's r x r
average (2x2 box filter, repeatedly), as the official code does (its
`upscale2d` / `downscale2d`), so the state's shapes, the penalties and the
evaluation never change with the stage. `resolution` is a static field (each
stage is its own compiled program); `alpha` in [0, 1], an argument of the
call that may be traced, fades the newest block in (Sec. 2, Fig. 2):

    G: x_r = (1 - alpha) * up2(to_rgb_{r/2}(h_{r/2})) + alpha * to_rgb_r(h_r)
    D: h_{r/2} = (1 - alpha) * from_rgb_{r/2}(down2(x_r))
                 + alpha * block_r(from_rgb_r(x_r))

written with both weights, not as the official `lerp(a, b, t) = a + (b - a) t`,
so that alpha = 1 gives the grown network and alpha = 0 the previous stage's
exactly. Layers exist for every resolution from `start_resolution` to R from
the first step (all are created at init), so a checkpoint has one layout.

Where this differs from the official code, on purpose:
  * The lrelu gain sqrt(2) is applied after the activation (StyleGAN2's
    `bias_act`, reused), where ProGAN scales the weight by it; since lrelu is
    positively homogeneous the two differ only in the bias's scale.
  * The first layer uses that gain too (ProGAN: sqrt(2) / 4); pixel norm
    follows it, which removes the scale of its output.
"""

from collections.abc import Sequence
import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers
from gan_jax.models import stylegan2
from gan_jax.models import stylegan2_ops as ops

SUPPORTED_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
FIRST_RESOLUTION = 4


def stage_resolutions(start_resolution: int, image_size: int) -> tuple[int, ...]:
    """The stages' resolutions: start_resolution, 2 start_resolution, ..., image_size."""
    return tuple(2 ** k for k in range(int(math.log2(start_resolution)),
                                       int(math.log2(image_size)) + 1))


def check_start_resolution(start_resolution: int, image_size: int) -> None:
    """Raises ValueError, naming the flag, unless the first stage is a power of
    two from 4 to the image size."""
    if (start_resolution < FIRST_RESOLUTION or start_resolution > image_size
            or start_resolution & (start_resolution - 1)):
        raise ValueError(
            f"--config.model.start_resolution={start_resolution}: the first stage "
            f"of progressive growing must be a power of two from "
            f"{FIRST_RESOLUTION} to the image size {image_size}, e.g. "
            f"--config.model.start_resolution={FIRST_RESOLUTION} (grow from 4x4) "
            f"or {image_size} (no growing).")


def downsample_box(x, factor: int):
    """The mean of each `factor` x `factor` block of NHWC `x` (repeated 2x2
    averaging, the official `downscale2d` and dataset_tool's lower levels)."""
    if factor == 1:
        return x
    n, h, w, c = x.shape
    return jnp.mean(x.reshape(n, h // factor, factor, w // factor, factor, c),
                    axis=(2, 4))


def upsample_nearest(x, factor: int):
    """Each pixel of NHWC `x` repeated `factor` x `factor` times (`upscale2d`)."""
    if factor == 1:
        return x
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def blend(previous, grown, alpha):
    """`(1 - alpha) * previous + alpha * grown`: exactly one of them at 0 and 1."""
    alpha = jnp.asarray(alpha, jnp.float32).astype(grown.dtype)
    return (1 - alpha) * previous + alpha * grown


def pixel_norm(x):
    """x / sqrt(mean_c(x^2) + 1e-8) over the channels of each pixel (Sec. 4.2)."""
    return ops.normalize_2nd_moment(x, axis=-1)


def _check(sample_shape: Sequence[int], start_resolution: int,
           resolution: int | None) -> tuple[int, int, int]:
    shape = layers.check_image_shape(sample_shape, SUPPORTED_SIZES, "progressive")
    check_start_resolution(start_resolution, shape[0])
    stage = resolution or shape[0]
    if stage not in stage_resolutions(start_resolution, shape[0]):
        raise ValueError(f"A progressive network's stage resolution {stage} is not "
                         f"one of its stages "
                         f"{stage_resolutions(start_resolution, shape[0])}.")
    return shape


class ProgressiveGenerator(nn.Module):
    """`generator(z, labels=None, train=False, *, alpha=1.0)` -> images
    `(B, *sample_shape)` at stage `resolution` (None: the full size)."""

    sample_shape: tuple[int, ...]
    channel_base: int
    channel_max: int
    start_resolution: int = FIRST_RESOLUTION
    resolution: int | None = None
    dtype: jnp.dtype = jnp.float32

    def _channels(self, res: int) -> int:
        return stylegan2.channels_at(res, self.channel_base, self.channel_max)

    def _conv(self, res: int, index: int):
        return stylegan2.Conv2dLayer(self._channels(res), 3, dtype=self.dtype,
                                     name=f"conv{index}_{res}")

    def _to_rgb(self, res: int):
        return stylegan2.Conv2dLayer(self.sample_shape[-1], 1, activation="linear",
                                     dtype=self.dtype, name=f"to_rgb_{res}")

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False, *, alpha=1.0):
        del labels, train  # Unconditional, no running statistics.
        size = _check(self.sample_shape, self.start_resolution, self.resolution)[0]
        stage = self.resolution or size
        fading = stage > self.start_resolution
        c = self._channels(FIRST_RESOLUTION)
        h = stylegan2.FullyConnected(16 * c, activation="lrelu", name="dense_4")(
            pixel_norm(jnp.asarray(z, jnp.float32)))
        h = pixel_norm(h.reshape(-1, FIRST_RESOLUTION, FIRST_RESOLUTION, c))
        h = pixel_norm(self._conv(FIRST_RESOLUTION, 1)(h))
        images = {}
        for res in stage_resolutions(FIRST_RESOLUTION, stage):
            if res > FIRST_RESOLUTION:
                h = upsample_nearest(h, 2)
                h = pixel_norm(self._conv(res, 0)(h))
                h = pixel_norm(self._conv(res, 1)(h))
            # Init creates every stage's to_rgb; a stage uses its own and,
            # while it fades in, the previous one's.
            needed = res == stage or (fading and res == stage // 2)
            if res >= self.start_resolution and (needed or self.is_initializing()):
                images[res] = self._to_rgb(res)(h)
        x = images[stage]
        if fading:
            x = blend(upsample_nearest(images[stage // 2], 2), x, alpha)
        return upsample_nearest(x, size // stage).astype(jnp.float32)


class ProgressiveDiscriminator(nn.Module):
    """`discriminator(x, labels=None, train=False, *, alpha=1.0)` -> logits
    `(B,)` for full-size images `x`, at stage `resolution` (None: the full
    size)."""

    sample_shape: tuple[int, ...]
    channel_base: int
    channel_max: int
    start_resolution: int = FIRST_RESOLUTION
    resolution: int | None = None
    minibatch_stddev_group: int = 0
    aux_outputs: int = 0
    dtype: jnp.dtype = jnp.float32

    def _channels(self, res: int) -> int:
        return stylegan2.channels_at(res, self.channel_base, self.channel_max)

    def _block(self, res: int, h):
        """Two 3x3 convolutions and 2x2 average pooling: res -> res / 2."""
        h = stylegan2.Conv2dLayer(self._channels(res), 3, dtype=self.dtype,
                                  name=f"conv0_{res}")(h)
        h = stylegan2.Conv2dLayer(self._channels(res // 2), 3, dtype=self.dtype,
                                  name=f"conv1_{res}")(h)
        return downsample_box(h, 2)

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False, *, alpha=1.0):
        del labels
        size = _check(self.sample_shape, self.start_resolution, self.resolution)[0]
        stage = self.resolution or size
        x = jnp.asarray(x, jnp.float32)
        from_rgb = {res: stylegan2.Conv2dLayer(self._channels(res), 1, dtype=self.dtype,
                                               name=f"from_rgb_{res}")
                    for res in stage_resolutions(self.start_resolution, size)}
        if self.is_initializing():  # Every stage's from_rgb, from the start.
            for res, layer in from_rgb.items():
                layer(downsample_box(x, size // res))
        x_stage = downsample_box(x, size // stage)
        h = from_rgb[stage](x_stage)
        for res in stage_resolutions(FIRST_RESOLUTION, stage)[:0:-1]:
            h = self._block(res, h)
            if res == stage and stage > self.start_resolution:
                previous = from_rgb[res // 2](downsample_box(x_stage, 2))
                h = blend(previous, h, alpha)
        if self.minibatch_stddev_group:
            h = layers.MinibatchStdDev(self.minibatch_stddev_group,
                                       name="minibatch_stddev")(h)
        c = self._channels(FIRST_RESOLUTION)
        h = stylegan2.Conv2dLayer(c, 3, dtype=self.dtype, name="conv_4")(h)
        h = h.astype(jnp.float32).reshape(h.shape[0], -1)
        features = stylegan2.FullyConnected(c, activation="lrelu", name="dense_4")(h)
        self.sow("intermediates", "features", features)
        layers.aux_head(self, features, self.aux_outputs, train=train)
        return stylegan2.FullyConnected(1, name="output")(features)[:, 0]
