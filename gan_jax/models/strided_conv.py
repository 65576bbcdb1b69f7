"""DCGAN's 4x4 stride-2 convolution pair, computed the fastest way per backend.

Down: PyTorch's `Conv2d(k=4, s=2, p=1)`, `lax.conv_general_dilated(x, K,
(2, 2), ((1, 1), (1, 1)))`. Up: PyTorch's `ConvTranspose2d(k=4, s=2, p=1)`,
`lax.conv_transpose(x, K, (2, 2), ((2, 2), (2, 2)))`. Kernels are HWIO
`(4, 4, in, out)`. Every implementation gives the same values and gradients
(to float32 summation order); they differ only in speed.

On XLA:CPU JAX's own gradients of these layers are slow: forward plus
gradients of the transposed convolution take 10-30x its forward pass, and
XLA runs the transposed convolution's forward pass itself as a convolution
of the zero-dilated input (4x the multiply-adds). Only two pieces are fast
there: the strided convolution C_K's forward pass and XLA's gradient of C_K
with respect to its kernel. Everything else is rewritten in terms of stride-1
convolutions (`benchmarks/strided_conv.py` times each layer; the training
programs also keep the convolutions out of XLA's library fusions,
`gan_jax/run/compile_options.py`):

  space-to-depth turns C_K into a 2x2 stride-1 convolution of the padded
  input's 2x2 blocks, so C_K^T (its input gradient) is the adjoint of that
  stride-1 convolution, one stride-1 convolution of the padded cotangent with
  the flipped, transposed blocks kernel, and depth-to-space back to pixels;
  for small cotangents (up to 8x8), four 2x2 stride-1 convolutions instead,
  one per output phase, which skip the blocks form's extra border products.
  the transposed convolution T_K is the adjoint of the strided convolution
  C_K' (K' = K flipped in space, in and out swapped): `<T_K(x), dy> =
  <x, C_K'(dy)>`. So T_K(x) = C_K'^T(x) (the stride-1 convolution above),
  `dx = C_K'(dy)` (a forward strided convolution) and the kernel gradient is
  C's kernel gradient at input dy and cotangent x.

Implementations (`auto` = s2d_vjp / s2d on CPU, the standard ones elsewhere,
where cuDNN and the TPU compiler handle these layers natively):
  down: conv (standard), s2d_vjp (XLA's forward, the custom VJP above),
    matmul_vjp (an earlier custom VJP: the same as matrix products of the
    im2col patches `P(x)`, `dW = P(x)^T @ dy`, `dx = P^T(dy @ W^T)`; the
    patches cost more memory traffic than the products).
  up: transpose (standard), s2d (T_K = C_K'^T with the custom VJP above),
    conv_vjp (XLA's forward, the custom VJP with matmul_vjp's kernel
    gradient), subpixel (a stride-1 3x3 convolution to 4x the channels, then
    depth-to-space, Shi et al. 2016; 2.25x the multiply-adds, ordinary
    convolutions only).
"""

import jax
import jax.numpy as jnp

UPSAMPLE_IMPLEMENTATIONS = ("auto", "transpose", "s2d", "conv_vjp", "subpixel")
DOWNSAMPLE_IMPLEMENTATIONS = ("auto", "conv", "s2d_vjp", "matmul_vjp")
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _resolve(implementation: str, valid: tuple[str, ...], cpu: str,
             standard: str, field: str) -> str:
    if implementation not in valid:
        raise ValueError(f"Unknown {field} implementation {implementation!r}. "
                         f"Valid: {', '.join(valid)}. Set --config.model.{field} "
                         "(auto is the fastest for the backend).")
    if implementation == "auto":
        return cpu if jax.default_backend() == "cpu" else standard
    return implementation


def resolve_upsample(implementation: str) -> str:
    return _resolve(implementation, UPSAMPLE_IMPLEMENTATIONS, "s2d", "transpose",
                    "upsample")


def resolve_downsample(implementation: str) -> str:
    return _resolve(implementation, DOWNSAMPLE_IMPLEMENTATIONS, "s2d_vjp", "conv",
                    "downsample")


# ----------------------------------------------------------------- down


def _strided_conv(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                        dimension_numbers=_DIMENSIONS)


def _space_to_depth(x):
    """`(B, 2H, 2W, C)` -> `(B, H, W, 4C)`, channels ordered (ry, rx, c)."""
    batch, height, width, channels = x.shape
    x = x.reshape(batch, height // 2, 2, width // 2, 2, channels)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(
        batch, height // 2, width // 2, 4 * channels)


def _depth_to_space(x):
    """`(B, H, W, 4C)` with channels ordered (ry, rx, c) -> `(B, 2H, 2W, C)`."""
    batch, height, width, channels = x.shape
    x = x.reshape(batch, height, width, 2, 2, channels // 4)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(
        batch, 2 * height, 2 * width, channels // 4)


_TAPS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (ty, tx) of the 2x2 convolution


def _patches(x):
    """`(B, H, W, C)` -> `(B, H/2, W/2, 16 C)`, channels (ty, tx, ry, rx, c):
    the input pixels under each output pixel of the strided convolution."""
    blocks = _space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    height, width = x.shape[1] // 2, x.shape[2] // 2
    return jnp.concatenate([blocks[:, ty:ty + height, tx:tx + width]
                            for ty, tx in _TAPS], axis=-1)


def _unpatch(columns, input_shape):
    """The adjoint of `_patches` (col2im): adds each patch back in place."""
    height, width = input_shape[1] // 2, input_shape[2] // 2
    pieces = jnp.split(columns, 4, axis=-1)
    blocks = sum(jnp.pad(piece, ((0, 0), (ty, 1 - ty), (tx, 1 - tx), (0, 0)))
                 for piece, (ty, tx) in zip(pieces, _TAPS))
    return _depth_to_space(blocks)[:, 1:-1, 1:-1]


def _kernel_matrix(kernel):
    """`(4, 4, I, O)` -> `(16 I, O)`, rows ordered as `_patches`' channels."""
    _, _, in_channels, out_channels = kernel.shape
    kernel = kernel.reshape(2, 2, 2, 2, in_channels, out_channels)  # ty ry tx rx
    return kernel.transpose(0, 2, 1, 3, 4, 5).reshape(16 * in_channels, out_channels)


def _kernel_from_matrix(matrix, in_channels):
    out_channels = matrix.shape[-1]
    kernel = matrix.reshape(2, 2, 2, 2, in_channels, out_channels)  # ty tx ry rx
    return kernel.transpose(0, 2, 1, 3, 4, 5).reshape(4, 4, in_channels, out_channels)


def _with_vjp(forward, backward):
    """`forward(x, kernel)` with the VJP `backward((x, kernel), dy)`."""
    function = jax.custom_vjp(forward)
    function.defvjp(lambda x, kernel: (forward(x, kernel), (x, kernel)), backward)
    return function


def _strided_conv_kernel_grad(x, dy):
    """d<C_K(x), dy>/dK as one matrix product of x's patches with dy."""
    matrix = jnp.einsum("bhwk,bhwo->ko", _patches(x), dy,
                        preferred_element_type=jnp.float32)
    return _kernel_from_matrix(matrix.astype(dy.dtype), x.shape[-1])


def _matmul_vjp_backward(residuals, dy):
    x, kernel = residuals
    d_columns = jnp.einsum("bhwo,ko->bhwk", dy, _kernel_matrix(kernel))
    return _unpatch(d_columns, x.shape), _strided_conv_kernel_grad(x, dy)


_strided_conv_with_matmul_vjp = _with_vjp(_strided_conv, _matmul_vjp_backward)


def _blocks_kernel(kernel):
    """`(4, 4, I, O)` -> `(2, 2, 4 I, O)`: the 2x2 stride-1 kernel that acts on
    `_space_to_depth` blocks as `kernel` acts at stride 2 on the pixels."""
    # `_kernel_matrix`'s rows are ordered (ty, tx, ry, rx, c): split off the taps.
    return _kernel_matrix(kernel).reshape(2, 2, -1, kernel.shape[-1])


def _strided_conv_adjoint_by_blocks(dy, kernel):
    """C_K^T(dy) as the adjoint of the 2x2 stride-1 convolution on the
    space-to-depth blocks of the padded input (a full correlation with the
    flipped, transposed blocks kernel), then blocks back to pixels and the
    padding cropped: one stride-1 convolution with the multiply-adds of C_K
    on (H + 1)(W + 1) rather than H W output blocks."""
    adjoint = jnp.flip(_blocks_kernel(kernel), (0, 1)).transpose(0, 1, 3, 2)
    blocks = jax.lax.conv_general_dilated(
        jnp.pad(dy, ((0, 0), (1, 1), (1, 1), (0, 0))), adjoint, (1, 1), "VALID",
        dimension_numbers=_DIMENSIONS)
    return _depth_to_space(blocks)[:, 1:-1, 1:-1]


def _strided_conv_adjoint_by_phases(dy, kernel):
    """C_K^T(dy) one output phase at a time. Along each axis, input pixel
    2m + r (r = 0, 1) of C_K(x) = y, `y[i] = sum_k x[2i + k - 1] K[k]`, feeds
    cotangent pixels m - 1 + r and m + r through taps 3 - r and 1 - r: so
    phase (ry, rx) is a 2x2 stride-1 convolution of dy, padded (1 - r, r),
    with those taps of K read in- and out-swapped ("HWOI"). Four convolutions
    with exactly C_K's multiply-adds, then interleaved."""
    phases = [[jax.lax.conv_general_dilated(
        dy, kernel[3 - ry::-2, 3 - rx::-2], (1, 1), ((1 - ry, ry), (1 - rx, rx)),
        dimension_numbers=("NHWC", "HWOI", "NHWC")) for rx in (0, 1)]
        for ry in (0, 1)]
    interleaved = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2)
    batch, height, _, width, _, channels = interleaved.shape  # (B, H, ry, W, rx, C)
    return interleaved.reshape(batch, 2 * height, 2 * width, channels)


# The blocks form computes (H + 1)(W + 1) / (H W) times the needed products:
# 1.56x at 4x4, 1.27x at 8x8, 1.13x at 16x16. Up to 8x8 the four phase
# convolutions win, above it the one bigger convolution does: a
# dcgan64_reference step ran 1.07x faster this way than with blocks at every
# size, and 1.04x faster than with phases at every size
# (`benchmarks/step_variants.py`, benchmarks/README.md).
LARGEST_COTANGENT_BY_PHASES = 8 * 8


def _strided_conv_adjoint(dy, kernel):
    """C_K^T(dy), `(B, H, W, O)` -> `(B, 2H, 2W, I)`: the strided convolution's
    input gradient, as stride-1 convolutions only."""
    if dy.shape[1] * dy.shape[2] <= LARGEST_COTANGENT_BY_PHASES:
        return _strided_conv_adjoint_by_phases(dy, kernel)
    return _strided_conv_adjoint_by_blocks(dy, kernel)


def _strided_conv_kernel_grad_by_xla(x, dy):
    """d<C_K(x), dy>/dK as XLA differentiates the strided convolution: its
    kernel gradient (unlike its input gradient) runs fast on XLA:CPU."""
    kernel = jax.ShapeDtypeStruct((4, 4, x.shape[-1], dy.shape[-1]), dy.dtype)
    return jax.linear_transpose(lambda k: _strided_conv(x, k), kernel)(dy)[0]


def _materialized(kernel_grad):
    """The kernel gradient computed once, in its final layout. Without the
    barrier XLA fuses the re-layout of the convolution's (I, 4, 4, O) result
    into every optimizer update that reads it, each a strided gather."""
    return jax.lax.optimization_barrier(kernel_grad)


def _s2d_vjp_backward(residuals, dy):
    x, kernel = residuals
    return (_strided_conv_adjoint(dy, kernel),
            _materialized(_strided_conv_kernel_grad_by_xla(x, dy)))


_strided_conv_with_s2d_vjp = _with_vjp(_strided_conv, _s2d_vjp_backward)


def halving_conv(x: jax.Array, kernel: jax.Array,
                 implementation: str = "auto") -> jax.Array:
    """`(B, H, W, I)`, `(4, 4, I, O)` -> `(B, H/2, W/2, O)`; H and W even."""
    implementation = resolve_downsample(implementation)
    if implementation == "conv" or x.shape[1] % 2 or x.shape[2] % 2:
        return _strided_conv(x, kernel)
    if implementation == "s2d_vjp":
        return _strided_conv_with_s2d_vjp(x, kernel)
    return _strided_conv_with_matmul_vjp(x, kernel)


def flax_conv_general_dilated(implementation: str = "auto"):
    """A drop-in `lax.conv_general_dilated` for `nn.Conv(conv_general_dilated=)`
    that computes the 4x4 stride-2 padding-1 convolution with
    `halving_conv(implementation)` and any other convolution as lax does, so
    the layer keeps its parameters and names."""
    resolve_downsample(implementation)

    def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                             rhs_dilation=None, dimension_numbers=None,
                             feature_group_count=1, precision=None, **kwargs):
        standard = dict(lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                        dimension_numbers=dimension_numbers,
                        feature_group_count=feature_group_count,
                        precision=precision, **kwargs)
        is_halving = (
            tuple(window_strides) == (2, 2) and rhs.shape[:2] == (4, 4)
            and not isinstance(padding, str)
            and tuple(map(tuple, padding)) == ((1, 1), (1, 1))
            and all(d == 1 for d in (lhs_dilation or ()) + (rhs_dilation or ()))
            and feature_group_count == 1 and precision is None and not kwargs
            and jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _DIMENSIONS)
            == jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape,
                                              dimension_numbers))
        if is_halving:
            return halving_conv(lhs, rhs, implementation)
        return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding,
                                            **standard)

    return conv_general_dilated


# ------------------------------------------------------------------- up


def _transpose(x, kernel):
    return jax.lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                                  dimension_numbers=_DIMENSIONS)


def _adjoint_kernel(kernel):
    """K -> K' (flip both spatial axes, swap in and out); its own inverse."""
    return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


def _conv_vjp_backward(residuals, dy):
    x, kernel = residuals
    dx = _strided_conv(dy, _adjoint_kernel(kernel))
    return dx, _adjoint_kernel(_strided_conv_kernel_grad(dy, x))


_transpose_with_conv_vjp = _with_vjp(_transpose, _conv_vjp_backward)


def _transpose_as_adjoint(x, kernel):
    """T_K(x) = C_K'^T(x): one stride-1 convolution to blocks, then depth-to-space."""
    return _strided_conv_adjoint(x, _adjoint_kernel(kernel))


def _s2d_backward(residuals, dy):
    x, kernel = residuals
    dx = _strided_conv(dy, _adjoint_kernel(kernel))
    return dx, _materialized(_adjoint_kernel(_strided_conv_kernel_grad_by_xla(dy, x)))


_transpose_as_adjoint_with_vjp = _with_vjp(_transpose_as_adjoint, _s2d_backward)

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


def doubling_conv_transpose(x: jax.Array, kernel: jax.Array,
                            implementation: str = "auto") -> jax.Array:
    """`(B, H, W, I)`, `(4, 4, I, O)` -> `(B, 2H, 2W, O)`."""
    implementation = resolve_upsample(implementation)
    if implementation == "transpose":
        return _transpose(x, kernel)
    if implementation == "s2d":
        return _transpose_as_adjoint_with_vjp(x, kernel)
    if implementation == "conv_vjp":
        return _transpose_with_conv_vjp(x, kernel)
    return _depth_to_space(jax.lax.conv_general_dilated(
        x, _subpixel_kernel(kernel), (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=_DIMENSIONS))
