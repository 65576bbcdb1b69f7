"""Drawing samples from a generator: batches, fixed grids and interpolations.

Samples always come from the EMA weights in inference mode (BatchNorm uses its
running statistics), the generator a user would ship. Every draw is a pure
function of an explicit key, so the same key gives the same pictures: the
fixed-noise grid of each evaluation shows the same latents as training moves.

The running statistics were accumulated for the training weights, not the EMA
ones; `with_standing_stats` re-estimates them for the EMA weights ("standing
statistics", Brock et al. 2019) when `config.eval.standing_stats_batches > 0`.

With InfoGAN's categorical code (`categories > 0`, Chen et al. 2016) the first
`categories` latent entries are a one-hot code, as in `steps.sample_latents`.
"""

from collections.abc import Iterator
import functools
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import steps
from gan_jax.state import GANState, NetworkState, apply_network

GRID_COLUMNS = 10  # Columns of a class-conditional grid: one latent each.
UNCONDITIONAL_GRID = 8  # An unconditional grid is 8 x 8.


class GridInputs(NamedTuple):
    """Latents (and labels) laid out row-major as a `num_rows x num_columns` grid."""
    latents: jax.Array
    labels: jax.Array | None
    num_rows: int
    num_columns: int


@jax.jit
def generate_from(state: GANState, latents: jax.Array,
                  labels: jax.Array | None = None) -> jax.Array:
    """The EMA generator's samples for given latents (and labels)."""
    samples, _ = apply_network(state.generator, state.ema_params, latents,
                               labels=labels, train=False)
    return samples


def balanced_labels(num: int, num_classes: int) -> np.ndarray:
    """`0, 1, ..., num_classes - 1, 0, 1, ...`: every class equally often."""
    return np.arange(num, dtype=np.int32) % num_classes


def requested_labels(num: int, num_classes: int | None,
                     label: int | None) -> np.ndarray | None:
    """The labels `gan_jax.sample` draws: None for unconditional models, all
    classes in turn, or only class `label`."""
    if not num_classes:
        if label is not None:
            raise ValueError("--label needs a conditional model; this run's "
                             "model is unconditional.")
        return None
    if label is None:
        return balanced_labels(num, num_classes)
    if not 0 <= label < num_classes:
        raise ValueError(f"--label={label} is not a class of this model: use "
                         f"0 to {num_classes - 1}.")
    return np.full((num,), label, np.int32)


def generate_batches(state: GANState, key: jax.Array, num: int, *,
                     latent_dim: int, batch_size: int,
                     labels: np.ndarray | None = None,
                     categories: int = 0) -> Iterator[np.ndarray]:
    """Yields `num` samples as host arrays of at most `batch_size`, so that
    evaluating 50,000 samples never holds them all in memory.

    Args:
      state: the trained state (its EMA generator is used).
      key: batch `i` uses the latents of `fold_in(key, i)`.
      num: number of samples.
      latent_dim: size of z.
      batch_size: samples per generator call.
      labels: `(num,)` int class labels for a conditional generator, else None.
      categories: InfoGAN categories coded in the first latent entries (0 = none).
    """
    for i, start in enumerate(range(0, num, batch_size)):
        size = min(batch_size, num - start)
        latents = steps.sample_latents(jax.random.fold_in(key, i), batch_size,
                                       latent_dim, categories)
        batch_labels = None
        if labels is not None:
            # Pad the last batch to `batch_size` so one compiled shape serves all.
            batch_labels = np.resize(labels[start:start + size], batch_size)
        yield np.asarray(jax.device_get(
            generate_from(state, latents, batch_labels)))[:size]


def generate(state: GANState, key: jax.Array, num: int, *, latent_dim: int,
             batch_size: int, labels: np.ndarray | None = None,
             categories: int = 0) -> np.ndarray:
    """`num` samples gathered on the host (see `generate_batches`)."""
    return np.concatenate(list(generate_batches(
        state, key, num, latent_dim=latent_dim, batch_size=batch_size,
        labels=labels, categories=categories)))


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
                categories: int = 0) -> GridInputs:
    """Fixed inputs of a sample grid.

    Unconditional: 8 x 8 independent latents. Conditional: one row per class
    and `GRID_COLUMNS` latents shared by every row, so a column shows one
    latent ("style") drawn as each class. Unconditional InfoGAN
    (`categories > 0`): row `r` has category `r` and the columns share their
    Gaussian entries, so a row shows what the code controls with the noise
    held fixed (Chen et al. 2016, Fig. 2). A conditional InfoGAN keeps the
    class layout with a random category per column.
    """
    _check_categories(categories, latent_dim)
    if categories and not num_classes:
        noise = steps.sample_latents(key, GRID_COLUMNS, latent_dim)[:, categories:]
        codes = jnp.repeat(jnp.arange(categories, dtype=jnp.int32), GRID_COLUMNS)
        latents = _with_code(jnp.tile(noise, (categories, 1)), codes, categories)
        return GridInputs(latents, None, categories, GRID_COLUMNS)
    if not num_classes:
        latents = steps.sample_latents(key, UNCONDITIONAL_GRID ** 2, latent_dim)
        return GridInputs(latents, None, UNCONDITIONAL_GRID, UNCONDITIONAL_GRID)
    column_latents = steps.sample_latents(key, GRID_COLUMNS, latent_dim, categories)
    latents = jnp.tile(column_latents, (num_classes, 1))
    labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), GRID_COLUMNS)
    return GridInputs(latents, labels, num_classes, GRID_COLUMNS)


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
                         categories: int = 0) -> GridInputs:
    """`num_rows` strips of `num_steps` latents, each a slerp between two z.

    For a conditional generator row `i` keeps class `i mod num_classes`, so a
    strip changes style, not identity. Likewise with an InfoGAN code row `i`
    keeps category `i mod categories` and only the Gaussian entries are
    slerped: a one-hot code has no meaningful point half-way between two.
    """
    _check_categories(categories, latent_dim)
    ends = steps.sample_latents(key, 2 * num_rows, latent_dim)
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
        labels = jnp.repeat(jnp.arange(num_rows, dtype=jnp.int32) % num_classes,
                            num_steps)
    return GridInputs(latents, labels, num_rows, num_steps)


# Standing statistics (Brock et al. 2019, "Large Scale GAN Training for High
# Fidelity Natural Image Synthesis", Sec. 3.1 / App. C.1).

_BatchNormLayers = tuple[tuple[tuple[str, ...], float], ...]


def _training_forward(network: NetworkState, params, batch_stats, latents,
                      labels):
    """The generator in training mode: `(samples, updated batch_stats)`."""
    outputs, updates = network.apply_fn(
        {"params": params, "batch_stats": batch_stats}, latents, labels=labels,
        train=True, mutable=["batch_stats"])
    return outputs, updates["batch_stats"]


def _batch_norm_layers(network: NetworkState, params, latents,
                       labels) -> _BatchNormLayers:
    """`(path in batch_stats, momentum)` of each BatchNorm layer that uses
    batch statistics in training mode.

    Found by type with a Flax method interceptor during an abstract
    (`jax.eval_shape`, no FLOPs) training-mode call, rather than by leaf names:
    other running state in `batch_stats` (spectral normalisation's `u` and
    `sigma`) must not be mistaken for BatchNorm statistics.
    """
    found: dict[tuple[str, ...], float] = {}

    def record(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, nn.BatchNorm) and context.method_name == "__call__":
            # Effective `use_running_average` as BatchNorm's merge_param sees it;
            # a layer frozen to its running statistics has none to re-estimate.
            frozen = module.use_running_average
            if frozen is None:
                frozen = kwargs.get("use_running_average",
                                    args[1] if len(args) > 1 else None)
            if not frozen:
                path = tuple(module.path)
                if path in found:
                    # A second call would fold its statistics into the first's,
                    # and one momentum division could not separate them.
                    raise ValueError(
                        f"BatchNorm layer {'/'.join(path)} is applied more than "
                        "once per forward pass; standing statistics need each "
                        "layer's running statistics updated once.")
                found[path] = float(module.momentum)
        return next_fun(*args, **kwargs)

    # A fresh closure per call, so no tracing cache can skip the interceptor.
    def forward(params, batch_stats, latents, labels):
        return _training_forward(network, params, batch_stats, latents, labels)

    with nn.intercept_methods(record):
        jax.eval_shape(forward, params, network.batch_stats, latents, labels)
    for path, momentum in found.items():
        if momentum >= 1.0:
            raise ValueError(f"BatchNorm layer {'/'.join(path)} has momentum "
                             f"{momentum}: its running statistics never see a "
                             "batch, so standing statistics cannot be read back.")
    return tuple(sorted(found.items()))


def _get(tree, path: tuple[str, ...]):
    for name in path:
        tree = tree[name]
    return tree


def _replace_leaves(tree, new_leaves: dict[tuple[str, ...], jax.Array]):
    """`tree` with the leaves at the given dict-key paths replaced; every other
    leaf is the same object as before."""
    def replace(path, leaf):
        names = tuple(entry.key for entry in path)
        return new_leaves.get(names, leaf)
    return jax.tree_util.tree_map_with_path(replace, tree)


@functools.partial(jax.jit, static_argnames=("layers",))
def _batch_statistics(network: NetworkState, params, latents, labels, *,
                      layers: _BatchNormLayers) -> list[tuple[jax.Array, jax.Array]]:
    """Per BatchNorm layer in `layers`, the `(mean, var)` of one batch, float32.

    BatchNorm in training mode normalises with the batch statistics and never
    reads its running ones; it only updates them, `r <- m r + (1 - m) s`. From
    `r = 0` that leaves `(1 - m) s`, and dividing by the same float32 `1 - m`
    returns the batch statistic `s` to within one rounding, whatever the
    momentum `m` and whatever running statistics the state holds.
    """
    zeros = {path + (name,): jnp.zeros_like(_get(network.batch_stats, path)[name])
             for path, _ in layers for name in ("mean", "var")}
    _, updated = _training_forward(
        network, params, _replace_leaves(network.batch_stats, zeros), latents,
        labels)
    statistics = []
    for path, momentum in layers:
        layer = _get(updated, path)
        scale = jnp.asarray(1.0 - momentum, jnp.float32)
        statistics.append(tuple(jnp.asarray(layer[name], jnp.float32) / scale
                                for name in ("mean", "var")))
    return statistics


def standing_batch_stats(state: GANState, key: jax.Array, *, num_batches: int,
                         batch_size: int, latent_dim: int, categories: int = 0,
                         labels: np.ndarray | None = None) -> Any:
    """BatchNorm statistics of the EMA generator ("standing statistics").

    Brock et al. 2019 (BigGAN, Sec. 3.1 and App. C.1): the running statistics
    of training belong to the training weights, so for the EMA weights they
    are re-estimated by running the EMA generator in training mode on fresh
    latents. For every BatchNorm layer the result is the plain average over
    batches of each batch's mean and (biased) variance,
    `mu = (1/N) sum_i mean_i`, `sigma^2 = (1/N) sum_i var_i`, exactly rather
    than through the layer's momentum.

    Args:
      state: the trained state; its EMA generator is run.
      key: batch `i` uses the latents of `fold_in(key, i)`.
      num_batches: N, the number of batches.
      batch_size: latents per batch (BatchNorm statistics depend on it).
      latent_dim: size of z.
      categories: InfoGAN categories coded in the first latent entries.
      labels: `(num_batches * batch_size,)` int class labels, batch `i` taking
        the `i`-th slice, for a conditional generator (e.g. `balanced_labels`);
        None for an unconditional one.

    Returns:
      The generator's `batch_stats` with every BatchNorm layer's `mean` and
      `var` replaced; other leaves (spectral normalisation's `u`, `sigma`) are
      returned unchanged, as is the whole tree of a generator without BatchNorm.
    """
    if num_batches < 1 or batch_size < 1:
        raise ValueError(f"Standing statistics need num_batches >= 1 and "
                         f"batch_size >= 1, got {num_batches} and {batch_size}.")
    if labels is not None:
        labels = np.asarray(labels, np.int32)
        if labels.shape != (num_batches * batch_size,):
            raise ValueError(f"labels has shape {labels.shape}; standing "
                             f"statistics of {num_batches} batches of "
                             f"{batch_size} need ({num_batches * batch_size},).")
    network, params = state.generator, state.ema_params
    if not network.batch_stats:
        return network.batch_stats

    def batch(i):
        latents = steps.sample_latents(jax.random.fold_in(key, i), batch_size,
                                       latent_dim, categories)
        batch_labels = (None if labels is None
                        else labels[i * batch_size:(i + 1) * batch_size])
        return latents, batch_labels

    layers = _batch_norm_layers(network, params, *batch(0))
    if not layers:
        return network.batch_stats
    # A Python loop of one compiled batch, as in generate_batches: the sums
    # stay on the device and dispatch is asynchronous.
    totals = None
    for i in range(num_batches):
        statistics = _batch_statistics(network, params, *batch(i), layers=layers)
        totals = statistics if totals is None else jax.tree.map(
            jnp.add, totals, statistics)
    standing = {}
    for (path, _), (mean_total, var_total) in zip(layers, totals):
        layer = _get(network.batch_stats, path)
        standing[path + ("mean",)] = (mean_total / num_batches).astype(
            layer["mean"].dtype)
        standing[path + ("var",)] = (var_total / num_batches).astype(
            layer["var"].dtype)
    return _replace_leaves(network.batch_stats, standing)


def with_standing_stats(state: GANState, key: jax.Array,
                        config: ml_collections.ConfigDict) -> GANState:
    """`state` with standing generator statistics when the config asks for them.

    With `config.eval.standing_stats_batches > 0`, the generator's
    `batch_stats` become `standing_batch_stats` of that many batches of
    `config.eval.batch_size` latents (balanced labels for a conditional
    model); otherwise `state` itself is returned and nothing is computed.
    Configs saved before these options existed read as off.
    """
    num_batches = config.eval.get("standing_stats_batches", 0)
    if num_batches <= 0:
        return state
    batch_size = config.eval.batch_size
    num_classes = config.model.num_classes
    labels = (balanced_labels(num_batches * batch_size, num_classes)
              if num_classes else None)
    batch_stats = standing_batch_stats(
        state, key, num_batches=num_batches, batch_size=batch_size,
        latent_dim=config.model.latent_dim,
        categories=infogan_categories(config), labels=labels)
    return state.replace(
        generator=state.generator.replace(batch_stats=batch_stats))


def infogan_categories(config: ml_collections.ConfigDict) -> int:
    """`config.tricks.infogan_categories`, 0 for configs saved without it."""
    return int(config.get("tricks", {}).get("infogan_categories", 0))
