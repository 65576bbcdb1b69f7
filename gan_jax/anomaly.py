"""Scores images for anomaly with a trained GAN (AnoGAN and f-AnoGAN).

    python -m gan_jax.anomaly --workdir=runs/anomaly_mnist --images=queries.npy

`--images` is a folder of PNG/JPEG files (sorted by name), a `.npy` array
`(N, H, W[, C])` (uint8, or floats in [-1, 1]) or an IDX image file
(`t10k-images-idx3-ubyte.gz`), at the run's image shape.

The first call trains f-AnoGAN's encoder on the run's training data (G and D
frozen, izi_f loss) and saves it in `<workdir>/anomaly/encoder/`; later
calls reuse it. Every image gets f-AnoGAN's score; the first
`--anogan_limit` (default: all) also AnoGAN's, after `--search_steps` of
latent search. Writes into `--out` (default `<workdir>/anomaly/scores`):

    scores.csv    index, rank, f_anogan (+ its residual and feature terms), anogan
    scores.json   the same, with the run's step and the settings
    ranked.png    the most and least anomalous images over G(E(x)), ranked
                  by --rank_by, each captioned with its rank and score

Higher scores are more anomalous. See `gan_jax.anomaly_detection` for the
formulas and conventions.
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags
from absl import logging
from etils import epath

from gan_jax import cli
from gan_jax.anomaly_detection import detector
from gan_jax.data import image_files

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained GAN's run directory.")
_IMAGES = flags.DEFINE_string("images", None, "The images to score: "
                              f"{image_files.FORMATS}.")
_OUT = flags.DEFINE_string("out", None, "Where to write scores.csv, scores.json "
                           "and ranked.png; default <workdir>/anomaly/scores.")
_RANK_BY = flags.DEFINE_enum("rank_by", "f_anogan", detector.RANK_BY,
                             "The score that ranks the strip.")
_STRIP = flags.DEFINE_integer("strip", 8, "Most and least anomalous images "
                              "shown in ranked.png (each end).", lower_bound=1)
_SEARCH_STEPS = flags.DEFINE_integer(
    "search_steps", detector.Options.search_steps, "AnoGAN's latent-search "
    "steps per image (the paper's Gamma = 500); 0 skips AnoGAN.", lower_bound=0)
_SEARCH_LR = flags.DEFINE_float(
    "search_learning_rate", detector.Options.search_learning_rate,
    "Adam's learning rate in the latent search.", lower_bound=0.0)
_ANOGAN_LIMIT = flags.DEFINE_integer(
    "anogan_limit", None, "Run AnoGAN's search on the first this many images "
    "only (default: all).", lower_bound=0)
_ENCODER_STEPS = flags.DEFINE_integer(
    "encoder_steps", detector.Options.encoder_steps, "izi_f training steps of "
    "the encoder, when the run has none saved.", lower_bound=1)
_ENCODER_EXAMPLES = flags.DEFINE_integer(
    "encoder_examples", None, "Training images the encoder learns from "
    "(default: the run's whole split).", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", detector.Options.batch_size,
                                   "Images per compiled call.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the encoder's training and the "
                             "search's starting latents.")
flags.mark_flags_as_required(["workdir", "images"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    options = detector.Options(
        encoder_steps=_ENCODER_STEPS.value, encoder_examples=_ENCODER_EXAMPLES.value,
        search_steps=_SEARCH_STEPS.value, search_learning_rate=_SEARCH_LR.value,
        anogan_limit=_ANOGAN_LIMIT.value, batch_size=_BATCH_SIZE.value,
        seed=_SEED.value)
    if _RANK_BY.value == "anogan" and (not options.search_steps
                                       or options.anogan_limit == 0):
        sys.exit("error: --rank_by=anogan needs AnoGAN's scores: set "
                 "--search_steps > 0 (e.g. 500) and --anogan_limit > 0, or "
                 "--rank_by=f_anogan.")
    if not os.path.isdir(_WORKDIR.value):
        sys.exit(f"error: --workdir={_WORKDIR.value} is not a directory; give a "
                 "trained GAN's run directory (python -m gan_jax.main ... "
                 "--workdir=DIR).")
    with cli.user_errors_as_messages("gan_jax.anomaly"):
        run, gan = detector.open_run(_WORKDIR.value)
        try:
            images = image_files.read_images(_IMAGES.value, run.data_spec.sample_shape)
        except (FileNotFoundError, ValueError) as error:
            raise ValueError(f"--images={_IMAGES.value}: {error}") from None
        logging.info("Scoring %d images with the run's step-%d GAN.", len(images),
                     run.step)
        encoder = detector.trained_encoder(run, gan, _WORKDIR.value, options,
                                           report=logging.info)
        results = detector.score(gan, encoder, images, options,
                                 latent_dim=run.spec.model.latent_dim,
                                 report=logging.info)
        out = epath.Path(_OUT.value or os.path.join(_WORKDIR.value, "anomaly", "scores"))
        paths = detector.write_outputs(
            out, images, results, rank_by=_RANK_BY.value, strip_size=_STRIP.value,
            about={"workdir": _WORKDIR.value, "step": run.step,
                   "images_path": _IMAGES.value, "num_images": len(images),
                   "options": dataclasses.asdict(options)})
    print(f"Scored {len(images)} images; wrote {', '.join(map(str, paths.values()))}.")


if __name__ == "__main__":
    app.run(main)
