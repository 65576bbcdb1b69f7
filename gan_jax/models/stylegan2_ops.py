"""The pure operations of StyleGAN2 (Karras et al. 2020, "Analyzing and
Improving the Image Quality of StyleGAN"), written in plain JAX, NHWC.

They follow the definitions of the ADA paper's code (NVlabs/stylegan2-ada-pytorch,
torch_utils/ops and training/networks.py), which is the reference for every
padding, gain and flip below:

    upfirdn2d: upsample by zero insertion, pad (negative = crop), convolve with
        a 2-D FIR filter, downsample by keeping every `down`-th pixel.
    conv2d_resample: a convolution with 2x up- or downsampling through the
        [1, 3, 3, 1] filter, computed as the reference computes it (transposed
        stride-2 convolution then filter; filter then stride-2 convolution).
    modulated_conv2d: StyleGAN2's weight modulation and demodulation (Sec. 2.2).
    bias_act: bias, leaky ReLU with gain sqrt(2), clamp.
    normalize_2nd_moment, minibatch_stddev.

Kernels are HWIO (`(kh, kw, in, out)`); a stride-1 convolution is a
correlation with the kernel (PyTorch's `conv2d`, Flax's `nn.Conv`). Every
function computes in the dtype of its input `x`.
"""

import math

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

_NHWC = ("NHWC", "HWIO", "NHWC")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # Keeps the second moment of N(0, 1) inputs (He et al.).


def setup_filter(taps=(1, 3, 3, 1)) -> np.ndarray:
    """The 2-D FIR filter `outer(taps, taps) / sum`, unit DC gain.

    The reference's `setup_filter` makes this non-separable 4x4 filter for the
    binomial [1, 3, 3, 1] taps (it keeps filters of fewer than 8 taps 2-D).
    """
    taps = np.asarray(taps, np.float64)
    f = np.outer(taps, taps)
    return (f / f.sum()).astype(np.float32)


RESAMPLE_FILTER = setup_filter()


def _padding(padding) -> tuple[int, int]:
    if isinstance(padding, int):
        return padding, padding
    before, after = padding
    return int(before), int(after)


def upfirdn2d(x, f, *, up: int = 1, down: int = 1, padding=0, gain: float = 1.0):
    """Upsample, pad, FIR-filter and downsample every channel of NHWC `x`.

    For each channel, as the reference's `upfirdn2d`:
      1. insert `up - 1` zeros after every pixel (H -> H * up);
      2. pad `padding = (before, after)` zeros on each side (negative crops),
         the same for height and width (every use here is square);
      3. convolve (true convolution, the filter flipped) with `gain * f`,
         keeping only the outputs whose footprint lies inside the padded
         image (VALID);
      4. keep every `down`-th pixel, starting with the first.

    Output size: (H * up + before + after - len(f)) // down + 1.
    """
    before, after = _padding(padding)
    channels = x.shape[-1]
    zero = jnp.zeros((), x.dtype)
    # lax.pad's interior padding puts up - 1 zeros *between* pixels; the
    # reference also puts them after the last one, hence `after + up - 1`.
    spatial = (before, after + up - 1, up - 1)
    x = lax.pad(x, zero, [(0, 0, 0), spatial, spatial, (0, 0, 0)])
    # A convolution is the correlation with the flipped filter.
    kernel = jnp.asarray(f, jnp.float32)[::-1, ::-1] * gain
    kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, channels))
    return lax.conv_general_dilated(
        x, kernel.astype(x.dtype), window_strides=(down, down),
        padding="VALID", dimension_numbers=_NHWC, feature_group_count=channels)


def upsample2d(x, f=RESAMPLE_FILTER):
    """2x upsampling: zero insertion, then the filter with gain 4 (= up^2, so
    that a constant image keeps its value). The reference's `upsample2d`
    padding ((len(f) + 1) // 2, (len(f) - 2) // 2) keeps the output 2H."""
    taps = f.shape[0]
    return upfirdn2d(x, f, up=2, padding=((taps + 1) // 2, (taps - 2) // 2), gain=4.0)


def downsample2d(x, f=RESAMPLE_FILTER):
    """2x downsampling: the filter, then every other pixel; output H / 2."""
    taps = f.shape[0]
    return upfirdn2d(x, f, down=2, padding=((taps - 1) // 2, (taps - 2) // 2))


def _conv(x, kernel, *, stride: int = 1, padding=(0, 0)):
    return lax.conv_general_dilated(x, kernel, (stride, stride),
                                    [padding, padding], dimension_numbers=_NHWC)


def conv2d_resample(x, kernel, *, up: int = 1, down: int = 1, f=RESAMPLE_FILTER):
    """Convolution with an odd `(k, k, in, out)` kernel, padded to keep H
    (H * up / down out), with 2x resampling by the filter `f` as the reference's
    `conv2d_resample` computes it:

      up=2, k > 1: the stride-2 transposed convolution (zero insertion, then a
          true convolution with the kernel: the kernel runs flipped relative
          to the stride-1 correlation), then the filter with gain 4;
      up=2, k = 1: the 1x1 convolution, then `upsample2d`;
      down=2, k > 1: the filter (padded by 2 for k = 3), then the stride-2
          correlation;
      down=2, k = 1: `downsample2d`, then the 1x1 convolution;
      otherwise the correlation with "same" padding k // 2.
    """
    k = kernel.shape[0]
    taps = f.shape[0]
    pad = k // 2
    if up not in (1, 2) or down not in (1, 2) or (up == 2 and down == 2):
        raise ValueError(f"conv2d_resample supports up=2 or down=2, got up={up}, "
                         f"down={down}.")
    if up == 2:
        if k == 1:
            return upsample2d(_conv(x, kernel), f)
        # The reference's padding of the filter step: its padding with respect
        # to the upsampled image, less what the transposed convolution added.
        before = pad + (taps + 1) // 2 - (k - 1)
        after = pad + (taps - 2) // 2 - (k - 2)
        # conv_transpose2d(x, w, stride 2): y[o] = sum_{o = 2i + j} x[i] w[j],
        # the correlation of the zero-inserted, (k-1)-padded x with flipped w.
        y = lax.conv_general_dilated(
            x, kernel[::-1, ::-1], (1, 1), [(k - 1, k - 1)] * 2, lhs_dilation=(2, 2),
            dimension_numbers=_NHWC)
        return upfirdn2d(y, f, padding=(before, after), gain=4.0)
    if down == 2:
        if k == 1:
            return _conv(downsample2d(x, f), kernel)
        before = pad + (taps - 1) // 2
        after = pad + (taps - 2) // 2
        return _conv(upfirdn2d(x, f, padding=(before, after)), kernel, stride=2)
    return _conv(x, kernel, padding=(pad, pad))


def modulated_conv2d(x, kernel, styles, *, demodulate: bool = True, up: int = 1,
                     f=RESAMPLE_FILTER):
    """StyleGAN2's modulated convolution (Karras et al. 2020, Sec. 2.2, eqs. 1-3).

    Per sample b the kernel w (`(k, k, in, out)`, float32) becomes
        w'_{b,ijk,o} = s_{b,i} w_{ijk,o},                                (1)
    and, with `demodulate`,
        w''_{b,ijk,o} = w'_{b,ijk,o} / sqrt(sum_{i,j,k} w'^2_{b,ijk,o} + 1e-8). (3)

    Computed as the reference's `fused_modconv=False` path: scale the input
    channels by s, one ordinary convolution with the shared kernel for the
    whole batch, then scale the output channels by the demodulation
    coefficients. By linearity this is the per-sample convolution with w''
    exactly; it is chosen over a grouped convolution (feature_group_count =
    batch) because a convolution with one shared kernel is the fastest and
    best-supported form on every XLA backend, in both passes, and its cost does
    not grow with a per-sample kernel. The coefficients are computed in float32
    from the float32 kernel and styles; the convolution runs in `x.dtype`.
    The bfloat16 range makes the reference's float16 pre-normalisation
    unnecessary. `styles` is `(batch, in)`.
    """
    dtype = x.dtype
    x = x * styles.astype(dtype)[:, None, None, :]
    y = conv2d_resample(x, kernel.astype(dtype), up=up, f=f)
    if demodulate:
        y = y * demodulation(kernel, styles).astype(dtype)[:, None, None, :]
    return y


def demodulation(kernel, styles):
    """rsqrt(sum_{i,j,k} (s_{b,i} w_{ijk,o})^2 + 1e-8), `(batch, out)`, float32."""
    kernel = kernel.astype(jnp.float32)
    styles = styles.astype(jnp.float32)
    squares = jnp.sum(jnp.square(kernel), axis=(0, 1))  # (in, out)
    return lax.rsqrt(jnp.square(styles) @ squares + 1e-8)


def bias_act(x, bias=None, *, activation: str = "linear", gain: float | None = None,
             clamp: float | None = None):
    """The reference's `bias_act`: x + b, then the activation, times `gain`
    (default sqrt(2) for "lrelu" (slope 0.2), 1 for "linear"), then clipped to
    [-clamp, clamp] when `clamp` is not None."""
    if bias is not None:
        x = x + bias.astype(x.dtype)
    if activation == "lrelu":
        x = jnp.where(x >= 0, x, LRELU_SLOPE * x)
        default_gain = LRELU_GAIN
    elif activation == "linear":
        default_gain = 1.0
    else:
        raise ValueError(f"Unknown activation {activation!r}: use 'lrelu' or 'linear'.")
    gain = default_gain if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = jnp.clip(x, -clamp, clamp)
    return x


def normalize_2nd_moment(x, axis: int = -1, eps: float = 1e-8):
    """x / sqrt(mean(x^2) + eps) over `axis`: the StyleGAN mapping's input
    normalisation (Karras et al. 2019, "pixel norm" of z)."""
    return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)


def minibatch_stddev(x, group_size: int | None, num_channels: int = 1):
    """The minibatch standard-deviation layer of stylegan2-ada (`MinibatchStdLayer`).

    With G = min(group_size, N) (None = N) the batch splits into N / G groups,
    sample i in group i mod (N / G); the C channels split into F =
    `num_channels` contiguous blocks of C / F. For group n and block f,

        s_{n,f} = mean over (h, w, c in block f) of sqrt(Var_g[x] + 1e-8),

    the (biased) variance over the G samples of the group. Each sample gets F
    constant maps s_{n,.} of its own group appended as channels:
    `(N, H, W, C)` -> `(N, H, W, C + F)`. With F = 1 this is ProGAN's layer
    (`layers.MinibatchStdDev`) on feature maps; for F > 1 the statistic is
    averaged per channel block instead of over all channels.
    Computed in float32 and cast back to `x.dtype`.
    """
    n, h, w, c = x.shape
    group = n if group_size is None else min(group_size, n)
    if n % group:
        raise ValueError(f"The minibatch standard deviation splits the batch into "
                         f"groups of {group}, but the batch size {n} is not "
                         f"divisible by it. Set mbstd_group_size to a divisor of "
                         f"every batch size the discriminator sees.")
    if c % num_channels:
        raise ValueError(f"mbstd_num_channels={num_channels} must divide the "
                         f"{c} channels of the discriminator's 4x4 features.")
    y = x.astype(jnp.float32).reshape(group, n // group, h, w, num_channels,
                                      c // num_channels)
    y = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)        # (n/G, H, W, F, c/F)
    y = jnp.mean(y, axis=(1, 2, 4))                  # (n/G, F)
    y = jnp.tile(y, (group, 1))                      # Sample i gets row i mod n/G.
    y = jnp.broadcast_to(y[:, None, None, :], (n, h, w, num_channels))
    return jnp.concatenate([x, y.astype(x.dtype)], axis=-1)
