"""2-D Gaussian mixtures: the standard mode-collapse benchmark.

A ring of 8 Gaussians (Metz et al. 2017, "Unrolled Generative Adversarial
Networks") and a 5x5 grid of 25 Gaussians (Srivastava et al. 2017, "VEEGAN";
Lin et al. 2018, "PacGAN"). Their modes are known exactly, so a generator's
mode coverage can be measured (see `gan_jax.metrics.mode_coverage`).

The mixtures are also a TFDS dataset, `toy_mixture/ring8` and
`toy_mixture/grid25`, generated locally from fixed seeds, so they go through
the same input pipeline as every other dataset:

    ds = load_toy_mixture("ring8", "train", data_dir)
"""

import dataclasses

from etils import epath
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds


@dataclasses.dataclass(frozen=True)
class MixtureSpec:
    """An equal-weight mixture of isotropic 2-D Gaussians."""
    modes: tuple[tuple[float, float], ...]
    std: float
    description: str


def _ring(num_modes: int, radius: float) -> tuple[tuple[float, float], ...]:
    angles = 2.0 * np.pi * np.arange(num_modes, dtype=np.float64) / num_modes
    return tuple((radius * float(np.cos(a)), radius * float(np.sin(a)))
                 for a in angles)


def _grid(coords: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x in coords for y in coords)


MIXTURES: dict[str, MixtureSpec] = {
    # Metz et al. 2017: radius 2, std 0.02; the first mode sits at angle 0.
    "ring8": MixtureSpec(
        modes=_ring(8, 2.0), std=0.02,
        description="8 Gaussians on a circle of radius 2, std 0.02."),
    # Srivastava et al. 2017 and Lin et al. 2018: modes on {-4,-2,0,2,4}^2.
    "grid25": MixtureSpec(
        modes=_grid((-4.0, -2.0, 0.0, 2.0, 4.0)), std=0.05,
        description="25 Gaussians on the 5x5 grid {-4,-2,0,2,4}^2, std 0.05."),
}


def _spec(name: str) -> MixtureSpec:
    if name not in MIXTURES:
        raise ValueError(f"Unknown toy mixture {name!r}. Valid names: "
                         f"{', '.join(sorted(MIXTURES))}. Set --config.data.name.")
    return MIXTURES[name]


def mixture_modes(name: str) -> np.ndarray:
    """The `(K, 2)` float32 mode centres of mixture `name` (a fresh copy)."""
    return np.asarray(_spec(name).modes, dtype=np.float32)


def mixture_std(name: str) -> float:
    """The per-coordinate standard deviation of every component of `name`."""
    return float(_spec(name).std)


def sample_mixture(name: str, num: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Draws `num` i.i.d. points from mixture `name`.

    Args:
      name: a key of `MIXTURES`.
      num: number of points.
      rng: the source of randomness; the draw is a pure function of its state.

    Returns:
      `(points, mode_index)`: `(num, 2)` float32 points and the `(num,)` int64
      index of the component each point was drawn from (uniform over modes).
    """
    modes = mixture_modes(name).astype(np.float64)
    mode_index = rng.integers(0, len(modes), size=num, dtype=np.int64)
    # Sum in float64 and cast once, so the points are the exact draw rounded.
    noise = rng.normal(0.0, mixture_std(name), size=(num, 2))
    points = (modes[mode_index] + noise).astype(np.float32)
    return points, mode_index


# Large enough that an epoch is many batches, small enough to prepare quickly.
_SPLIT_SIZES = {"train": 100_000, "test": 10_000}
# Distinct seeds: the test split is a draw independent of the train split.
_SPLIT_SEEDS = {"train": 20170101, "test": 20170102}


@dataclasses.dataclass(eq=False)
class ToyMixtureConfig(tfds.core.BuilderConfig):
    """Selects a mixture: the config `name` is a key of `MIXTURES`."""


class ToyMixture(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of the 2-D mixtures, registered as `toy_mixture/<name>`.

    Nothing is downloaded: `_generate_examples` draws from `sample_mixture` with
    a fixed seed per split, so every preparation writes the same records.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        ToyMixtureConfig(name=name, version=tfds.core.Version("1.0.0"),
                         description=spec.description)
        for name, spec in MIXTURES.items()
    ]
    # TFDS 4.9.10 infers `code_path` through `importlib_resources`, which it
    # does not declare as a dependency (tensorflow/datasets#11212); knowing the
    # file avoids that. With no URLs, the absent `checksums.tsv` next to it is
    # never needed, and no README/CITATIONS files are read (see `_info`).
    code_path = epath.Path(__file__)
    pkg_dir_path = epath.Path(__file__).parent

    def _info(self) -> tfds.core.DatasetInfo:
        spec = MIXTURES[self.builder_config.name]
        return tfds.core.DatasetInfo(
            builder=self,
            description=spec.description,
            features=tfds.features.FeaturesDict({
                "point": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                "mode": tfds.features.ClassLabel(num_classes=len(spec.modes)),
            }),
            supervised_keys=("point", "mode"),
            # Examples are i.i.d., so keep generation order: the records are
            # then exactly `sample_mixture(name, n, default_rng(seed))`.
            disable_shuffling=True,
            citation=("Metz et al. 2017, Unrolled Generative Adversarial "
                      "Networks; Srivastava et al. 2017, VEEGAN; "
                      "Lin et al. 2018, PacGAN."),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # Generated locally: nothing to download.
        return {split: self._generate_examples(split) for split in _SPLIT_SIZES}

    def _generate_examples(self, split: str):
        rng = np.random.default_rng(_SPLIT_SEEDS[split])
        points, modes = sample_mixture(self.builder_config.name,
                                       _SPLIT_SIZES[split], rng)
        for i, (point, mode) in enumerate(zip(points, modes)):
            yield i, {"point": point, "mode": int(mode)}


def load_toy_mixture(name: str, split: str,
                     data_dir: str | None = None) -> tf.data.Dataset:
    """The examples `{"point": (2,) float32, "mode": int64}` of one split.

    Prepares `toy_mixture/<name>` under `data_dir` first if needed (seconds).
    TFDS writes into a temporary directory and renames it when complete, so a
    reader never sees a half-written dataset; when several processes race, the
    loser's rename fails, and it reads the winner's identical records instead.

    Args:
      name: a key of `MIXTURES`.
      split: a TFDS split string, e.g. "train", "test" or "train[:50%]".
      data_dir: TFDS data directory; None means the TFDS default.
    """
    _spec(name)  # Unknown names fail here, with the list of valid ones.
    builder = tfds.builder(f"toy_mixture/{name}", data_dir=data_dir)
    if not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except OSError:  # Another process renamed its copy in first.
            builder = tfds.builder(f"toy_mixture/{name}", data_dir=data_dir)
            if not builder.is_prepared():
                raise
    return builder.as_dataset(split=split, shuffle_files=False)
