"""Standing statistics for BatchNorm generators (Brock et al. 2019).

The generator's BatchNorm running statistics were accumulated for the
training weights, but samples come from the EMA weights. Standing statistics
re-estimate them for the weights actually used: the average, over batches of
fresh latents, of each BatchNorm layer's batch mean and variance.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.evaluation import ensemble
from gan_jax.evaluation.sampling import balanced_labels
from gan_jax.game import latents as latents_lib
from gan_jax.game.state import GANState
from gan_jax.game.state import NetworkState

# Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
# Synthesis", Sec. 3.1 / App. C.1.

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
        latents = latents_lib.sample_latents(jax.random.fold_in(key, i), batch_size,
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


def with_standing_stats(state: GANState | ensemble.Ensemble, key: jax.Array,
                        spec) -> GANState | ensemble.Ensemble:
    """`state` with standing generator statistics when the run's spec (a
    `gan_jax.run.gan_spec.GanSpec`) asks for them; an `ensemble.Ensemble`
    gets them member by member, each as its own spec asks (`spec` unused).

    With `spec.eval.standing_stats_batches > 0`, the generator's
    `batch_stats` become `standing_batch_stats` of that many batches of
    `spec.eval.batch_size` latents (for a conditional model, balanced
    labels of the classes it is measured on, `sampling.generated_classes`);
    otherwise `state` itself is returned and nothing is computed.
    """
    if isinstance(state, ensemble.Ensemble):
        return state._replace(states=tuple(
            with_standing_stats(member, key, member_spec)
            for member, member_spec in zip(state.states, state.specs)))
    num_batches = spec.eval.standing_stats_batches
    if num_batches <= 0:
        return state
    batch_size = spec.eval.batch_size
    num_classes = spec.model.num_classes
    labels = (balanced_labels(num_batches * batch_size, num_classes,
                              spec.data.classes) if num_classes else None)
    batch_stats = standing_batch_stats(
        state, key, num_batches=num_batches, batch_size=batch_size,
        latent_dim=spec.model.latent_dim,
        categories=spec.tricks.infogan_categories, labels=labels)
    return state.replace(
        generator=state.generator.replace(batch_stats=batch_stats))
