"""PacGAN packing (Lin et al. 2018, "PacGAN: The power of two samples in
generative adversarial networks").

The discriminator judges `m` samples at once: a packed input is `m` samples
of one class (all real or all fake) concatenated along the last axis. A
generator that drops modes produces packs with visibly too little variety, so
packing penalises mode collapse.
"""

import jax


def packed_shape(sample_shape, pack: int) -> tuple[int, ...]:
    """The discriminator's input shape: `(..., m * C)` for samples `(..., C)`."""
    return (*sample_shape[:-1], sample_shape[-1] * pack)


def pack_samples(x: jax.Array, pack: int) -> jax.Array:
    """`(B, ..., C) -> (B / m, ..., m * C)`; samples `m i .. m i + m - 1` form pack i."""
    if pack == 1:
        return x
    batch = x.shape[0]
    if batch % pack:
        raise ValueError(f"tricks.pack={pack} must divide the batch size {batch}; "
                         "set --config.data.batch_size to a multiple of it.")
    grouped = x.reshape((batch // pack, pack, *x.shape[1:]))
    # Move the pack axis next to the channels, so pack members are interleaved
    # per position (channel c of member j is channel j * C + c).
    grouped = jax.numpy.moveaxis(grouped, 1, -2)
    return grouped.reshape((batch // pack, *x.shape[1:-1], pack * x.shape[-1]))
