"""PacGAN packing (Lin et al. 2018, "PacGAN: The power of two samples in
generative adversarial networks").

The discriminator judges `m` samples at once: a packed input is `m` samples
of one class (all real or all fake) concatenated along the last axis. A
generator that drops modes produces packs with visibly too little variety, so
packing penalises mode collapse.
"""

import jax

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick


def packed_shape(sample_shape, pack: int) -> tuple[int, ...]:
    """The discriminator's input shape: `(..., m * C)` for samples `(..., C)`."""
    return (*sample_shape[:-1], sample_shape[-1] * pack)


def _divisor_below(batch: int, pack: int) -> int:
    """The largest pack size up to `pack` that divides `batch` (at worst 1):
    the valid value an error suggests."""
    return max(m for m in range(1, pack + 1) if batch % m == 0)


def pack_samples(x: jax.Array, pack: int) -> jax.Array:
    """`(B, ..., C) -> (B / m, ..., m * C)`; samples `m i .. m i + m - 1` form pack i."""
    if pack == 1:
        return x
    batch = x.shape[0]
    if batch % pack:
        raise ValueError(f"--config.tricks.pack={pack} must divide the batch size "
                         f"{batch}: set --config.tricks.pack to a divisor of it, "
                         f"e.g. {_divisor_below(batch, pack)}, or "
                         "--config.data.batch_size to a multiple of it.")
    grouped = x.reshape((batch // pack, pack, *x.shape[1:]))
    # Move the pack axis next to the channels, so pack members are interleaved
    # per position (channel c of member j is channel j * C + c).
    grouped = jax.numpy.moveaxis(grouped, 1, -2)
    return grouped.reshape((batch // pack, *x.shape[1:-1], pack * x.shape[-1]))


def _check(options) -> None:
    if options.pack == 1:
        return
    require(not options.context.num_classes,
            f"--config.tricks.pack={options.pack} packs samples of different "
            "classes together: use it with unconditional models "
            "(--config.model.num_classes=0), or set --config.tricks.pack=1.")
    require(not options.is_on("acgan"),
            f"--config.tricks.pack={options.pack} and --config.tricks.acgan_weight="
            f"{options.acgan_weight!r} cannot be combined: a pack has no single "
            "class to predict. Set --config.tricks.pack=1 or "
            "--config.tricks.acgan_weight=0.0.")
    batch = options.context.batch_size
    require(batch % options.pack == 0,
            f"--config.tricks.pack={options.pack} must divide "
            f"--config.data.batch_size={batch}: set --config.tricks.pack to a "
            f"divisor of it, e.g. {_divisor_below(batch, options.pack)}, or "
            "--config.data.batch_size to a multiple of it.")


TRICKS = (Trick(
    name="pacgan", title="PacGAN", order=30,
    fields=(Field("pack", 1, "samples D scores together, concatenated on the "
                  "last axis (1 = off)", fields.AT_LEAST_ONE),),
    is_active=lambda options: options.pack > 1,
    check=_check,
    prepare_batch=lambda x, options: pack_samples(x, options.pack),
),)
