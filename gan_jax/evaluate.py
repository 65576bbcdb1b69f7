"""Sample-quality metrics of a trained run (or of a folder of images).

    python -m gan_jax.evaluate --workdir=runs/dcgan_mnist
    python -m gan_jax.evaluate --workdir=runs/dcgan_mnist --num_samples=2000
    python -m gan_jax.evaluate --workdir=runs/dcgan_mnist --images=samples/

Compares `--num_samples` images from the newest checkpoint's EMA generator (or
the PNG/JPEG files in `--images`) with as many images of the run's training
data, in the features of the run's extractor (`config.eval.features`): FID,
KID, IS, precision/recall, density/coverage. Also a memorisation check: a
figure of generated samples beside their nearest training images in feature
space and, with `--held_out_split`, the mean nearest-neighbour distance of
generated and of held-out real images to the training images. Prints a table
and writes `<workdir>/evaluation_<step>.json` and `memorization_<step>.png`;
the JSON also says which generator was measured ("generator":
"ema+standing_stats", "ema" or "raw", the run's
`config.eval.standing_stats_batches` rule), in which features, and for
Inception after which resize to 299x299 ("fid_resize": `--fid_resize`,
default the run's `config.eval.fid_resize`).

Reference statistics, in the `.npz` format (`mu`, `sigma`) of pytorch-fid and
clean-fid:

    python -m gan_jax.evaluate --workdir=runs/dcgan_mnist --save_stats=mnist.npz
    python -m gan_jax.evaluate --workdir=runs/dcgan_mnist --ref_stats=mnist.npz

`--save_stats` writes the mean and covariance of the features of the first
`--num_samples` images of the run's dataset split (recording the features,
resize and split in the file) and stops; `--ref_stats` adds `fid_ref_stats`,
the FID of the samples against the file's statistics, refusing a file made
with other features or another resize.

Several runs or sweep members in `--workdir` (`RUN`, `SWEEP`,
`SWEEP/settings/NAME` for all its seeds, `...@S` for one seed; see
`gan_jax.trained_ensemble`) are measured as one generator, the mixture of
their generators weighted by `--ensemble_weights`
(`gan_jax.evaluation.ensemble`); the files then go to `--out`, and the JSON
lists the members ("ensemble"). A toy-mixture run (ring8, grid25) or ensemble
is measured as its evaluations are: modes covered, high-quality fraction and
reverse KL of `--num_samples` points (`evaluation_<step>.json`) and their
scatter plot (`evaluation_<step>.png`, coloured by member for an ensemble).

    python -m gan_jax.evaluate --workdir=runs/sweep/settings/NAME --out=eval/
    python -m gan_jax.evaluate --workdir=runs/a,runs/b --ensemble_weights=1,3 --out=e/

An image-to-image run (pix2pix, CycleGAN, SRGAN) gets its held-out measures
instead (`gan_jax.image_to_image.measures`: L1, PSNR, cycle errors, each beside
its baseline) on `config.eval.num_examples` images of `config.eval.split`
(`--num_samples` overrides), in the same table and JSON file, with the strip
of its first images as `strip_<step>.png`.
"""

from absl import app
from absl import flags

from gan_jax import cli
from gan_jax import measure
from gan_jax import trained_ensemble
from gan_jax.metrics import features as features_lib

_WORKDIR, _ENSEMBLE_WEIGHTS = trained_ensemble.define_flags(
    "measured as one ensemble")
_OUT = flags.DEFINE_string(
    "out", None, "Directory for the files written (default: --workdir; "
    "needed for an ensemble or a sweep member).")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", None, "Generated (and real) images to compare; default: the "
    "run's config.eval.num_samples.", lower_bound=2)
_IMAGES = flags.DEFINE_string(
    "images", None, "Evaluate the image files in this folder instead of the "
    "run's generator (e.g. the output of gan_jax.sample).")
_HELD_OUT_SPLIT = flags.DEFINE_string(
    "held_out_split", None, "A split of the run's dataset it did not train on "
    "(e.g. test), for the memorisation distances.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latents and KID subsets.")
_FEATURES = flags.DEFINE_string(
    "features", None, "Feature network (mnist_classifier | inception); default: "
    "the run's config.eval.features.")
_FEATURE_PATH = flags.DEFINE_string(
    "feature_path", None, "Its weights; default: the run's config.eval.feature_path.")
_FID_RESIZE = flags.DEFINE_enum(
    "fid_resize", None, features_lib.FID_RESIZES, "How inception features "
    "resize images to 299x299: pytorch_fid (bilinear, no antialiasing) or "
    "clean (clean-fid's antialiased PIL-bicubic); default: the run's "
    "config.eval.fid_resize.")
_SAVE_STATS = flags.DEFINE_string(
    "save_stats", None, "Write the Frechet statistics (mu, sigma) of the first "
    "--num_samples images of the run's dataset split, in its features, to this "
    ".npz file (pytorch-fid's and clean-fid's format) and stop.")
_REF_STATS = flags.DEFINE_string(
    "ref_stats", None, "Also compare the samples with the Frechet statistics "
    "(mu, sigma) in this .npz file (from --save_stats, pytorch-fid or "
    "clean-fid), as fid_ref_stats.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    with cli.user_errors_as_messages("gan_jax.evaluate"):
        weights = trained_ensemble.parse_weights(_ENSEMBLE_WEIGHTS.value)
    request = measure.Request(
        num_samples=_NUM_SAMPLES.value, images=_IMAGES.value,
        held_out_split=_HELD_OUT_SPLIT.value, seed=_SEED.value,
        features=_FEATURES.value, feature_path=_FEATURE_PATH.value,
        fid_resize=_FID_RESIZE.value, save_stats=_SAVE_STATS.value,
        ref_stats=_REF_STATS.value, out=_OUT.value,
        ensemble_weights=weights and tuple(weights))
    with cli.user_errors_as_messages("gan_jax.evaluate"):
        measure.evaluate(_WORKDIR.value, request)


if __name__ == "__main__":
    app.run(main)
