"""Held-out measures and sample strips of an image-to-image run.

pix2pix: `l1` (E|G(x) - y| per image) beside `l1_identity`, the error of
    returning the input unchanged (the baseline a useful model beats).
SRGAN: `psnr` of G(x) beside `psnr_bicubic`, bicubic enlargement's, in dB.
CycleGAN: the cycle errors `cycle_a` = E|F(G(a)) - a| and `cycle_b`; with
    the colourise pairing, whose held-out domains show the same digits, also
    `translation_ab` = E|G(a) - b| and `translation_ba` = E|F(b) - a| against
    the ground truth neither generator saw, beside `translation_identity`
    = E|a - b|.
Every measure is a mean over held-out images of a per-image mean.
Strips: rows of input | output | target (pix2pix, SRGAN) or A | G(A) | F(G(A))
and B | F(B) | G(F(B)) (CycleGAN), generators in inference mode.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import visualize
from gan_jax.image_to_image import objectives
from gan_jax.image_to_image import pairings
from gan_jax.image_to_image.state import apply
from gan_jax.image_to_image.state import TranslationState


def _per_image_l1(a, b):
    return jnp.mean(jnp.abs(a - b), axis=tuple(range(1, a.ndim)))


def _run(state: TranslationState, name: str, images):
    network = state.networks[name]
    return apply(network, network.params, images, train=False)[0]


def _enlarge(images, size):
    # Nearest neighbour, so the strip shows the low-resolution input's pixels.
    factor = size // images.shape[1]
    return jnp.repeat(jnp.repeat(images, factor, axis=1), factor, axis=2)


def measure(state: TranslationState, examples: dict, *, task: str, pairing: str,
            upscale: int) -> tuple[dict, jax.Array]:
    """Per-image measures `{name: (B,)}` and the strip rows `(B, 3, H, W, 3)`."""
    if task == "cyclegan":
        a, b = examples["a"], examples["b"]
        fake_b, fake_a = _run(state, "g_ab", a), _run(state, "g_ba", b)
        back_a, back_b = _run(state, "g_ba", fake_b), _run(state, "g_ab", fake_a)
        values = {"cycle_a": _per_image_l1(back_a, a),
                  "cycle_b": _per_image_l1(back_b, b)}
        if pairing == "colourise":
            values.update(translation_ab=_per_image_l1(fake_b, b),
                          translation_ba=_per_image_l1(fake_a, a),
                          translation_identity=_per_image_l1(a, b))
        rows = jnp.concatenate([jnp.stack([a, fake_b, back_a], axis=1),
                                jnp.stack([b, fake_a, back_b], axis=1)])
        return values, rows
    source, target = examples["source"], examples["target"]
    fake = _run(state, "generator", source)
    values = {"l1": _per_image_l1(fake, target)}
    if task == "srgan":
        values.update(psnr=objectives.psnr(fake, target),
                      psnr_bicubic=objectives.psnr(
                          pairings.bicubic_upsample(source, upscale), target))
        shown = _enlarge(source, target.shape[1])
    else:
        if source.shape == target.shape:
            values["l1_identity"] = _per_image_l1(source, target)
        shown = source
    rows = jnp.stack([pairings.as_rgb(shown), pairings.as_rgb(fake),
                      pairings.as_rgb(target)], axis=1)
    return values, rows


def strip(rows: np.ndarray) -> np.ndarray:
    """`(N, 3, H, W, C)` rows as one `(H', W', 3)` uint8 picture."""
    rows = np.asarray(rows)
    return visualize.image_grid(rows.reshape(-1, *rows.shape[2:]),
                                num_rows=rows.shape[0], num_columns=rows.shape[1])
