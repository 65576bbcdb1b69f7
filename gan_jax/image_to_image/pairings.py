"""Paired and unpaired examples derived from batches of images.

A translation run reads images through the library's ordinary pipeline
(`gan_jax.data`, any source) and a pairing, a pure function run inside the
compiled step, turns each batch into the examples its model trains on:

    paired:   {"source": (B, h, w, c), "target": (B, H, W, C)}   pix2pix, SRGAN
    unpaired: {"a": (B', H, W, C), "b": (B', H, W, C)}            CycleGAN

Pairings, by name (`config.task.pairing`):
    edges:        source = the image's edge map (Sobel magnitude), target =
                  the image: "edges -> digit" on MNIST.
    downsample:   source = the image shrunk by `upscale` (antialiased
                  bicubic), target = the image: super-resolution.
    side_by_side: each image holds a pair side by side, A | B (the pix2pix
                  datasets' layout); `direction` AtoB or BtoA.
    colourise:    unpaired: the first half of the batch is domain A (white
                  digits on black, as RGB), the second half, coloured as blue
                  ink on yellow paper, domain B. A and B never show the same
                  image, and `colourise_ground_truth` gives the translation
                  CycleGAN never sees, for evaluation.
    two_splits:   unpaired: A from `data.split`, B from `task.split_b` of the
                  same dataset, e.g. TFDS cycle_gan/horse2zebra trainA/trainB.
    two_folders:  unpaired: a folder source with two sub-folders, A (the
                  first by name) and B.
Images are in [-1, 1].
"""

import jax
import jax.numpy as jnp

PAIRED = ("edges", "downsample", "side_by_side")
UNPAIRED = ("colourise", "two_splits", "two_folders")
DIRECTIONS = ("AtoB", "BtoA")
# Blue ink on yellow paper, RGB in [0, 1].
PAPER = (0.95, 0.85, 0.35)
INK = (0.10, 0.15, 0.55)


def check_pairing(name: str, task: str) -> None:
    valid = UNPAIRED if task == "cyclegan" else PAIRED
    if name not in valid:
        raise ValueError(f"Unknown pairing {name!r} for task {task!r}. Valid: "
                         f"{', '.join(valid)}. Set --config.task.pairing.")


def as_rgb(images: jax.Array) -> jax.Array:
    return jnp.broadcast_to(images, (*images.shape[:-1], 3)) if images.shape[-1] == 1 else images


def edge_map(images: jax.Array) -> jax.Array:
    """tanh of the Sobel gradient magnitude of the mean channel, in [-1, 1]:
    -1 on flat regions, near 1 on strong edges."""
    grey = jnp.mean(images.astype(jnp.float32), axis=-1, keepdims=True)
    sobel_x = jnp.array([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]], jnp.float32)
    kernels = jnp.stack([sobel_x, sobel_x.T], axis=-1)[:, :, None, :]
    # Edge padding: the image's border is not an edge.
    padded = jnp.pad(grey, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    gradients = jax.lax.conv_general_dilated(
        padded, kernels, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    magnitude = jnp.sqrt(jnp.sum(gradients ** 2, axis=-1, keepdims=True) + 1e-12)
    # An edge between -1 and 1 has magnitude 8; tanh(magnitude / 2) saturates it.
    return 2.0 * jnp.tanh(magnitude / 2.0) - 1.0


def downsample(images: jax.Array, factor: int) -> jax.Array:
    """Antialiased bicubic shrinking by `factor` (SRGAN's low-resolution input)."""
    batch, height, width, channels = images.shape
    if height % factor or width % factor:
        raise ValueError(f"Images of {height}x{width} cannot be shrunk by "
                         f"{factor}: both sides must be divisible by "
                         "--config.task.upscale.")
    return jax.image.resize(images.astype(jnp.float32),
                            (batch, height // factor, width // factor, channels),
                            "bicubic", antialias=True)


def bicubic_upsample(images: jax.Array, factor: int) -> jax.Array:
    """The super-resolution baseline: bicubic enlargement, clipped to [-1, 1]."""
    batch, height, width, channels = images.shape
    return jnp.clip(jax.image.resize(
        images, (batch, height * factor, width * factor, channels), "bicubic"),
        -1.0, 1.0)


def colourise(images: jax.Array) -> jax.Array:
    """Domain B of the colourise task: intensity t in [0, 1] becomes
    (1 - t) * paper + t * ink."""
    t = (jnp.mean(images.astype(jnp.float32), axis=-1, keepdims=True) + 1.0) / 2.0
    rgb = (1.0 - t) * jnp.array(PAPER) + t * jnp.array(INK)
    return 2.0 * rgb - 1.0


def colourise_ground_truth(domain_a: jax.Array) -> jax.Array:
    """The A -> B translation of the colourise task (never shown in training)."""
    return colourise(domain_a)


def make_examples(pairing: str, batch: dict[str, jax.Array], *,
                  upscale: int = 4, direction: str = "AtoB") -> dict[str, jax.Array]:
    """The model's examples from a pipeline batch `{"x": (B, H, W, C), ...}`."""
    images = batch["x"].astype(jnp.float32)
    if pairing == "edges":
        return {"source": edge_map(images), "target": images}
    if pairing == "downsample":
        return {"source": downsample(images, upscale), "target": images}
    if pairing == "side_by_side":
        width = images.shape[2]
        if width % 2:
            raise ValueError(f"side_by_side pairs need an even image width, got "
                             f"{width}: each image is A | B side by side.")
        left, right = images[:, :, :width // 2], images[:, :, width // 2:]
        if direction == "BtoA":
            left, right = right, left
        return {"source": left, "target": right}
    if pairing == "colourise":
        half = images.shape[0] // 2
        return {"a": as_rgb(images[:half]), "b": colourise(images[half:2 * half])}
    if pairing in ("two_splits", "two_folders"):
        return {"a": images, "b": batch["x_b"].astype(jnp.float32)}
    raise ValueError(f"Unknown pairing {pairing!r}. Valid: "
                     f"{', '.join(PAIRED + UNPAIRED)}. Set --config.task.pairing.")
