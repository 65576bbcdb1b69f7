"""Discriminator regularisers computed with `jax.grad`.

`critic_fn` maps a batch `(batch, ...)` (images or 2-D points) to logits
`(batch,)` or `(batch, 1)`. Because the critic scores each sample on its own,
the gradient of the *sum* of its logits with respect to the batch holds every
sample's input gradient, so one backward pass gives them all. Penalties return
float32 batch means (an empty batch gives 0).
"""

import inspect
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

CriticFn = Callable[[jax.Array], jax.Array]


def _input_gradients(critic_fn: CriticFn, x: jax.Array) -> jax.Array:
    # Sample i's logit depends only on x[i], so d(sum of logits)/dx[i] is
    # sample i's own input gradient: one backward pass instead of a vmap.
    x = jnp.asarray(x, jnp.float32)
    return jax.grad(
        lambda inputs: jnp.sum(jnp.asarray(critic_fn(inputs), jnp.float32)))(x)


def _squared_norms(gradients: jax.Array) -> jax.Array:
    # An explicit feature size: reshape(0, -1) is ambiguous for an empty batch.
    features = math.prod(gradients.shape[1:])
    g = jnp.asarray(gradients, jnp.float32).reshape(gradients.shape[0], features)
    return jnp.sum(jnp.square(g), axis=1)


def _norms(gradients: jax.Array) -> jax.Array:
    # sqrt has an infinite derivative at 0; the double `where` keeps the
    # penalty's gradient finite where an input gradient vanishes exactly,
    # without biasing the value as an epsilon would.
    squared = _squared_norms(gradients)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def _mean(x: jax.Array) -> jax.Array:
    # An empty batch gives 0, not NaN; the size is static under jit.
    return jnp.sum(x) / max(x.size, 1)


def _per_sample_uniform(key: jax.Array, x: jax.Array) -> jax.Array:
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return jax.random.uniform(key, shape, jnp.float32)


def _norm_penalty(norms: jax.Array, target: float, one_sided: bool) -> jax.Array:
    excess = norms - target
    if one_sided:
        excess = jax.nn.relu(excess)
    return _mean(jnp.square(excess))


def gradient_penalty(critic_fn: CriticFn, real: jax.Array, fake: jax.Array,
                     key: jax.Array, *, target: float = 1.0,
                     one_sided: bool = False) -> jax.Array:
    """WGAN-GP (Gulrajani et al. 2017) on random interpolates.

    x_hat = eps * real + (1 - eps) * fake with eps ~ U[0, 1] per sample;
    penalty = E[(||grad D(x_hat)|| - target)^2]. With `one_sided=True` it is
    WGAN-LP (Petzka et al. 2018): E[relu(||grad D(x_hat)|| - target)^2].
    """
    real = jnp.asarray(real, jnp.float32)
    eps = _per_sample_uniform(key, real)
    interpolates = eps * real + (1.0 - eps) * jnp.asarray(fake, jnp.float32)
    norms = _norms(_input_gradients(critic_fn, interpolates))
    return _norm_penalty(norms, target, one_sided)


def r1_penalty(critic_fn: CriticFn, real: jax.Array) -> jax.Array:
    """R1 (Mescheder et al. 2018): E[||grad D(real)||^2].

    The paper's gamma / 2 factor is the caller's weight, not applied here.
    """
    return _mean(_squared_norms(_input_gradients(critic_fn, real)))


def r2_penalty(critic_fn: CriticFn, fake: jax.Array) -> jax.Array:
    """R2 (Mescheder et al. 2018): E[||grad D(fake)||^2].

    As for R1, the caller applies the gamma / 2 weight.
    """
    return _mean(_squared_norms(_input_gradients(critic_fn, fake)))


def dragan_penalty(critic_fn: CriticFn, real: jax.Array, key: jax.Array, *,
                   perturbation_scale: float = 0.5,
                   target: float = 1.0) -> jax.Array:
    """DRAGAN (Kodali et al. 2017), as in the authors' code.

    x_p = real + perturbation_scale * std(real) * u, u ~ U[0, 1] elementwise;
    x_hat = alpha * real + (1 - alpha) * x_p, alpha ~ U[0, 1] per sample;
    penalty = E[(||grad D(x_hat)|| - target)^2].
    """
    real = jnp.asarray(real, jnp.float32)
    noise_key, alpha_key = jax.random.split(key)
    perturbed = real + perturbation_scale * jnp.std(real) * jax.random.uniform(
        noise_key, real.shape, jnp.float32)
    alpha = _per_sample_uniform(alpha_key, real)
    interpolates = alpha * real + (1.0 - alpha) * perturbed
    norms = _norms(_input_gradients(critic_fn, interpolates))
    return _norm_penalty(norms, target, one_sided=False)


def clip_weights(params, clip_value: float):
    """Clips every leaf of `params` to [-clip_value, clip_value].

    The original WGAN's Lipschitz constraint (Arjovsky et al. 2017): a
    projection the trainer applies to the critic's params after each update.
    """
    # `not >` also rejects NaN.
    if not clip_value > 0:
        raise ValueError(f"clip_value={clip_value} must be positive.")
    return jax.tree.map(lambda p: jnp.clip(p, -clip_value, clip_value), params)


# The trainer's uniform signature: (critic_fn, real, fake, key) -> scalar.
Penalty = Callable[[CriticFn, jax.Array, jax.Array, jax.Array], jax.Array]


def _no_penalty() -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del critic_fn, real, fake, key
        return jnp.zeros((), jnp.float32)
    return penalty


def _gp(target: float = 1.0) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        return gradient_penalty(critic_fn, real, fake, key, target=target)
    return penalty


def _lp(target: float = 1.0) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        return gradient_penalty(critic_fn, real, fake, key, target=target,
                                one_sided=True)
    return penalty


def _r1() -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del fake, key
        return r1_penalty(critic_fn, real)
    return penalty


def _r2() -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del real, key
        return r2_penalty(critic_fn, fake)
    return penalty


def _dragan(perturbation_scale: float = 0.5, target: float = 1.0) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del fake
        return dragan_penalty(critic_fn, real, key,
                              perturbation_scale=perturbation_scale,
                              target=target)
    return penalty


PENALTIES: dict[str, Callable[..., Penalty]] = {
    "none": _no_penalty,
    "gp": _gp,
    "lp": _lp,
    "r1": _r1,
    "r2": _r2,
    "dragan": _dragan,
}


def accepted_options(name: str) -> tuple[str, ...]:
    """The keyword options penalty `name` takes."""
    _check_name(name)
    return tuple(sorted(inspect.signature(PENALTIES[name]).parameters))


def _check_name(name: str) -> None:
    if name not in PENALTIES:
        raise ValueError(f"Unknown penalty {name!r}. Valid penalties: "
                         f"{', '.join(sorted(PENALTIES))}.")


def get(name: str, **options) -> Penalty:
    """Penalty `name` as `(critic_fn, real, fake, key) -> scalar`."""
    accepted = accepted_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = (f"accepts only {', '.join(accepted)}" if accepted
                 else "takes no options")
        raise ValueError(
            f"Penalty {name!r} {takes}; got {', '.join(unknown)}.")
    return PENALTIES[name](**options)
