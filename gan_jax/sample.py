"""Writes images from a trained run's newest checkpoint.

    python -m gan_jax.sample --workdir=runs/cgan --num=100 --out=samples/

Writes `<out>/000000.png`, ... (one per image, at the training resolution),
`<out>/grid.png` with all of them, and for conditional models `labels.csv`
(file, label): classes cycle 0, 1, ..., or `--label` fixes one. The EMA
generator is used, as in training's evaluations.

An image-to-image run (pix2pix, CycleGAN, SRGAN) translates the first `--num`
images of its held-out split (`config.eval.split`) and writes
`<out>/strip.png`: one row per image, input | output | target (CycleGAN:
A | G(A) | F(G(A)), then B | F(B) | G(F(B))), as its evaluations draw them.
"""

import dataclasses
import sys

from absl import app
from absl import flags
from absl import logging
from etils import epath
import jax

from gan_jax import cli
from gan_jax import models
from gan_jax import train
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.evaluation import visualize
from gan_jax.image_to_image import task as translation_task

_WORKDIR = flags.DEFINE_string("workdir", None, "A training run directory.")
_NUM = flags.DEFINE_integer("num", 64, "Number of images to write.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Directory to write the images into.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents.")
_LABEL = flags.DEFINE_integer(
    "label", None, "Conditional models: draw only this class (default: all "
    "classes in turn).")
_TRUNCATION_PSI = flags.DEFINE_float(
    "truncation_psi", 1.0, "The truncation trick's psi for StyleGAN2 runs "
    "(1 = none; 0.5-0.7 trades variety for quality).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "Images per generator call.",
                                   lower_bound=1)
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    try:
        run = train.restore_trained(_WORKDIR.value)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    if run.image_to_image:
        _write_strip(run)
        return
    if len(run.data_spec.sample_shape) != 3:
        raise app.UsageError("gan_jax.sample writes images; this run's samples "
                             f"have shape {run.data_spec.sample_shape}.")
    try:
        labels = sampling.requested_labels(_NUM.value, run.spec.model.num_classes,
                                           _LABEL.value, run.spec.data.classes)
        models.check_truncation(run.spec.model.name, _TRUNCATION_PSI.value,
                                "--truncation_psi")
    except ValueError as error:
        sys.exit(f"error: {error}")
    key = jax.random.key(_SEED.value)
    state = evaluator.evaluation_state(run.state, key, run.spec)
    images = sampling.generate(
        state, key, _NUM.value, latent_dim=run.spec.model.latent_dim,
        batch_size=min(_BATCH_SIZE.value, _NUM.value), labels=labels,
        categories=run.spec.tricks.infogan_categories,
        truncation_psi=_TRUNCATION_PSI.value)
    out = epath.Path(_OUT.value)
    visualize.save_samples(images, labels, out)
    logging.info("Wrote %d images from step %d to %s.", _NUM.value, run.step, out)


def _write_strip(run: train.TrainedRun) -> None:
    spec = dataclasses.replace(run.spec, eval=dataclasses.replace(
        run.spec.eval, num_examples=_NUM.value, strip_examples=_NUM.value,
        batch_size=min(_BATCH_SIZE.value, _NUM.value)))
    with cli.user_errors_as_messages("gan_jax.sample"):
        evaluation = translation_task.HeldOutEvaluator(spec)(run.state)
    path = epath.Path(_OUT.value) / "strip.png"
    visualize.save_png(evaluation.images["strip"], path)
    logging.info("Wrote the strip of %d held-out images (%s) from step %d to %s.",
                 _NUM.value, spec.eval.split, run.step, path)


if __name__ == "__main__":
    app.run(main)
