"""The one-class MNIST anomaly protocol: AUROC of f-AnoGAN, AnoGAN and a
pixel-space nearest-neighbour baseline, one split per held-out digit.

    python benchmarks/anomaly_mnist.py --workdir=runs/anomaly_mnist

For each digit k (`--digits`): a GAN of `configs/anomaly_mnist.py` trains on
the first 8,000 offline MNIST test images without digit k
(`data.classes`), in `<workdir>/held_out_<k>`; its f-AnoGAN encoder trains
on the same images; the other 2,000 images (all ten digits) are scored,
digit k being the positive (anomalous) class:
  - f-AnoGAN (`scores.izi_f`) on all 2,000;
  - AnoGAN (`scores.anogan` after the latent search) on the first
    `--anogan_limit` of them (its search costs `--search_steps` passes through
    G and D per image);
  - pixel NN: the L2 distance of each image to its nearest training image
    (the same nine-digit images, in [-1, 1]).
Every split writes `<workdir>/held_out_<k>/anomaly_auroc.json` and is skipped
when that exists; the table (markdown) goes to stdout and
`<workdir>/auroc_table.md`, with each split's wall time.
"""

import json
import time

from absl import app
from absl import flags
from absl import logging
from etils import epath
import numpy as np

from configs import anomaly_mnist
from gan_jax import defaults
from gan_jax import metrics
from gan_jax import train
from gan_jax.anomaly_detection import detector
from gan_jax.data import idx_folder
from gan_jax.data import image_files
from gan_jax.metrics import memorization

_WORKDIR = flags.DEFINE_string("workdir", None, "Where the ten runs go.")
_DIGITS = flags.DEFINE_list("digits", [str(d) for d in range(10)],
                            "Held-out digits, one split each.")
_DATA_PATH = flags.DEFINE_string("data_path", defaults.OFFLINE_MNIST_DIR,
                                 "The folder of the MNIST IDX test files.")
_VARIANT = flags.DEFINE_string("variant", "", "Variant of configs/anomaly_mnist.py "
                               "(tiny: a smoke test).")
_ENCODER_STEPS = flags.DEFINE_integer("encoder_steps", 400, "izi_f steps.")
_SEARCH_STEPS = flags.DEFINE_integer("search_steps", 100, "AnoGAN search steps.")
_ANOGAN_LIMIT = flags.DEFINE_integer("anogan_limit", 128,
                                     "Scored images AnoGAN searches for.")
_NUM_SCORED = flags.DEFINE_integer("num_scored", None, "Score only the first "
                                   "this many held-out images (smoke tests).")
flags.mark_flags_as_required(["workdir"])

_TRAIN_END = 8000  # configs/anomaly_mnist.py's TRAIN_SPLIT = test[:8000].


def _mnist_test(path: str) -> tuple[np.ndarray, np.ndarray]:
    images_path, labels_path = idx_folder.find_split_files(path)["test"]
    images = image_files.read_images(images_path, (28, 28, 1))
    return images, idx_folder.read_idx(labels_path, idx_folder.LABELS_MAGIC)


def _split(digit: int, images, labels, options: detector.Options) -> dict:
    workdir = epath.Path(_WORKDIR.value) / f"held_out_{digit}"
    result_path = workdir / "anomaly_auroc.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    started = time.time()
    config = anomaly_mnist.get_config(_VARIANT.value)
    normal = tuple(d for d in range(10) if d != digit)
    config.data.classes = normal
    train.train_and_evaluate(config, workdir)
    trained = time.time()
    run, gan = detector.open_run(workdir)
    encoder = detector.trained_encoder(run, gan, workdir, options, report=logging.info)
    scored = slice(_TRAIN_END, None if _NUM_SCORED.value is None
                   else _TRAIN_END + _NUM_SCORED.value)
    queries, is_anomaly = images[scored], labels[scored] == digit
    results = detector.score(gan, encoder, queries, options,
                             latent_dim=run.spec.model.latent_dim, report=logging.info)
    training = images[:_TRAIN_END][np.isin(labels[:_TRAIN_END], normal)]
    _, pixel_nn = memorization.nearest_neighbours(
        queries.reshape(len(queries), -1), training.reshape(len(training), -1))
    searched = slice(0, min(options.anogan_limit, len(queries)))
    report = {
        "digit": digit, "num_scored": len(queries),
        "num_anomalies": int(is_anomaly.sum()),
        "f_anogan": metrics.auroc(results["f_anogan"], is_anomaly),
        "f_anogan_residual_only": metrics.auroc(results["f_anogan_residual"],
                                                is_anomaly),
        "pixel_nn": metrics.auroc(pixel_nn, is_anomaly),
        "anogan_subset": {
            "num_scored": searched.stop,
            "num_anomalies": int(is_anomaly[searched].sum()),
            "anogan": _auroc_or_none(results["anogan"][searched], is_anomaly[searched]),
            "f_anogan": _auroc_or_none(results["f_anogan"][searched],
                                       is_anomaly[searched]),
            "pixel_nn": _auroc_or_none(pixel_nn[searched], is_anomaly[searched])},
        "gan_step": run.step,
        "train_seconds": trained - started,
        "score_seconds": time.time() - trained,
    }
    result_path.write_text(json.dumps(report, indent=2))
    return report


def _auroc_or_none(scores, is_anomaly) -> float | None:
    if not 0 < is_anomaly.sum() < len(is_anomaly) or np.isnan(scores).any():
        return None
    return metrics.auroc(scores, is_anomaly)


def _table(reports: list[dict]) -> str:
    def cell(value):
        return "n/a" if value is None else f"{value:.3f}"

    lines = ["| held-out digit | AUROC f-AnoGAN (all) | AUROC pixel NN (all) | "
             "AUROC AnoGAN (subset) | f-AnoGAN (subset) | pixel NN (subset) | "
             "anomalies (all / subset) | wall s (GAN + scoring) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in reports:
        s = r["anogan_subset"]
        lines.append(
            f"| {r['digit']} | {cell(r['f_anogan'])} | {cell(r['pixel_nn'])} | "
            f"{cell(s['anogan'])} | {cell(s['f_anogan'])} | {cell(s['pixel_nn'])} | "
            f"{r['num_anomalies']}/{r['num_scored']} , {s['num_anomalies']}/"
            f"{s['num_scored']} | {r['train_seconds']:.0f} + "
            f"{r['score_seconds']:.0f} |")

    def mean(get):
        values = [get(r) for r in reports]
        return None if any(v is None for v in values) else float(np.mean(values))

    lines.append(
        f"| mean | **{cell(mean(lambda r: r['f_anogan']))}** | "
        f"**{cell(mean(lambda r: r['pixel_nn']))}** | "
        f"**{cell(mean(lambda r: r['anogan_subset']['anogan']))}** | "
        f"{cell(mean(lambda r: r['anogan_subset']['f_anogan']))} | "
        f"{cell(mean(lambda r: r['anogan_subset']['pixel_nn']))} | | "
        f"{sum(r['train_seconds'] + r['score_seconds'] for r in reports):.0f} |")
    return "\n".join(lines)


def main(argv):
    del argv
    options = detector.Options(encoder_steps=_ENCODER_STEPS.value,
                               search_steps=_SEARCH_STEPS.value,
                               anogan_limit=_ANOGAN_LIMIT.value)
    images, labels = _mnist_test(_DATA_PATH.value)
    reports = []
    for digit in map(int, _DIGITS.value):
        reports.append(_split(digit, images, labels, options))
        logging.info("held-out %d: %s", digit, json.dumps(reports[-1]))
        table = _table(reports)
        (epath.Path(_WORKDIR.value) / "auroc_table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    app.run(main)
