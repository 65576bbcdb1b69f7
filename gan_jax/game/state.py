"""The whole training state of a GAN as one pytree.

Everything a run needs to continue lives here, so that a checkpoint of a
`GANState` is a complete snapshot and every train step is a pure function
`(GANState, batch, key) -> (GANState, metrics)`.
"""

import functools
from typing import Any

import flax
import flax.linen as nn
from flax.training import train_state
import jax
import jax.numpy as jnp
import numpy as np
import optax


class NetworkState(train_state.TrainState):
    """A `TrainState` that also carries BatchNorm running statistics.

    `batch_stats` is an empty dict for networks without BatchNorm.
    """

    batch_stats: Any = None


@flax.struct.dataclass
class GANState:
    """Generator and discriminator states plus the generator's EMA weights.

    `ema_params` is the exponential moving average of the generator parameters
    (Karras et al. 2018; Yazici et al. 2019) used for sampling and evaluation;
    with `ema_decay = 0` it simply equals the current parameters. `tricks`
    holds the running statistics of the stabilisation tricks that need them
    (`gan_jax.tricks.options.initial_state`), empty when none is on.
    """

    generator: NetworkState
    discriminator: NetworkState
    ema_params: Any
    tricks: dict = flax.struct.field(default_factory=dict)

    @property
    def step(self) -> jax.Array:
        """Number of completed training steps (generator updates)."""
        return self.generator.step


def apply_network(state: NetworkState, params, *inputs, train: bool, **kwargs):
    """Runs a network with `params`, returning `(outputs, new_batch_stats)`.

    Hides the BatchNorm bookkeeping: in training mode with running statistics the
    call is made with `mutable=['batch_stats']`; otherwise statistics pass through.
    """
    variables = {"params": params}
    if state.batch_stats:
        variables["batch_stats"] = state.batch_stats
        if train:
            outputs, updates = state.apply_fn(
                variables, *inputs, train=True, mutable=["batch_stats"], **kwargs)
            return outputs, updates["batch_stats"]
    return state.apply_fn(variables, *inputs, train=train, **kwargs), state.batch_stats


def apply_discriminator(state: NetworkState, params, x, *, labels, train: bool,
                        capture: bool):
    """Runs a discriminator, returning `(logits, new_batch_stats, intermediates)`.

    With `capture`, `intermediates` holds what the network sows (its
    "features" and, when it has one, the auxiliary head's "aux_logits"), one
    array per name; otherwise it is empty and the call is `apply_network`'s.
    """
    if not capture:
        logits, batch_stats = apply_network(state, params, x, labels=labels,
                                            train=train)
        return logits, batch_stats, {}
    variables = {"params": params}
    mutable = ["intermediates"]
    if state.batch_stats:
        variables["batch_stats"] = state.batch_stats
        if train:
            mutable.append("batch_stats")
    logits, updates = state.apply_fn(variables, x, labels=labels, train=train,
                                     mutable=mutable)
    # A network that sows nothing has no "intermediates" collection at all.
    sown = {name: values[0]
            for name, values in updates.get("intermediates", {}).items()}
    return logits, updates.get("batch_stats", state.batch_stats), sown


@functools.partial(jax.jit, static_argnames=("module", "static_kwargs"))
def _initial_variables(module: nn.Module, rngs, inputs: tuple, array_kwargs: dict,
                       static_kwargs: tuple):
    return module.init(rngs, *inputs, **array_kwargs, **dict(static_kwargs))


def init_network_state(module: nn.Module, rngs, example_inputs: tuple,
                       tx: optax.GradientTransformation, **init_kwargs) -> NetworkState:
    """A `NetworkState` (step 0) for `module`: `module.init(rngs,
    *example_inputs, **init_kwargs)` and the optimizer's initial state.

    The initialisers run as one compiled program: op by op, each of their
    small operations would be compiled on its own, hundreds of programs for
    one network. The program is cached by the module's fields (linen modules
    compare by value), so equal networks, e.g. every seed of a sweep, share
    it. `tx.init` stays outside it: it holds the learning rate as a constant,
    and runs that differ only in that should share every program.
    """
    is_array = lambda value: isinstance(value, (jax.Array, np.ndarray))  # noqa: E731
    array_kwargs = {k: v for k, v in init_kwargs.items() if is_array(v)}
    static_kwargs = tuple(sorted((k, v) for k, v in init_kwargs.items()
                                 if not is_array(v)))
    variables = _initial_variables(module, rngs, tuple(example_inputs), array_kwargs,
                                   static_kwargs)
    return NetworkState.create(apply_fn=module.apply, params=variables["params"],
                               batch_stats=variables.get("batch_stats", {}), tx=tx)


def _init_network(module: nn.Module, key: jax.Array, example_input,
                  tx: optax.GradientTransformation) -> NetworkState:
    # Labels are always passed: conditional models need them to create their
    # embeddings, unconditional ones ignore them.
    return init_network_state(module, key, (example_input,), tx,
                              labels=jnp.zeros((1,), jnp.int32), train=False)


def create_gan_state(key: jax.Array, generator: nn.Module,
                     discriminator: nn.Module, *, latent_dim: int, sample_shape,
                     generator_tx: optax.GradientTransformation,
                     discriminator_tx: optax.GradientTransformation,
                     discriminator_input_shape=None,
                     tricks: dict | None = None) -> GANState:
    """Initialises both networks from `key` (shapes only need one example).

    `discriminator_input_shape` defaults to `sample_shape` (PacGAN packs
    samples into wider inputs); `tricks` are the initial running statistics.
    """
    g_key, d_key = jax.random.split(key)
    generator_state = _init_network(
        generator, g_key, jnp.zeros((1, latent_dim), jnp.float32), generator_tx)
    input_shape = tuple(discriminator_input_shape or sample_shape)
    discriminator_state = _init_network(
        discriminator, d_key, jnp.zeros((1, *input_shape), jnp.float32),
        discriminator_tx)
    # A copy, not an alias: the train step donates its input state, and one
    # buffer cannot be donated twice.
    return GANState(generator=generator_state,
                    discriminator=discriminator_state,
                    ema_params=copy_tree(generator_state.params),
                    # Copies for the same reason: initial statistics may
                    # share one zero.
                    tricks=copy_tree(dict(tricks or {})))


def copy_tree(tree):
    """A device copy of every leaf, so that no two leaves of a state share a
    buffer (a train step donates its input state). Not `jnp.copy`, which
    compiles a program per shape."""
    return jax.tree.map(lambda leaf: jax.device_put(leaf, may_alias=False), tree)


def update_ema(ema_params, params, decay: float):
    """`ema <- decay * ema + (1 - decay) * params`, leaf by leaf."""
    return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p,
                        ema_params, params)
