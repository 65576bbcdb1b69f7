"""Writes images from a trained run's newest checkpoint.

    python -m gan_jax.sample --workdir=runs/cgan --num=100 --out=samples/

Writes `<out>/000000.png`, ... (one per image, at the training resolution),
`<out>/grid.png` with all of them, and for conditional models `labels.csv`
(file, label): classes cycle 0, 1, ..., or `--label` fixes one. The EMA
generator is used, as in training's evaluations.
"""

import csv
import math
import sys

from absl import app
from absl import flags
from absl import logging
from etils import epath
import jax
import numpy as np
import PIL.Image

from gan_jax import cli
from gan_jax import run_dir
from gan_jax import sampling
from gan_jax import visualize

_WORKDIR = flags.DEFINE_string("workdir", None, "A training run directory.")
_NUM = flags.DEFINE_integer("num", 64, "Number of images to write.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Directory to write the images into.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents.")
_LABEL = flags.DEFINE_integer(
    "label", None, "Conditional models: draw only this class (default: all "
    "classes in turn).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "Images per generator call.",
                                   lower_bound=1)
flags.mark_flags_as_required(["workdir", "out"])


def sample_labels(num: int, num_classes: int | None,
                  label: int | None) -> np.ndarray | None:
    """The labels to draw: None for unconditional models."""
    if not num_classes:
        if label is not None:
            raise ValueError("--label needs a conditional model; this run's "
                             "model is unconditional.")
        return None
    if label is None:
        return sampling.balanced_labels(num, num_classes)
    if not 0 <= label < num_classes:
        raise ValueError(f"--label={label} is not a class of this model: use "
                         f"0 to {num_classes - 1}.")
    return np.full((num,), label, np.int32)


def write_samples(images: np.ndarray, labels: np.ndarray | None,
                  out: epath.Path) -> None:
    """One PNG per image, a grid, and `labels.csv` when there are labels."""
    out.mkdir(parents=True, exist_ok=True)
    pixels = visualize.to_uint8(images)
    grayscale = images.shape[-1] == 1
    names = [f"{i:06d}.png" for i in range(len(images))]
    for name, image in zip(names, pixels):
        picture = PIL.Image.fromarray(image[..., 0] if grayscale else image)
        with (out / name).open("wb") as f:
            picture.save(f, format="PNG")
    if labels is not None:
        with (out / "labels.csv").open("w") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "label"])
            writer.writerows(zip(names, labels.tolist()))
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    blank = -np.ones((rows * columns - len(images), *images.shape[1:]), images.dtype)
    visualize.save_png(
        visualize.image_grid(np.concatenate([images, blank]), rows, columns),
        out / "grid.png")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    try:
        run = run_dir.restore_trained(_WORKDIR.value)
    except FileNotFoundError as error:
        sys.exit(f"error: {error}")
    if len(run.data_spec.sample_shape) != 3:
        raise app.UsageError("gan_jax.sample writes images; this run's samples "
                             f"have shape {run.data_spec.sample_shape}.")
    labels = sample_labels(_NUM.value, run.config.model.num_classes, _LABEL.value)
    images = sampling.generate(
        run.state, jax.random.key(_SEED.value), _NUM.value,
        latent_dim=run.config.model.latent_dim,
        batch_size=min(_BATCH_SIZE.value, _NUM.value), labels=labels)
    out = epath.Path(_OUT.value)
    write_samples(images, labels, out)
    logging.info("Wrote %d images from step %d to %s.", _NUM.value, run.step, out)


if __name__ == "__main__":
    app.run(main)
