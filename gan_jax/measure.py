"""Measures a trained run (or a folder of images): what `python -m
gan_jax.evaluate` does, importable (`measure.evaluate(workdir, Request(...))`);
see gan_jax/evaluate.py for the measures and the files written."""

import dataclasses
import json

from etils import epath
import jax
import numpy as np

from gan_jax import train
from gan_jax.data import image_files
from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.evaluation import visualize
from gan_jax.image_to_image import task as translation_task
from gan_jax.metrics import features as features_lib
from gan_jax.metrics import frechet
from gan_jax.metrics import memorization
from gan_jax.metrics import suite
from gan_jax.run import gan_data

_NEIGHBOURS, _QUERIES = 5, 8


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


@dataclasses.dataclass(frozen=True)
class Request:
    """What to measure, as the flags of the same names say it; None takes the
    run's own setting (its `config.eval.*`)."""
    num_samples: int | None = None
    images: str | None = None
    held_out_split: str | None = None
    seed: int = 0
    features: str | None = None
    feature_path: str | None = None
    fid_resize: str | None = None
    save_stats: str | None = None
    ref_stats: str | None = None


def evaluate(workdir: epath.PathLike, request: Request = Request()) -> dict | None:
    """Measures the run in `workdir` as `request` says (the module docstring):
    prints the table and writes `evaluation_<step>.json` (returned) and the
    memorisation figure; with `save_stats`, writes that file only (returns
    None).

    Raises:
      FileNotFoundError, ValueError: what the user can fix (no run, no
        feature network, an unreadable statistics or image folder), before
        any file is written.
    """
    workdir = epath.Path(workdir)
    run = train.restore_trained(workdir)
    if run.image_to_image:
        return _evaluate_image_to_image(run, workdir, request.num_samples)
    spec = run.spec
    feature_name = request.features or spec.eval.features
    if feature_name == "none":
        raise ValueError(
            "This run has no feature network (config.eval.features=none). "
            "Pass --features=mnist_classifier --feature_path=classifiers/mnist "
            "or --features=inception --feature_path=weights/"
            "pt_inception-2015-12-05.npz.")
    extractor = features_lib.create(
        feature_name, request.feature_path or spec.eval.feature_path,
        fid_resize=request.fid_resize or spec.eval.fid_resize)
    if request.ref_stats:  # Checked before any work.
        evaluator.reference_statistics(request.ref_stats, extractor)
    num = request.num_samples or spec.eval.num_samples
    dataset = gan_data.reference_dataset(spec)
    real_images = np.concatenate(list(evaluator.real_image_batches(dataset, num)))
    real = features_lib.extract_all(extractor, [real_images])
    if request.save_stats:
        _save_statistics(request.save_stats, real["features"], extractor, spec)
        return None

    key = jax.random.key(request.seed)
    labels = {}  # What was measured, in words (beside the numbers in the JSON).
    if request.images:
        fake_images = image_files.read_image_folder(request.images,
                                                    run.data_spec.sample_shape)
        source = request.images
    else:
        classes = None
        if spec.model.num_classes:
            classes = sampling.balanced_labels(num, spec.model.num_classes,
                                               spec.data.classes)
        state = evaluator.evaluation_state(run.state, key, spec)
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
    if request.ref_stats:
        mu, sigma, _ = evaluator.reference_statistics(
            request.ref_stats, extractor, dim=fake["features"].shape[1])
        statistics = frechet.FeatureStatistics.empty(mu.size).update(
            fake["features"])
        scalars["fid_ref_stats"] = frechet.frechet_distance_from_statistics(
            statistics.mean(), statistics.covariance(), mu, sigma)
        labels["ref_stats"] = request.ref_stats

    if request.held_out_split:
        held_out_data = dataclasses.replace(spec.data, split=request.held_out_split)
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
    return report


def _evaluate_image_to_image(run: train.TrainedRun, workdir: epath.Path,
                             num_examples: int | None) -> dict:
    spec = run.spec
    if num_examples:
        spec = dataclasses.replace(spec, eval=dataclasses.replace(
            spec.eval, num_examples=num_examples))
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
    return report
