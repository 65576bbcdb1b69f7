"""Writes images from a trained run's newest checkpoint, or from an ensemble.

    python -m gan_jax.sample --workdir=runs/cgan --num=100 --out=samples/
    python -m gan_jax.sample --workdir=runs/a,runs/b --ensemble_weights=1,3 --out=s/

Writes `<out>/000000.png`, ... (one per image, at the training resolution),
`<out>/grid.png` with all of them, and for conditional models `labels.csv`
(file, label): classes cycle 0, 1, ..., or `--label` fixes one. The EMA
generator is used, as in training's evaluations.

Several runs, or sweep members (`SWEEP/settings/NAME` for all its seeds,
`...@S` for one; `gan_jax.trained_ensemble`), in `--workdir` are drawn as one
mixture (`gan_jax.evaluation.ensemble`): member k draws its share
`--ensemble_weights` of the `--num` images (largest remainder; equal weights
by default), in consecutive blocks, and `members.csv` (file, member, source)
says which member drew each.

An image-to-image run (pix2pix, CycleGAN, SRGAN) translates the first `--num`
images of its held-out split (`config.eval.split`) and writes
`<out>/strip.png`: one row per image, input | output | target (CycleGAN:
A | G(A) | F(G(A)), then B | F(B) | G(F(B))), as its evaluations draw them.
"""

import csv
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
from gan_jax import trained_ensemble
from gan_jax.evaluation import ensemble
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.evaluation import visualize
from gan_jax.image_to_image import task as translation_task

_WORKDIR, _ENSEMBLE_WEIGHTS = trained_ensemble.define_flags(
    "drawn as one ensemble")
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
        members = trained_ensemble.open_members(_WORKDIR.value)
        run = members[0].run
        if len(members) == 1 and run.image_to_image:
            _write_strip(run)
            return
        generator = trained_ensemble.create(
            members, trained_ensemble.parse_weights(_ENSEMBLE_WEIGHTS.value))
        if len(run.data_spec.sample_shape) != 3:
            raise ValueError("gan_jax.sample writes images; this run's samples "
                             f"have shape {run.data_spec.sample_shape}.")
        labels = sampling.requested_labels(_NUM.value, run.spec.model.num_classes,
                                           _LABEL.value, run.spec.data.classes)
        for member in members:
            models.check_truncation(member.run.spec.model.name,
                                    _TRUNCATION_PSI.value, "--truncation_psi")
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    key = jax.random.key(_SEED.value)
    generator = evaluator.evaluation_state(generator, key, run.spec)
    images = sampling.generate(
        generator, key, _NUM.value, latent_dim=run.spec.model.latent_dim,
        batch_size=min(_BATCH_SIZE.value, _NUM.value), labels=labels,
        categories=run.spec.tricks.infogan_categories,
        truncation_psi=_TRUNCATION_PSI.value)
    out = epath.Path(_OUT.value)
    names = visualize.save_samples(images, labels, out)
    if len(members) > 1:
        _write_members(out / "members.csv", names, members,
                       ensemble.member_indices(_NUM.value, generator.weights))
    logging.info("Wrote %d images from %s to %s.", _NUM.value,
                 ", ".join(member.source for member in members), out)


def _write_members(path: epath.Path, names, members, drawn_by) -> None:
    """Which ensemble member drew each image file."""
    with path.open("w") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "member", "source"])
        writer.writerows((name, member, members[member].source)
                         for name, member in zip(names, drawn_by.tolist()))


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
