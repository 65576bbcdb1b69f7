"""Measures a trained run, an ensemble of them, or a folder of images: what
`python -m gan_jax.evaluate` does, importable (`measure.evaluate(workdir,
Request(...))`); see gan_jax/evaluate.py for the measures and the files
written."""

from collections.abc import Sequence

import dataclasses
import json
import os

from etils import epath
import jax
import numpy as np

from gan_jax import train
from gan_jax import trained_ensemble
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
from gan_jax.run import run_dir

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
    ensemble_weights: tuple[float, ...] | None = None
    out: str | None = None


def evaluate(workdir: epath.PathLike | Sequence[epath.PathLike],
             request: Request = Request()) -> dict | None:
    """Measures the run in `workdir` as `request` says (the module docstring):
    prints the table and writes `evaluation_<step>.json` (returned) and the
    memorisation figure; with `save_stats`, writes that file only (returns
    None). Several directories, or sweep members
    (`gan_jax.trained_ensemble`), are measured as one ensemble, weighted by
    `request.ensemble_weights`; their files go to `request.out`.

    A toy-mixture run (or ensemble) is measured as its evaluations are:
    modes covered, high-quality fraction and reverse KL of
    `--num_samples` points, with their scatter plot `evaluation_<step>.png`.

    Raises:
      FileNotFoundError, ValueError: what the user can fix (no run, no
        feature network, an unreadable statistics or image folder), before
        any file is written.
    """
    workdirs = ([workdir] if isinstance(workdir, (str, os.PathLike))
                else list(workdir))
    # A run directory is one member; anything else has no directory of its own.
    one_run = (len(workdirs) == 1
               and (epath.Path(workdirs[0]) / run_dir.CONFIG_FILE).exists())
    if not (request.out or one_run):
        raise ValueError(
            "--out=DIR is needed to evaluate an ensemble or a sweep member: "
            "its files are written there, never into a run's own directory "
            "(e.g. --out=runs/ensemble_eval).")
    members = trained_ensemble.open_members([str(w) for w in workdirs])
    run = members[0].run
    workdir = epath.Path(request.out) if request.out else epath.Path(workdirs[0])
    if run.image_to_image and len(members) == 1:
        return _evaluate_image_to_image(run, workdir, request.num_samples)
    generator = trained_ensemble.create(members, request.ensemble_weights)
    spec = run.spec
    key = jax.random.key(request.seed)
    num = request.num_samples or spec.eval.num_samples
    step = _step_label([member.run.step for member in members])
    labels = {}  # What was measured, in words (beside the numbers in the JSON).
    if not one_run:
        labels["ensemble"] = trained_ensemble.describe(members, generator)
    source = (members[0].source if len(members) == 1 else
              f"ensemble of {len(members)}: " + ", ".join(
                  f"{m.source} (weight {w:.3g})"
                  for m, w in zip(members, generator.weights)))
    if spec.data.source == "toy":
        return _evaluate_toy(generator, key, spec, num, run.step,
                             workdir / f"evaluation_{step}", source, labels)
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
    dataset = gan_data.reference_dataset(spec)
    real_images = np.concatenate(list(evaluator.real_image_batches(dataset, num)))
    real = features_lib.extract_all(extractor, [real_images])
    if request.save_stats:
        _save_statistics(request.save_stats, real["features"], extractor, spec)
        return None

    if request.images:
        fake_images = image_files.read_image_folder(request.images,
                                                    run.data_spec.sample_shape)
        source = request.images
    else:
        classes = None
        if spec.model.num_classes:
            classes = sampling.balanced_labels(num, spec.model.num_classes,
                                               spec.data.classes)
        generator = evaluator.evaluation_state(generator, key, spec)
        fake_images = sampling.generate(
            generator, jax.random.fold_in(key, 0), num,
            latent_dim=spec.model.latent_dim,
            batch_size=min(spec.eval.batch_size, num), labels=classes,
            categories=spec.tricks.infogan_categories)
        labels["generator"] = evaluator.generator_label(generator, spec)
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
    visualize.save_png(figure, workdir / f"memorization_{step}.png")

    report = dict(scalars, step=run.step, num_generated=len(fake_images),
                  num_real=len(real_images), source=source, **labels)
    _write_report(workdir / f"evaluation_{step}.json", report)
    print_table(scalars, f"{source}: {len(fake_images)} generated vs "
                f"{len(real_images)} real images, {_describe(extractor)}")
    return report


def _step_label(steps: list[int]) -> str:
    """The step in the names of the files written: an ensemble's members'
    steps joined by "-" where they differ."""
    return "-".join(f"{step:07d}" for step in dict.fromkeys(steps))


def _write_report(path: epath.Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def _evaluate_toy(generator, key: jax.Array, spec, num: int, step: int,
                  stem: epath.Path, source: str, labels: dict) -> dict:
    """Mode coverage of `num` points, as a run's evaluations measure it;
    writes `<stem>.json` and the scatter plot `<stem>.png`."""
    spec = dataclasses.replace(spec, eval=dataclasses.replace(
        spec.eval, num_samples=num))
    evaluation = evaluator.evaluate(generator, key, spec, step)
    visualize.save_png(evaluation.images["samples"], stem.with_suffix(".png"))
    report = dict(evaluation.scalars, step=step, num_generated=num,
                  source=source, **evaluation.labels, **labels)
    _write_report(stem.with_suffix(".json"), report)
    print_table(evaluation.scalars, f"{source}: {num} generated points of "
                f"{spec.data.name}")
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
