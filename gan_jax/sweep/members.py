"""K training runs as one: their states stacked on a leading "member" axis.

A member is one run of a sweep: a seed plus the numbers of its setting
(`grid.NUMERIC_FIELDS`). Because a train step is a pure function of
`(state, batch, key)`, `jax.vmap` turns it into a step of all members at once,
compiled once. Each member draws exactly what `gan_jax.main --config.seed=S`
would draw (same init key, data order and training key), so a member's result
equals the separate run's up to floating-point reassociation.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.game.state import GANState
from gan_jax.run import experiment
from gan_jax.run import gan_spec


class Members(NamedTuple):
    """Per-member seeds and numbers, each of length K."""
    seeds: tuple[int, ...]
    numeric: dict[str, np.ndarray]  # grid.NUMERIC_FIELDS -> (K,) float32


def create(seeds, numeric: list[dict[str, float]]) -> Members:
    fields = numeric[0].keys()
    return Members(tuple(seeds), {f: np.asarray([n[f] for n in numeric], np.float32)
                                  for f in fields})


def _set_learning_rate(network_state, learning_rates: jax.Array):
    opt_state = network_state.opt_state
    hyperparams = dict(opt_state.hyperparams, learning_rate=learning_rates)
    return network_state.replace(opt_state=opt_state._replace(hyperparams=hyperparams))


def create_states(spec: gan_spec.GanSpec, sample_shape,
                  members: Members) -> GANState:
    """The members' initial states, stacked: leaves get a leading axis of K.

    `spec` is the group's (any of its settings'): they differ only in the
    members' numbers, and the learning rates are set from those here.
    """
    init_keys = jnp.stack([experiment.run_keys(seed).init for seed in members.seeds])
    state = jax.vmap(lambda key: experiment.create_state(spec, sample_shape, key)
                     )(init_keys)
    return state.replace(
        generator=_set_learning_rate(state.generator,
                                     jnp.asarray(members.numeric["optim.g_lr"])),
        discriminator=_set_learning_rate(state.discriminator,
                                         jnp.asarray(members.numeric["optim.d_lr"])))


def train_keys(members: Members) -> jax.Array:
    return jnp.stack([experiment.run_keys(seed).train for seed in members.seeds])


def eval_keys(members: Members) -> list[jax.Array]:
    return [experiment.run_keys(seed).eval for seed in members.seeds]


@jax.jit
def finite_members(states: GANState) -> jax.Array:
    """`(K,)` bool: whether each member's parameters are all finite."""
    trees = (states.generator.params, states.discriminator.params, states.ema_params)
    per_leaf = [jnp.all(jnp.isfinite(leaf.reshape(leaf.shape[0], -1)), axis=1)
                for leaf in jax.tree.leaves(trees)]
    return jnp.all(jnp.stack(per_leaf), axis=0)


def member_state(states: GANState, index: int) -> GANState:
    """Member `index` of stacked states, as an ordinary `GANState`."""
    return jax.tree.map(lambda leaf: leaf[index], states)


def stack_batches(per_seed: dict[int, dict], seeds: tuple[int, ...]) -> dict:
    """The members' batches, `(K, n_critic, batch, ...)`, from one per seed."""
    return {name: np.stack([per_seed[seed][name] for seed in seeds])
            for name in per_seed[seeds[0]]}
