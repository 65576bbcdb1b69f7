"""A trained run as an anomaly detector: what `python -m gan_jax.anomaly`
does, importable (`detector.open_run`, `detector.trained_encoder`,
`detector.score`).

The encoder of f-AnoGAN is trained once per GAN checkpoint, on the run's own
training data (`spec.data`), and saved with orbax in
`<workdir>/anomaly/encoder/checkpoints/<GAN step>/` with its settings in
`<workdir>/anomaly/encoder/encoder_<GAN step>.json`; later calls restore it.
Nothing else in the run directory is touched: the GAN's checkpoints are only
read.

This module reads data through the input pipeline (TensorFlow); the
computations it calls (`scores`, `latent_search`, `encoder_training`,
`frozen_gan`) import none.
"""

from collections.abc import Callable
import dataclasses
import json

from etils import epath
from flax.training import train_state
import jax
import numpy as np
import optax
import orbax.checkpoint as ocp

from gan_jax import train
from gan_jax.anomaly_detection import encoder_training
from gan_jax.anomaly_detection import frozen_gan
from gan_jax.anomaly_detection import latent_search
from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import standing_stats
from gan_jax.evaluation import visualize
from gan_jax.models import encoder as encoder_lib
from gan_jax.run import checkpoint

ENCODER_DIR = ("anomaly", "encoder")

Report = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Options:
    """How to train the encoder and search latents (the command's flags).

    Attributes:
      encoder_steps, encoder_batch_size, encoder_channels,
      encoder_learning_rate: the encoder E and its izi_f training (Adam).
      encoder_examples: training images E learns from (the first ones of
        the run's split); None takes the whole split.
      search_steps, search_learning_rate: AnoGAN's latent search (Adam);
        0 steps skips AnoGAN.
      anogan_limit: AnoGAN scores only the first this many images (its
        search costs `search_steps` passes through G and D per image);
        None scores all.
      batch_size: images per compiled call when scoring.
      seed: the encoder's initialisation and batches, and the search's
        starting latents.
    """
    encoder_steps: int = 2000
    encoder_batch_size: int = 64
    encoder_channels: int = 32
    encoder_learning_rate: float = encoder_training.LEARNING_RATE
    encoder_examples: int | None = None
    search_steps: int = latent_search.ANOGAN_STEPS
    search_learning_rate: float = 0.05
    anogan_limit: int | None = None
    batch_size: int = 128
    seed: int = 0


def _silent(_: str) -> None:
    pass


def open_run(workdir: epath.PathLike) -> tuple[train.TrainedRun, frozen_gan.FrozenGAN]:
    """The trained run in `workdir` and its frozen G and D.

    Raises:
      FileNotFoundError: no trained run there.
      ValueError: the run cannot be scored (not an unconditional image GAN,
        or its discriminator sows no features), saying which runs can.
    """
    run = train.restore_trained(workdir)
    if run.image_to_image:
        raise ValueError(f"{workdir} holds an image-to-image run; anomaly "
                         "detection needs an unconditional image GAN (e.g. "
                         "--config=configs/anomaly_mnist.py).")
    if run.spec.model.num_classes:
        raise ValueError(f"{workdir} holds a conditional GAN (num_classes="
                         f"{run.spec.model.num_classes}); anomaly detection "
                         "searches z of an unconditional one: train with "
                         "--config.model.num_classes=0.")
    if len(run.data_spec.sample_shape) != 3:
        raise ValueError(f"{workdir} holds a GAN of samples of shape "
                         f"{run.data_spec.sample_shape}, not images.")
    state = standing_stats.with_standing_stats(run.state, jax.random.key(0), run.spec)
    gan = frozen_gan.from_state(state)
    frozen_gan.check_features(gan, run.data_spec.sample_shape)
    return run, gan


def training_images(run: train.TrainedRun, limit: int | None) -> np.ndarray:
    """The first `limit` (or all) images of the run's training split."""
    dataset = input_pipeline.load(run.spec.data).dataset
    if limit is None:
        limit = -1
    return np.concatenate(list(evaluator.real_image_batches(dataset, limit)))


def _encoder(run: train.TrainedRun, options: Options) -> encoder_lib.ImageEncoder:
    return encoder_lib.ImageEncoder(sample_shape=tuple(run.data_spec.sample_shape),
                                    latent_dim=run.spec.model.latent_dim,
                                    base_channels=options.encoder_channels)


def _encoder_settings(options: Options) -> dict:
    return {name: getattr(options, name) for name in (
        "encoder_steps", "encoder_batch_size", "encoder_channels",
        "encoder_learning_rate", "encoder_examples", "seed")}


def trained_encoder(run: train.TrainedRun, gan: frozen_gan.FrozenGAN,
                    workdir: epath.PathLike, options: Options, *,
                    report: Report = _silent) -> train_state.TrainState:
    """The run's f-AnoGAN encoder for its newest GAN checkpoint: restored
    when saved (with the settings it was trained with, which a mismatch
    reports), else trained on the run's training images and saved."""
    directory = epath.Path(workdir).joinpath(*ENCODER_DIR)
    key = jax.random.key(options.seed)
    settings_path = directory / f"encoder_{run.step}.json"
    manager = checkpoint.create_manager(directory, save_every=1, max_to_keep=None)
    if run.step in manager.all_steps():
        # Its settings file is written after the checkpoint; without it (a
        # save interrupted in between) the flags' settings shape the template.
        saved = (json.loads(settings_path.read_text()) if settings_path.exists()
                 else _encoder_settings(options))
        if saved != _encoder_settings(options):
            report(f"Using the encoder saved in {directory} for GAN step "
                   f"{run.step}, trained with {saved} (delete that folder to "
                   "train one with the settings given).")
        # The saved encoder's own width, not the flag's, shapes the template.
        state = encoder_training.create_state(
            _encoder(run, dataclasses.replace(
                options, encoder_channels=saved["encoder_channels"])),
            jax.random.fold_in(key, 0), run.data_spec.sample_shape,
            learning_rate=saved["encoder_learning_rate"])
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        return manager.restore(run.step, args=ocp.args.StandardRestore(abstract))
    state = encoder_training.create_state(
        _encoder(run, options), jax.random.fold_in(key, 0),
        run.data_spec.sample_shape, learning_rate=options.encoder_learning_rate)
    images = training_images(run, options.encoder_examples)
    report(f"Training the f-AnoGAN encoder (izi_f) for {options.encoder_steps} "
           f"steps on {len(images)} training images of {run.spec.data.split!r}.")
    state = encoder_training.fit(
        state, gan, jax.device_put(images), jax.random.fold_in(key, 1),
        num_steps=options.encoder_steps, batch_size=options.encoder_batch_size,
        report=lambda step, metrics: report(
            f"encoder step {step}/{options.encoder_steps}: izi_f "
            f"{metrics['loss']:.4f} (residual {metrics['residual']:.4f}, "
            f"features {metrics['discrimination']:.4f})"))
    checkpoint.save(manager, run.step, state, force=True)
    manager.wait_until_finished()
    settings_path.write_text(json.dumps(_encoder_settings(options), indent=2))
    return state


_features = jax.jit(frozen_gan.features)


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    """`array` with its last row repeated up to `size` rows: every call of a
    compiled function then sees one shape."""
    missing = size - len(array)
    if not missing:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])


def score(gan: frozen_gan.FrozenGAN, encoder: train_state.TrainState,
          images: np.ndarray, options: Options, *, latent_dim: int,
          report: Report = _silent) -> dict[str, np.ndarray]:
    """Both anomaly scores of each image, higher meaning more anomalous.

    Returns:
      "f_anogan" (with "f_anogan_residual", "f_anogan_discrimination") and
      "reconstructions" (G(E(x))) for every image; "anogan" for the first
      `options.anogan_limit` images (NaN for the others, and for all when
      `search_steps` is 0).
    """
    batch = min(options.batch_size, len(images))
    parts = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        result = encoder_training.encode_and_score(encoder, gan,
                                                   _padded(chunk, batch))
        parts.append({name: np.asarray(value)[:len(chunk)]
                      for name, value in result.items() if name != "latents"})
    results = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    results["anogan"] = np.full(len(images), np.nan, np.float32)
    num_searched = len(images) if options.anogan_limit is None else min(
        options.anogan_limit, len(images))
    if not options.search_steps or not num_searched:
        return results
    optimizer = optax.adam(options.search_learning_rate)
    key = jax.random.fold_in(jax.random.key(options.seed), 2)
    for start in range(0, num_searched, batch):
        chunk = _padded(images[start:min(start + batch, num_searched)], batch)
        indices = np.arange(start, start + batch)
        initial = jax.vmap(lambda i: jax.random.normal(
            jax.random.fold_in(key, i), (latent_dim,)))(indices)
        chunk_features = _features(gan, chunk)
        _, losses = latent_search.anogan_search(
            gan, chunk, chunk_features, initial, num_steps=options.search_steps,
            optimizer=optimizer)
        stop = min(start + batch, num_searched)
        results["anogan"][start:stop] = np.asarray(losses)[:stop - start]
        report(f"AnoGAN latent search: {stop}/{num_searched} images")
    return results



RANK_BY = ("f_anogan", "anogan")
_CSV_COLUMNS = ("index", "rank", "f_anogan", "f_anogan_residual",
                "f_anogan_discrimination", "anogan")


def ranking(results: dict[str, np.ndarray], rank_by: str) -> np.ndarray:
    """Image indices from most to least anomalous by `results[rank_by]`;
    images without that score (NaN) come last, in index order."""
    values = np.asarray(results[rank_by], np.float64)
    # A stable sort of -score keeps equal scores in index order; NaN sorts last.
    return np.argsort(-values, kind="stable")


def write_outputs(out: epath.PathLike, images: np.ndarray,
                  results: dict[str, np.ndarray], *, rank_by: str,
                  strip_size: int, about: dict) -> dict[str, epath.Path]:
    """Writes `scores.csv` (one row per image, in input order, with its rank),
    `scores.json` (the same and `about`) and `ranked.png` (the `strip_size`
    most and least anomalous images over their reconstructions G(E(x)),
    most anomalous first, captioned with rank and score). Returns the paths."""
    out = epath.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    order = ranking(results, rank_by)
    ranks = np.empty(len(order), np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    rows = [{"index": i, "rank": int(ranks[i]),
             **{name: _number(results[name][i]) for name in _CSV_COLUMNS[2:]}}
            for i in range(len(images))]
    paths = {"csv": out / "scores.csv", "json": out / "scores.json",
             "strip": out / "ranked.png"}
    lines = [",".join(_CSV_COLUMNS)] + [
        ",".join("" if row[c] is None else str(row[c]) for c in _CSV_COLUMNS)
        for row in rows]
    paths["csv"].write_text("\n".join(lines) + "\n")
    paths["json"].write_text(json.dumps(dict(about, rank_by=rank_by, images=rows),
                                        indent=1))
    shown = (order if len(order) <= 2 * strip_size
             else np.concatenate([order[:strip_size], order[-strip_size:]]))
    captions = [f"#{ranks[i]} {rank_by}\n{results[rank_by][i]:.4g}" for i in shown]
    picture = visualize.captioned_strip(
        [images[shown], results["reconstructions"][shown]],
        ["x", "G(E(x))"], captions)
    visualize.save_png(picture, paths["strip"])
    return paths


def _number(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value
