"""Sub-pixel upsampling (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network",
eq. 4), SRGAN's upsampling layer.

    PS(T)[b, y, x, c] = T[b, y // r, x // r, c r^2 + (y mod r) r + (x mod r)]

i.e. PyTorch's `nn.PixelShuffle(r)` channel order, written for NHWC arrays.
"""

import jax


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
    """`(B, H, W, C r^2)` -> `(B, H r, W r, C)` with `r = factor`."""
    batch, height, width, channels = x.shape
    if factor < 1 or channels % (factor * factor):
        raise ValueError(f"pixel_shuffle by {factor} needs a channel count divisible "
                         f"by {factor}^2 = {factor * factor}, got {channels}.")
    out_channels = channels // (factor * factor)
    x = x.reshape(batch, height, width, out_channels, factor, factor)
    return x.transpose(0, 1, 4, 2, 5, 3).reshape(
        batch, height * factor, width * factor, out_channels)
