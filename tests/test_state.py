"""Network state creation: one compiled initialiser per distinct network."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.game import state as state_lib
import gradient_checks  # tests/gradient_checks.py


class _Net(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x, *, labels, train: bool):
        x = nn.Dense(self.features)(x) + labels[:, None]
        return nn.BatchNorm(use_running_average=not train)(x)


def _create(module, seed=0):
    return state_lib.init_network_state(
        module, jax.random.key(seed), (jnp.ones((2, 3), jnp.float32),), optax.adam(1e-3),
        labels=jnp.zeros((2,), jnp.float32), train=False)


def test_the_state_holds_what_module_init_gives():
    module = _Net(4)
    created = _create(module, seed=3)
    reference = module.init(jax.random.key(3), jnp.ones((2, 3), jnp.float32),
                            labels=jnp.zeros((2,), jnp.float32), train=False)
    # The same random bits through the same elementwise transforms (about 30
    # float ops for a truncated normal); one compiled program against op-by-op
    # execution may fuse and round them differently, a few ulps an element:
    # 16 ulps of each leaf's norm.
    gradient_checks.assert_norms_close(created.params, reference["params"],
                                       reduced_terms=16)
    jax.tree.map(np.testing.assert_array_equal, created.batch_stats,
                 reference["batch_stats"])
    assert int(created.step) == 0
    assert jax.tree.structure(created.opt_state) == jax.tree.structure(
        optax.adam(1e-3).init(created.params))


def test_equal_networks_share_one_compiled_initialiser():
    # Widths no other test creates, so the cache holds neither network yet.
    before = state_lib._initial_variables._cache_size()
    a, b = _create(_Net(6), seed=0), _create(_Net(6), seed=1)  # Equal, not identical.
    assert state_lib._initial_variables._cache_size() == before + 1
    # Other seeds give other parameters from the shared program.
    assert not np.array_equal(a.params["Dense_0"]["kernel"],
                              b.params["Dense_0"]["kernel"])
    _create(_Net(7))  # A different network compiles its own.
    assert state_lib._initial_variables._cache_size() == before + 2
