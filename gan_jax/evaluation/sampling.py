"""Drawing samples from a generator: batches, fixed grids and interpolations.

A generator is a trained state, or an ensemble of them drawn as one mixture
(`gan_jax.evaluation.ensemble`); `generate_batches`, `generate` and `draw`
take either.

Samples always come from the EMA weights in inference mode (BatchNorm uses its
running statistics), the generator a user would ship. Every draw is a pure
function of an explicit key, so the same key gives the same pictures: the
fixed-noise grid of each evaluation shows the same latents as training moves.

The running statistics were accumulated for the training weights, not the EMA
ones; `gan_jax.evaluation.standing_stats` re-estimates them for the EMA weights.

With InfoGAN's categorical code (`categories > 0`, Chen et al. 2016) the first
`categories` latent entries are a one-hot code, as in `gan_jax.game.latents`.
"""

from collections.abc import Iterator
from collections.abc import Sequence
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import ensemble as ensemble_lib
from gan_jax.game import latents as latents_lib
from gan_jax.game.state import apply_network
from gan_jax.game.state import GANState

GRID_COLUMNS = 10  # Columns of a class-conditional grid: one latent each.
UNCONDITIONAL_GRID = 8  # An unconditional grid is 8 x 8.


class GridInputs(NamedTuple):
    """Latents (and labels) laid out row-major as a `num_rows x num_columns` grid."""
    latents: jax.Array
    labels: jax.Array | None
    num_rows: int
    num_columns: int


@functools.partial(jax.jit, static_argnames=("truncation_psi",))
def generate_from(state: GANState, latents: jax.Array,
                  labels: jax.Array | None = None, *,
                  truncation_psi: float = 1.0) -> jax.Array:
    """The EMA generator's samples for given latents (and labels).

    `truncation_psi` != 1 samples with the truncation trick (StyleGAN's
    w = w_avg + psi (w - w_avg); Karras et al. 2019), for the generators of
    `models.TRUNCATABLE_GENERATORS` only (`models.check_truncation`).
    """
    options = {} if truncation_psi == 1.0 else {"truncation_psi": truncation_psi}
    samples, _ = apply_network(state.generator, state.ema_params, latents,
                               labels=labels, train=False, **options)
    return samples


def generated_classes(num_classes: int,
                      classes: Sequence[int] | None = None) -> np.ndarray:
    """The classes a conditional generator is asked for when none is named:
    `classes` (a run's `data.classes`, the labels it trained on, e.g. the
    digits 5-9 of a fine-tuning run) or else all `num_classes`."""
    return np.asarray(range(num_classes) if classes is None else classes, np.int32)


def balanced_labels(num: int, num_classes: int,
                    classes: Sequence[int] | None = None) -> np.ndarray:
    """`c_0, c_1, ..., c_0, c_1, ...` over `generated_classes`: every class
    equally often."""
    chosen = generated_classes(num_classes, classes)
    return chosen[np.arange(num) % len(chosen)]


def requested_labels(num: int, num_classes: int | None, label: int | None,
                     classes: Sequence[int] | None = None) -> np.ndarray | None:
    """The labels `gan_jax.sample` draws: None for unconditional models, the
    `generated_classes` in turn, or only class `label` (any of the model's)."""
    if not num_classes:
        if label is not None:
            raise ValueError("--label needs a conditional model; this run's "
                             "model is unconditional.")
        return None
    if label is None:
        return balanced_labels(num, num_classes, classes)
    if not 0 <= label < num_classes:
        raise ValueError(f"--label={label} is not a class of this model: use "
                         f"0 to {num_classes - 1}.")
    return np.full((num,), label, np.int32)


def draw(generator: GANState | ensemble_lib.Ensemble, latents: jax.Array,
         labels: jax.Array | np.ndarray | None = None,
         members: np.ndarray | None = None, *,
         truncation_psi: float = 1.0) -> np.ndarray:
    """`generate_from` on the host, for one generator or an ensemble.

    For an `ensemble.Ensemble`, row i is drawn by member `members[i]` from
    `latents[i]` (default: `ensemble.member_indices` of the rows, grouped by
    member). Each member present runs on the whole batch, so that one
    compiled shape serves every call; grouped members make that at most K - 1
    extra batches over a whole stream.
    """
    if not isinstance(generator, ensemble_lib.Ensemble):
        return np.asarray(jax.device_get(generate_from(
            generator, latents, labels, truncation_psi=truncation_psi)))
    if members is None:
        members = ensemble_lib.member_indices(len(latents), generator.weights)
    drawn = None
    for member in np.unique(members):
        samples = draw(generator.states[member], latents, labels,
                       truncation_psi=truncation_psi)
        if drawn is None:
            drawn = np.empty_like(samples)
        rows = members == member
        drawn[rows] = samples[rows]
    return drawn


def generate_batches(generator: GANState | ensemble_lib.Ensemble,
                     key: jax.Array, num: int, *,
                     latent_dim: int, batch_size: int,
                     labels: np.ndarray | None = None,
                     categories: int = 0,
                     truncation_psi: float = 1.0) -> Iterator[np.ndarray]:
    """Yields `num` samples as host arrays of at most `batch_size`, so that
    evaluating 50,000 samples never holds them all in memory.

    Args:
      generator: the trained state (its EMA generator is used), or an
        `ensemble.Ensemble` of them: sample i is then drawn by member
        `ensemble.member_indices(num, weights)[i]` from the latent a single
        generator would use at i.
      key: batch `i` uses the latents of `fold_in(key, i)`.
      num: number of samples.
      latent_dim: size of z.
      batch_size: samples per generator call.
      labels: `(num,)` int class labels for a conditional generator, else None.
      categories: InfoGAN categories coded in the first latent entries (0 = none).
      truncation_psi: see `generate_from`.
    """
    members = None
    if isinstance(generator, ensemble_lib.Ensemble):
        members = ensemble_lib.member_indices(num, generator.weights)
    for i, start in enumerate(range(0, num, batch_size)):
        size = min(batch_size, num - start)
        latents = latents_lib.sample_latents(jax.random.fold_in(key, i), batch_size,
                                       latent_dim, categories)
        # Pad the last batch to `batch_size` so one compiled shape serves all.
        batch_labels = batch_members = None
        if labels is not None:
            batch_labels = np.resize(labels[start:start + size], batch_size)
        if members is not None:
            batch_members = np.resize(members[start:start + size], batch_size)
        yield draw(generator, latents, batch_labels, batch_members,
                   truncation_psi=truncation_psi)[:size]


def generate(generator: GANState | ensemble_lib.Ensemble, key: jax.Array,
             num: int, *, latent_dim: int, batch_size: int,
             labels: np.ndarray | None = None, categories: int = 0,
             truncation_psi: float = 1.0) -> np.ndarray:
    """`num` samples gathered on the host (see `generate_batches`)."""
    return np.concatenate(list(generate_batches(
        generator, key, num, latent_dim=latent_dim, batch_size=batch_size,
        labels=labels, categories=categories, truncation_psi=truncation_psi)))


def _with_code(noise: jax.Array, codes: jax.Array, categories: int) -> jax.Array:
    """Latents whose first `categories` entries are the one-hot `codes` and
    whose other entries are `noise` `(n, latent_dim - categories)`."""
    one_hot = jax.nn.one_hot(codes, categories, dtype=jnp.float32)
    return jnp.concatenate([one_hot, jnp.asarray(noise, jnp.float32)], axis=-1)


def _check_categories(categories: int, latent_dim: int) -> None:
    if categories > latent_dim:
        raise ValueError(f"infogan_categories={categories} exceeds "
                         f"latent_dim={latent_dim}; the code is part of z.")


def grid_inputs(key: jax.Array, latent_dim: int, num_classes: int,
                categories: int = 0, classes: Sequence[int] | None = None
                ) -> GridInputs:
    """Fixed inputs of a sample grid.

    Unconditional: 8 x 8 independent latents. Conditional: one row per class
    (of `generated_classes(num_classes, classes)`) and `GRID_COLUMNS` latents shared by every row, so a column shows one
    latent ("style") drawn as each class. Unconditional InfoGAN
    (`categories > 0`): row `r` has category `r` and the columns share their
    Gaussian entries, so a row shows what the code controls with the noise
    held fixed (Chen et al. 2016, Fig. 2). A conditional InfoGAN keeps the
    class layout with a random category per column.
    """
    _check_categories(categories, latent_dim)
    if categories and not num_classes:
        noise = latents_lib.sample_latents(key, GRID_COLUMNS, latent_dim)[:, categories:]
        codes = jnp.repeat(jnp.arange(categories, dtype=jnp.int32), GRID_COLUMNS)
        latents = _with_code(jnp.tile(noise, (categories, 1)), codes, categories)
        return GridInputs(latents, None, categories, GRID_COLUMNS)
    if not num_classes:
        latents = latents_lib.sample_latents(key, UNCONDITIONAL_GRID ** 2, latent_dim)
        return GridInputs(latents, None, UNCONDITIONAL_GRID, UNCONDITIONAL_GRID)
    column_latents = latents_lib.sample_latents(key, GRID_COLUMNS, latent_dim,
                                                categories)
    rows = generated_classes(num_classes, classes)
    latents = jnp.tile(column_latents, (len(rows), 1))
    labels = jnp.repeat(jnp.asarray(rows), GRID_COLUMNS)
    return GridInputs(latents, labels, len(rows), GRID_COLUMNS)


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation between latents (White 2016, "Sampling Generative
    Networks"): stays on the shell where Gaussian latents live, unlike a
    straight line whose midpoint has an atypically small norm.

    Args:
      z0, z1: `(d,)` end points.
      t: `(n,)` positions in [0, 1].

    Returns:
      `(n, d)` latents; `t = 0` gives `z0` and `t = 1` gives `z1`.
    """
    t = jnp.asarray(t, jnp.float32)[:, None]
    unit0 = z0 / jnp.linalg.norm(z0)
    unit1 = z1 / jnp.linalg.norm(z1)
    omega = jnp.arccos(jnp.clip(jnp.dot(unit0, unit1), -1.0, 1.0))
    sin_omega = jnp.sin(omega)
    # Nearly parallel end points: the slerp weights tend to the linear ones.
    safe_sin = jnp.where(sin_omega > 1e-6, sin_omega, 1.0)
    spherical = (jnp.sin((1.0 - t) * omega) * z0 + jnp.sin(t * omega) * z1) / safe_sin
    linear = (1.0 - t) * z0 + t * z1
    return jnp.where(sin_omega > 1e-6, spherical, linear)


def interpolation_inputs(key: jax.Array, *, latent_dim: int, num_classes: int,
                         num_rows: int = 4, num_steps: int = 10,
                         categories: int = 0,
                         classes: Sequence[int] | None = None) -> GridInputs:
    """`num_rows` strips of `num_steps` latents, each a slerp between two z.

    For a conditional generator row `i` keeps the `i`-th of the
    `generated_classes` (cyclically), so a strip changes style, not identity. Likewise with an InfoGAN code row `i`
    keeps category `i mod categories` and only the Gaussian entries are
    slerped: a one-hot code has no meaningful point half-way between two.
    """
    _check_categories(categories, latent_dim)
    ends = latents_lib.sample_latents(key, 2 * num_rows, latent_dim)
    t = jnp.linspace(0.0, 1.0, num_steps)
    if categories:
        noise = ends[:, categories:]
        paths = jnp.concatenate([slerp(noise[2 * r], noise[2 * r + 1], t)
                                 for r in range(num_rows)])
        codes = jnp.repeat(jnp.arange(num_rows, dtype=jnp.int32) % categories,
                           num_steps)
        latents = _with_code(paths, codes, categories)
    else:
        latents = jnp.concatenate([slerp(ends[2 * r], ends[2 * r + 1], t)
                                   for r in range(num_rows)])
    labels = None
    if num_classes:
        labels = jnp.repeat(balanced_labels(num_rows, num_classes, classes),
                            num_steps)
    return GridInputs(latents, labels, num_rows, num_steps)

