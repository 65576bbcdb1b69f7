"""The resizes of FID's Inception input: how an image becomes 299x299.

FID is defined on the 2048-d pool features of Inception-v3 at 299x299, so
every smaller (or larger) image is resized first, and the resize changes the
score by whole points: Parmar et al. 2022 ("On Aliased Resizing and
Surprising Subtleties in GAN Evaluation", CVPR; the clean-fid library) measure
CIFAR-10 FIDs that move by 1-8 points between common resizes. A FID number
is only comparable with another made with the same resize (and the same
reference statistics), so every evaluation records which one it used.

    pytorch_fid  bilinear interpolation without antialiasing, half-pixel
                 sample positions (mseitzer/pytorch-fid's
                 `F.interpolate(mode="bilinear", align_corners=False)`): what
                 this project has always used, comparable with pytorch-fid.
    clean        clean-fid's resize: PIL's bicubic filter (Keys 1981, a = -0.5)
                 on float32 ('F' mode) single channels, antialiased when
                 downscaling, then clipped to the input range (clean-fid's
                 `make_resizer("PIL", False, "bicubic", (299, 299))` clips to
                 [0, 255]; here images are in [-1, 1]).

Both run on the device (`jax.image.resize`), without PIL. Images are
`(B, H, W, C)` float32 in [-1, 1]; both resizes are linear with weights that
sum to one, so they commute with the affine map from [0, 255] to [-1, 1], and
the clip to [-1, 1] is clean-fid's clip to [0, 255] under that map.
"""

import jax
import jax.numpy as jnp

PYTORCH_FID = "pytorch_fid"
CLEAN = "clean"
# `eval.fid_resize`'s values, the default first.
RESIZES = (PYTORCH_FID, CLEAN)


def pytorch_fid_resize(images: jax.Array, size: int) -> jax.Array:
    """pytorch-fid's bilinear resize to `size` x `size`, without antialiasing.

    Output pixel `i` samples the input at `s = (i + 1/2) * H / size - 1/2`,
    `out_i = (1 - f) x_floor(s) + f x_(floor(s)+1)` with `f = s - floor(s)`,
    the positions clamped to the image (PyTorch's `align_corners=False`);
    separably along height and width. Downscaling skips input pixels
    (aliasing), as pytorch-fid does.

    Args:
      images: `(B, H, W, C)` images.
      size: the output height and width.

    Returns:
      `(B, size, size, C)` float32 images.
    """
    x = jnp.asarray(images, jnp.float32)
    return jax.image.resize(x, (x.shape[0], size, size, x.shape[-1]),
                            method="bilinear", antialias=False)


def clean_resize(images: jax.Array, size: int, *, low: float = -1.0,
                 high: float = 1.0) -> jax.Array:
    """clean-fid's resize (Parmar et al. 2022): PIL-bicubic, antialiased, clipped.

    Separably along height and width, output pixel `i` is
    `out_i = sum_j k((j - s_i) / r) x_j / sum_j k((j - s_i) / r)` over the
    input pixels `j` of the image, with `s_i = (i + 1/2) H / size - 1/2`,
    `r = max(H / size, 1)` (the kernel is stretched only when downscaling:
    the antialiasing filter) and Keys' cubic kernel with a = -0.5,
    `k(x) = 1.5|x|^3 - 2.5|x|^2 + 1` for |x| < 1,
    `-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2` for 1 <= |x| < 2, 0 beyond. This is
    PIL's `Image.resize(resample=Image.BICUBIC)` on a float32 ('F') image,
    including its edges (the kernel truncated at the border and renormalised
    by its sum), computed in float32 where PIL accumulates in double: see
    tests/test_fid_resize.py for the difference, measured and bounded. The
    result is clipped to `[low, high]`, as clean-fid clips to [0, 255] (the
    cubic kernel's negative lobes overshoot at edges).

    Args:
      images: `(B, H, W, C)` images with values in `[low, high]`.
      size: the output height and width.
      low, high: the range the result is clipped to.

    Returns:
      `(B, size, size, C)` float32 images.
    """
    x = jnp.asarray(images, jnp.float32)
    resized = jax.image.resize(x, (x.shape[0], size, size, x.shape[-1]),
                               method="bicubic", antialias=True)
    return jnp.clip(resized, jnp.float32(low), jnp.float32(high))


def resize(images: jax.Array, size: int, method: str) -> jax.Array:
    """`images` resized to `size` x `size` by `method` (one of RESIZES)."""
    if method == PYTORCH_FID:
        return pytorch_fid_resize(images, size)
    if method == CLEAN:
        return clean_resize(images, size)
    raise ValueError(f"Unknown FID resize {method!r}. Valid: {', '.join(RESIZES)}. "
                     "Set --config.eval.fid_resize to one of them.")
