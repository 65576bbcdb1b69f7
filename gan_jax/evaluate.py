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

An image-to-image run (pix2pix, CycleGAN, SRGAN) gets its held-out measures
instead (`gan_jax.image_to_image.measures`: L1, PSNR, cycle errors, each beside
its baseline) on `config.eval.num_examples` images of `config.eval.split`
(`--num_samples` overrides), in the same table and JSON file, with the strip
of its first images as `strip_<step>.png`.
"""

import dataclasses
import json
import sys

from absl import app
from absl import flags
from absl import logging
from etils import epath
import jax
import numpy as np
import PIL.Image

from gan_jax import cli
from gan_jax import train
from gan_jax.data import image_folder
from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.evaluation import standing_stats
from gan_jax.evaluation import visualize
from gan_jax.image_to_image import task as translation_task
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import memorization
from gan_jax.metrics import suite

_WORKDIR = flags.DEFINE_string("workdir", None, "A training run directory.")
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

_NEIGHBOURS, _QUERIES = 5, 8


def read_images(folder: epath.PathLike, sample_shape) -> np.ndarray:
    """The image files of `folder` (sorted) of the run's `sample_shape`, in [-1, 1].

    Files of another size (such as the `grid.png` that `gan_jax.sample`
    writes beside its images) are skipped with a warning naming them.
    """
    paths = sorted(path for path in epath.Path(folder).iterdir()
                   if path.suffix.lower() in image_folder.EXTENSIONS)
    mode = "L" if sample_shape[-1] == 1 else "RGB"
    images, skipped = [], []
    for path in paths:
        with path.open("rb") as f:
            image = np.asarray(PIL.Image.open(f).convert(mode), np.float32)
        image = image.reshape(image.shape[0], image.shape[1], -1)
        if image.shape == tuple(sample_shape):
            images.append(image / 127.5 - 1.0)
        else:
            skipped.append(path.name)
    if skipped:
        logging.warning("Skipped %d file(s) that are not %s images: %s",
                        len(skipped), tuple(sample_shape), ", ".join(skipped[:5]))
    if not images:
        raise ValueError(f"No {tuple(sample_shape)} images "
                         f"({', '.join(image_folder.EXTENSIONS)}) in {folder}.")
    return np.stack(images)


def memorization_figure(fake_images, fake_features, real_images, real_features):
    """Each row: a generated sample, then its nearest training images (in
    feature space): near-copies would show a memorising generator."""
    distances = np.stack([np.sum((real_features - f) ** 2, axis=1)
                          for f in fake_features[:_QUERIES]])
    nearest = np.argsort(distances, axis=1)[:, :_NEIGHBOURS]
    rows = [np.concatenate([fake_images[i:i + 1], real_images[nearest[i]]])
            for i in range(len(nearest))]
    return visualize.image_grid(np.concatenate(rows), len(rows), 1 + _NEIGHBOURS)


def print_table(scalars: dict[str, float], title: str) -> None:
    width = max(len(name) for name in scalars)
    print(title)
    for name, value in scalars.items():
        print(f"  {name:<{width}}  {value:.6g}")


def _describe(extractor: features_lib.FeatureExtractor) -> str:
    resize = f" ({extractor.resize} resize)" if extractor.resize else ""
    return f"{extractor.name} features{resize}"


def _save_statistics(path: str, features: np.ndarray,
                     extractor: features_lib.FeatureExtractor, spec) -> None:
    statistics = frechet.FeatureStatistics.empty(features.shape[1]).update(features)
    labels = evaluator.feature_labels(extractor)
    dataset = f"{spec.data.source}:{spec.data.name}:{spec.data.split}"
    frechet.save_statistics(path, statistics.mean(), statistics.covariance(),
                            dataset=dataset, num_images=str(len(features)),
                            **labels)
    print(f"Wrote the statistics of {len(features)} images of {dataset} in "
          f"{_describe(extractor)} to {path}.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    workdir = epath.Path(_WORKDIR.value)
    try:
        run = train.restore_trained(workdir)
    except FileNotFoundError as error:
        sys.exit(f"error: {error}")
    if run.image_to_image:
        _evaluate_image_to_image(run, workdir)
        return
    spec = run.spec
    try:
        feature_name = _FEATURES.value or spec.eval.features
        if feature_name == "none":
            raise ValueError(
                "This run has no feature network (config.eval.features=none). "
                "Pass --features=mnist_classifier --feature_path=classifiers/mnist "
                "or --features=inception --feature_path=weights/"
                "pt_inception-2015-12-05.npz.")
        extractor = features_lib.create(
            feature_name, _FEATURE_PATH.value or spec.eval.feature_path,
            fid_resize=_FID_RESIZE.value or spec.eval.fid_resize)
        if _REF_STATS.value:  # Checked before any work.
            evaluator.reference_statistics(_REF_STATS.value, extractor)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    num = _NUM_SAMPLES.value or spec.eval.num_samples
    dataset = input_pipeline.load(spec.data).dataset
    real_images = np.concatenate(list(evaluator.real_image_batches(dataset, num)))
    real = features_lib.extract_all(extractor, [real_images])
    if _SAVE_STATS.value:
        _save_statistics(_SAVE_STATS.value, real["features"], extractor, spec)
        return

    key = jax.random.key(_SEED.value)
    labels = {}  # What was measured, in words (beside the numbers in the JSON).
    if _IMAGES.value:
        try:
            fake_images = read_images(_IMAGES.value, run.data_spec.sample_shape)
        except (FileNotFoundError, ValueError) as error:
            sys.exit(f"error: {error}")
        source = _IMAGES.value
    else:
        classes = None
        if spec.model.num_classes:
            classes = sampling.balanced_labels(num, spec.model.num_classes)
        state = standing_stats.with_standing_stats(
            run.state, jax.random.fold_in(key, 2), spec)
        fake_images = sampling.generate(
            state, jax.random.fold_in(key, 0), num,
            latent_dim=spec.model.latent_dim,
            batch_size=min(spec.eval.batch_size, num), labels=classes,
            categories=spec.tricks.infogan_categories)
        source = f"{workdir} step {run.step}"
        labels["generator"] = evaluator.measured_generator(spec)
    fake = features_lib.extract_all(extractor, [fake_images])
    scalars = suite.compute(real, fake, metrics=tuple(spec.eval.metrics),
                            key=jax.random.fold_in(key, 1))
    labels.update(evaluator.feature_labels(extractor))
    if _REF_STATS.value:
        try:
            mu, sigma, _ = evaluator.reference_statistics(
                _REF_STATS.value, extractor, dim=fake["features"].shape[1])
        except ValueError as error:
            sys.exit(f"error: {error}")
        statistics = frechet.FeatureStatistics.empty(mu.size).update(
            fake["features"])
        scalars["fid_ref_stats"] = frechet.frechet_distance_from_statistics(
            statistics.mean(), statistics.covariance(), mu, sigma)
        labels["ref_stats"] = _REF_STATS.value

    if _HELD_OUT_SPLIT.value:
        held_out_data = dataclasses.replace(spec.data, split=_HELD_OUT_SPLIT.value)
        held_out = features_lib.extract_all(extractor, evaluator.real_image_batches(
            input_pipeline.load(held_out_data).dataset, num))
        scalars.update({f"memorization_{k}": v for k, v in
                        memorization.memorization_gap(
                            fake["features"], real["features"],
                            held_out["features"]).items()})
    figure = memorization_figure(fake_images, fake["features"], real_images,
                                 real["features"])
    visualize.save_png(figure, workdir / f"memorization_{run.step:07d}.png")

    report = dict(scalars, step=run.step, num_generated=len(fake_images),
                  num_real=len(real_images), source=source, **labels)
    (workdir / f"evaluation_{run.step:07d}.json").write_text(
        json.dumps(report, indent=2) + "\n")
    print_table(scalars, f"{source}: {len(fake_images)} generated vs "
                f"{len(real_images)} real images, {_describe(extractor)}")


def _evaluate_image_to_image(run: train.TrainedRun, workdir: epath.Path) -> None:
    spec = run.spec
    if _NUM_SAMPLES.value:
        spec = dataclasses.replace(spec, eval=dataclasses.replace(
            spec.eval, num_examples=_NUM_SAMPLES.value))
    with cli.user_errors_as_messages("gan_jax.evaluate"):
        evaluation = translation_task.HeldOutEvaluator(spec)(run.state)
    visualize.save_png(evaluation.images["strip"],
                       workdir / f"strip_{run.step:07d}.png")
    source = f"{workdir} step {run.step}"
    report = dict(evaluation.scalars, step=run.step, source=source,
                  split=spec.eval.split, num_examples=spec.eval.num_examples)
    (workdir / f"evaluation_{run.step:07d}.json").write_text(
        json.dumps(report, indent=2) + "\n")
    print_table(evaluation.scalars, f"{source}: held-out measures on "
                f"{spec.eval.num_examples} images of {spec.eval.split!r}")


if __name__ == "__main__":
    app.run(main)
