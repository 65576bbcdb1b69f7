"""The penalty the game's objectives apply, on discriminators whose minibatch
layers make each logit depend on the whole batch (gan_jax.game.objectives,
gan_jax.penalties), against a per-sample reference: a Python loop of
`jax.grad` of logit i with respect to sample i, the other samples fixed."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import defaults
from gan_jax.game import objectives as objectives_lib
from gan_jax.game.state import apply_network
from gan_jax.run import experiment
from gan_jax.run import gan_spec
import gradient_checks  # tests/gradient_checks.py

BATCH, HIDDEN, SAMPLE_SHAPE = 8, 16, (2,)
# The largest float32 reduction of these critics' forward and backward
# passes: the batch (minibatch discrimination, parameter gradients) times the
# hidden width. Two programs reducing in different orders differ by about that
# many roundings of the result (tests/gradient_checks.py); squared norms
# double it.
REDUCED_TERMS = 2 * BATCH * HIDDEN
RTOL = REDUCED_TERMS * 2.0**-24


def _spec(model, lazy_interval):
    config = defaults.base_config()
    config.model.hidden_dim = HIDDEN
    config.model.num_layers = 1
    config.model.latent_dim = 4
    config.model.update(model)
    config.penalty.name = "r1"
    config.penalty.lazy_interval = lazy_interval
    return gan_spec.build(config)


def _inputs():
    real = jax.random.normal(jax.random.key(1), (BATCH, *SAMPLE_SHAPE), jnp.float32)
    fake = jax.random.normal(jax.random.key(2), (BATCH, *SAMPLE_SHAPE), jnp.float32)
    return real, fake, jax.random.key(3)


def _critic(d_state, params):
    return lambda x: apply_network(d_state, params, x, labels=None, train=True)[0]


def _per_sample_r1(d_state, params, real):
    """E_i ||d logit_i / d x_i||^2, one `jax.grad` per sample."""
    critic = _critic(d_state, params)
    squares = []
    for i in range(real.shape[0]):
        g = jax.grad(lambda xi, i=i: critic(real.at[i].set(xi))[i])(real[i])
        squares.append(jnp.sum(jnp.square(g)))
    return sum(squares) / len(squares)


def _summed_r1(d_state, params, real):
    """E_i ||d(sum_j logit_j) / d x_i||^2, as StyleGAN2's R1."""
    g = jax.grad(lambda x: jnp.sum(_critic(d_state, params)(x)))(real)
    return jnp.mean(jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=1))


@pytest.mark.parametrize("model, reference", [
    ({"d_minibatch_kernels": 4}, _per_sample_r1),
    ({"d_minibatch_kernels": 4, "d_minibatch_stddev_group": 4}, _per_sample_r1),
    # Minibatch standard deviation alone: the sum of the logits, as
    # Progressive GAN and StyleGAN2 (objectives.per_sample_input_gradients).
    ({"d_minibatch_stddev_group": 4}, _summed_r1),
])
def test_penalty_on_a_discriminator_with_minibatch_layers(model, reference):
    spec = _spec(model, lazy_interval=2)
    state = experiment.create_state(spec, SAMPLE_SHAPE, jax.random.key(0))
    d_state = state.discriminator
    objectives = objectives_lib.create(spec)
    real, fake, key = _inputs()
    expected = float(reference(d_state, d_state.params, real))

    # The lazy phase: its value and the gradient training takes from it.
    lazy = functools.partial(objectives.regularizer, real=real, fake=fake, key=key)
    (total, aux), grads = jax.jit(jax.value_and_grad(lazy, has_aux=True))(
        d_state.params, d_state)
    value = float(aux["metrics"]["d_lazy_penalty"])
    scale = spec.penalty.lazy_interval * spec.penalty.weight
    np.testing.assert_allclose(value, expected, rtol=RTOL)
    np.testing.assert_allclose(total, scale * expected, rtol=RTOL)
    expected_grads = jax.grad(lambda p: scale * reference(d_state, p, real))(
        d_state.params)
    gradient_checks.assert_norms_close(grads, expected_grads, REDUCED_TERMS)

    # The penalty inside the discriminator's objective (no lazy phase).
    eager = objectives_lib.create(_spec(model, lazy_interval=1))
    _, aux = jax.jit(eager.discriminator)(d_state.params, d_state, real, fake, key)
    np.testing.assert_allclose(aux["metrics"]["d_penalty"], expected, rtol=RTOL)
