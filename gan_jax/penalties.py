"""Discriminator regularisers computed with `jax.grad`.

`critic_fn` maps a batch `(batch, ...)` (images or 2-D points) to logits
`(batch,)` or `(batch, 1)`. Every penalty is defined on each sample's own
input gradient, d logit_i / d x_i, averaged over the batch. Two ways to take
it, chosen by `per_sample_gradients`:

- False (the default): the gradient of the *sum* of the logits with respect
  to the batch, one backward pass. Its row i is d(sum_j logit_j) / d x_i,
  which is sample i's own gradient when each logit depends on its own sample
  only. Where logits depend on other samples it adds the cross terms
  d logit_j / d x_i (j != i). Progressive GAN (Karras et al. 2018, the
  official code's loss.py, D_wgangp_acgan) and StyleGAN2 (Karras et al.
  2020, training/loss.py, D_logistic_r1; StyleGAN2-ADA's loss.py alike) take
  their GP and R1 this way with the minibatch standard-deviation layer in
  the discriminator.
- True: d logit_i / d x_i with the other samples held fixed, the diagonal
  blocks of the Jacobian of the logits: one forward pass and B backward
  passes (vectorised with `jax.vmap`, one per logit, B the batch), so the
  backward pass takes about B times the memory and work. For critics that
  compare samples with each other, as minibatch discrimination (Salimans et
  al. 2016) does.

Penalties return float32 batch means (an empty batch gives 0).
"""

import inspect
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

CriticFn = Callable[[jax.Array], jax.Array]


def _summed_input_gradients(critic_fn: CriticFn, x: jax.Array) -> jax.Array:
    # Row i is d(sum of logits)/dx[i]: sample i's own input gradient when its
    # logit depends on x[i] only. One backward pass.
    return jax.grad(
        lambda inputs: jnp.sum(jnp.asarray(critic_fn(inputs), jnp.float32)))(x)


def _per_sample_input_gradients(critic_fn: CriticFn, x: jax.Array) -> jax.Array:
    # Row i of the Jacobian, d logit_i / d(batch), is the pullback of the
    # i-th unit vector; its block i is d logit_i / dx[i], the others fixed.
    # One forward pass, B backward passes vectorised.
    batch = x.shape[0]
    logits, pullback = jax.vjp(
        lambda inputs: jnp.asarray(critic_fn(inputs), jnp.float32).reshape(batch), x)
    rows = jax.vmap(lambda unit: pullback(unit)[0])(
        jnp.eye(batch, dtype=logits.dtype))  # (B, B, ...): d logit_i / dx[j].
    index = jnp.arange(batch)
    return rows[index, index]


def _input_gradients(critic_fn: CriticFn, x: jax.Array,
                     per_sample: bool) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    if per_sample:
        return _per_sample_input_gradients(critic_fn, x)
    return _summed_input_gradients(critic_fn, x)


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
    """E[(||g|| - target)^2] / target^2 (relu of the excess when one-sided),
    E[||g||^2] for target 0: see `gradient_penalty`."""
    # `not >=` also rejects NaN; the config declares the target >= 0.
    if not target >= 0:
        raise ValueError(f"target={target} must be >= 0 (the target gradient "
                         "norm; 0 is the zero-centred penalty).")
    excess = norms - target
    if one_sided:
        excess = jax.nn.relu(excess)
    penalty = _mean(jnp.square(excess))
    return penalty / target ** 2 if target > 0 else penalty


def gradient_penalty(critic_fn: CriticFn, real: jax.Array, fake: jax.Array,
                     key: jax.Array, *, target: float = 1.0,
                     one_sided: bool = False,
                     per_sample_gradients: bool = False) -> jax.Array:
    """WGAN-GP (Gulrajani et al. 2017) on random interpolates.

    x_hat = eps * real + (1 - eps) * fake with eps ~ U[0, 1] per sample;

        penalty = E[(||grad D(x_hat)|| - target)^2] / target^2.

    With `one_sided=True` it is WGAN-LP (Petzka et al. 2018):
    E[relu(||grad D(x_hat)|| - target)^2] / target^2.

    Dividing by target^2 is Progressive GAN's form (Karras et al. 2018,
    whose CIFAR-10 runs use target gamma = 750 with (||grad|| - gamma)^2 /
    gamma^2, so that the weight keeps its meaning whatever the target; the
    official code's loss.py multiplies by wgan_lambda / wgan_target^2) and
    TF-GAN's (`tfgan.losses.wasserstein_gradient_penalty`); at target 1 it
    is Gulrajani et al.'s. Target 0 is the zero-centred penalty E[||grad
    D(x_hat)||^2] (Thanh-Tung et al. 2019), where nothing is divided.
    `per_sample_gradients`: see the module docstring.
    """
    real = jnp.asarray(real, jnp.float32)
    eps = _per_sample_uniform(key, real)
    interpolates = eps * real + (1.0 - eps) * jnp.asarray(fake, jnp.float32)
    norms = _norms(_input_gradients(critic_fn, interpolates, per_sample_gradients))
    return _norm_penalty(norms, target, one_sided)


def r1_penalty(critic_fn: CriticFn, real: jax.Array, *,
               per_sample_gradients: bool = False) -> jax.Array:
    """R1 (Mescheder et al. 2018): E[||grad D(real)||^2].

    The paper's gamma / 2 factor is the caller's weight, not applied here.
    `per_sample_gradients`: see the module docstring.
    """
    return _mean(_squared_norms(
        _input_gradients(critic_fn, real, per_sample_gradients)))


def r2_penalty(critic_fn: CriticFn, fake: jax.Array, *,
               per_sample_gradients: bool = False) -> jax.Array:
    """R2 (Mescheder et al. 2018): E[||grad D(fake)||^2].

    As for R1, the caller applies the gamma / 2 weight.
    `per_sample_gradients`: see the module docstring.
    """
    return _mean(_squared_norms(
        _input_gradients(critic_fn, fake, per_sample_gradients)))


def dragan_penalty(critic_fn: CriticFn, real: jax.Array, key: jax.Array, *,
                   perturbation_scale: float = 0.5, target: float = 1.0,
                   per_sample_gradients: bool = False) -> jax.Array:
    """DRAGAN (Kodali et al. 2017), as in the authors' code.

    x_p = real + perturbation_scale * std(real) * u, u ~ U[0, 1] elementwise;
    x_hat = alpha * real + (1 - alpha) * x_p, alpha ~ U[0, 1] per sample;
    penalty = E[(||grad D(x_hat)|| - target)^2] / target^2 (E[||grad
    D(x_hat)||^2] at target 0), normalised as `gradient_penalty`; the
    authors' target is 1. `per_sample_gradients`: see the module docstring.
    """
    real = jnp.asarray(real, jnp.float32)
    noise_key, alpha_key = jax.random.split(key)
    perturbed = real + perturbation_scale * jnp.std(real) * jax.random.uniform(
        noise_key, real.shape, jnp.float32)
    alpha = _per_sample_uniform(alpha_key, real)
    interpolates = alpha * real + (1.0 - alpha) * perturbed
    norms = _norms(_input_gradients(critic_fn, interpolates, per_sample_gradients))
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

# Each factory takes `per_sample_gradients` (how the input gradients are
# taken, a property of the critic) positionally, then the penalty's own
# options as keywords.


def _no_penalty(per_sample_gradients: bool) -> Penalty:
    del per_sample_gradients

    def penalty(critic_fn, real, fake, key):
        del critic_fn, real, fake, key
        return jnp.zeros((), jnp.float32)
    return penalty


def _gp(per_sample_gradients: bool, *, target: float = 1.0) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        return gradient_penalty(critic_fn, real, fake, key, target=target,
                                per_sample_gradients=per_sample_gradients)
    return penalty


def _lp(per_sample_gradients: bool, *, target: float = 1.0) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        return gradient_penalty(critic_fn, real, fake, key, target=target,
                                one_sided=True,
                                per_sample_gradients=per_sample_gradients)
    return penalty


def _r1(per_sample_gradients: bool) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del fake, key
        return r1_penalty(critic_fn, real,
                          per_sample_gradients=per_sample_gradients)
    return penalty


def _r2(per_sample_gradients: bool) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del real, key
        return r2_penalty(critic_fn, fake,
                          per_sample_gradients=per_sample_gradients)
    return penalty


def _dragan(per_sample_gradients: bool, *, perturbation_scale: float = 0.5,
            target: float = 1.0) -> Penalty:
    def penalty(critic_fn, real, fake, key):
        del fake
        return dragan_penalty(critic_fn, real, key,
                              perturbation_scale=perturbation_scale,
                              target=target,
                              per_sample_gradients=per_sample_gradients)
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
    parameters = inspect.signature(PENALTIES[name]).parameters.values()
    return tuple(sorted(p.name for p in parameters if p.kind is p.KEYWORD_ONLY))


def _check_name(name: str) -> None:
    if name not in PENALTIES:
        raise ValueError(f"Unknown penalty {name!r}. Valid penalties: "
                         f"{', '.join(sorted(PENALTIES))}.")


def get(name: str, *, per_sample_gradients: bool = False, **options) -> Penalty:
    """Penalty `name` as `(critic_fn, real, fake, key) -> scalar`.

    `per_sample_gradients=True` for critics whose logit i depends on other
    samples than x_i: each sample's own input gradient, at about B times the
    backward pass's cost (module docstring).
    """
    accepted = accepted_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = (f"accepts only {', '.join(accepted)}" if accepted
                 else "takes no options")
        raise ValueError(
            f"Penalty {name!r} {takes}; got {', '.join(unknown)}.")
    return PENALTIES[name](per_sample_gradients, **options)
