"""Adversarial losses: pure functions of discriminator logits.

Every loss is a `GANLoss` of two functions `(real_logits, fake_logits) ->
scalar`, the discriminator's and the generator's, both batch means in float32.
Logits are raw, unbounded discriminator outputs of shape `(batch,)` or
`(batch, 1)`. Cross-entropy terms are written with `softplus`: the
cross-entropy of a logit x against label 1 is softplus(-x) = log(1 + exp(-x)),
against label 0 softplus(x), and unlike a log taken of a sigmoid these stay
finite (with finite gradients) for any finite logit. Notation: r = real
logits, f = fake logits, E = batch mean, sp = softplus.
"""

import inspect
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class GANLoss(NamedTuple):
    """The two players' losses, each `(real_logits, fake_logits) -> scalar`."""

    discriminator: Callable[[jax.Array, jax.Array], jax.Array]
    generator: Callable[[jax.Array, jax.Array], jax.Array]


def _logits(x) -> jax.Array:
    return jnp.asarray(x, jnp.float32).reshape(-1)


def _mean(x: jax.Array) -> jax.Array:
    # An empty batch gives 0, not NaN; the size is static under jit.
    return jnp.sum(x) / max(x.size, 1)


def _cross_entropy_discriminator(label_smoothing: float):
    def discriminator(real_logits, fake_logits):
        r, f = _logits(real_logits), _logits(fake_logits)
        s = label_smoothing
        real_term = (1.0 - s) * jax.nn.softplus(-r) + s * jax.nn.softplus(r)
        return _mean(real_term) + _mean(jax.nn.softplus(f))
    return discriminator


def minimax(label_smoothing: float = 0.0) -> GANLoss:
    """The original saturating game (Goodfellow et al. 2014).

    D = E[sp(-r)] + E[sp(f)]   (binary cross-entropy, real = 1, fake = 0)
    G = -E[sp(f)]               (= E[log(1 - sigmoid(f))], minimised by G)

    `label_smoothing = s` makes the real target 1 - s (one-sided, Salimans et
    al. 2016): the real term becomes E[(1 - s) sp(-r) + s sp(r)].
    """
    return GANLoss(
        discriminator=_cross_entropy_discriminator(label_smoothing),
        generator=lambda r, f: -_mean(jax.nn.softplus(_logits(f))))


def non_saturating(label_smoothing: float = 0.0) -> GANLoss:
    """The non-saturating game (Goodfellow et al. 2014).

    D = E[sp(-r)] + E[sp(f)];  G = E[sp(-f)]  (= -E[log sigmoid(f)]).
    `label_smoothing` as in `minimax`.
    """
    return GANLoss(
        discriminator=_cross_entropy_discriminator(label_smoothing),
        generator=lambda r, f: _mean(jax.nn.softplus(-_logits(f))))


def wasserstein() -> GANLoss:
    """Wasserstein GAN (Arjovsky et al. 2017): D = E[f] - E[r];  G = -E[f].

    Needs a Lipschitz critic: weight clipping or a gradient penalty.
    """
    return GANLoss(
        discriminator=lambda r, f: _mean(_logits(f)) - _mean(_logits(r)),
        generator=lambda r, f: -_mean(_logits(f)))


def hinge() -> GANLoss:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018).

    D = E[relu(1 - r)] + E[relu(1 + f)];  G = -E[f].
    """
    return GANLoss(
        discriminator=lambda r, f: (_mean(jax.nn.relu(1.0 - _logits(r)))
                                    + _mean(jax.nn.relu(1.0 + _logits(f)))),
        generator=lambda r, f: -_mean(_logits(f)))


def least_squares() -> GANLoss:
    """Least-squares GAN (Mao et al. 2017) with a = 0, b = 1, c = 1.

    D = 1/2 E[(r - 1)^2] + 1/2 E[f^2];  G = 1/2 E[(f - 1)^2].
    """
    return GANLoss(
        discriminator=lambda r, f: (0.5 * _mean(jnp.square(_logits(r) - 1.0))
                                    + 0.5 * _mean(jnp.square(_logits(f)))),
        generator=lambda r, f: 0.5 * _mean(jnp.square(_logits(f) - 1.0)))


def relativistic() -> GANLoss:
    """Relativistic standard GAN, RSGAN (Jolicoeur-Martineau 2019).

    Pairs real and fake samples: D = E[sp(-(r - f))];  G = E[sp(-(f - r))].
    """
    return GANLoss(
        discriminator=lambda r, f: _mean(jax.nn.softplus(_logits(f) - _logits(r))),
        generator=lambda r, f: _mean(jax.nn.softplus(_logits(r) - _logits(f))))


def _relativistic_average(term: Callable[[jax.Array], jax.Array],
                          fake_sign: float):
    """Builds RaGAN-style losses from `term(x)`, the penalty for logit x.

    With mr = E[r] and mf = E[f]:
      D = E[term(r - mf)] + E[term(fake_sign * (f - mr))]
      G = E[term(f - mr)] + E[term(fake_sign * (r - mf))]
    """
    def split(real_logits, fake_logits):
        r, f = _logits(real_logits), _logits(fake_logits)
        return r - _mean(f), f - _mean(r)

    def discriminator(real_logits, fake_logits):
        real_rel, fake_rel = split(real_logits, fake_logits)
        return _mean(term(real_rel)) + _mean(term(fake_sign * fake_rel))

    def generator(real_logits, fake_logits):
        real_rel, fake_rel = split(real_logits, fake_logits)
        return _mean(term(fake_rel)) + _mean(term(fake_sign * real_rel))

    return GANLoss(discriminator=discriminator, generator=generator)


def relativistic_average() -> GANLoss:
    """Relativistic average GAN, RaGAN (Jolicoeur-Martineau 2019).

    D = E[sp(-(r - mf))] + E[sp(f - mr)];  G = E[sp(-(f - mr))] + E[sp(r - mf)].
    """
    return _relativistic_average(lambda x: jax.nn.softplus(-x), fake_sign=-1.0)


def relativistic_average_hinge() -> GANLoss:
    """RaHingeGAN (Jolicoeur-Martineau 2019).

    D = E[relu(1 - (r - mf))] + E[relu(1 + (f - mr))];
    G = E[relu(1 - (f - mr))] + E[relu(1 + (r - mf))].
    """
    return _relativistic_average(lambda x: jax.nn.relu(1.0 - x), fake_sign=-1.0)


def relativistic_average_least_squares() -> GANLoss:
    """RaLSGAN (Jolicoeur-Martineau 2019).

    D = E[(r - mf - 1)^2] + E[(f - mr + 1)^2];
    G = E[(f - mr - 1)^2] + E[(r - mf + 1)^2].
    """
    return _relativistic_average(lambda x: jnp.square(x - 1.0), fake_sign=-1.0)


def began(k: float = 0.0) -> GANLoss:
    """BEGAN (Berthelot et al. 2017) on auto-encoder energies, not logits.

    The discriminator's outputs are reconstruction errors L(.) >= 0:
    D = E[L(x)] - k E[L(G(z))];  G = E[L(G(z))]. The equilibrium variable k
    is a running statistic of training (`gan_jax.tricks.began`), passed in
    at every step; it may be traced.
    """
    return GANLoss(
        discriminator=lambda r, f: _mean(_logits(r)) - k * _mean(_logits(f)),
        generator=lambda r, f: _mean(_logits(f)))


def label_noise_term(real_logits: jax.Array, key: jax.Array,
                     noise: float) -> jax.Array:
    """What noisy one-sided labels add to a cross-entropy discriminator loss.

    With real targets t_i = 1 - s - noise * u_i, u_i ~ U(0, 1), the real term
    t sp(-r) + (1 - t) sp(r) equals sp(-r) + (1 - t) r, because
    sp(r) - sp(-r) = r. The loss with smoothing s already holds
    sp(-r) + s r, so the noise adds E[noise * u_i * r_i].
    """
    r = _logits(real_logits)
    u = jax.random.uniform(key, r.shape, jnp.float32)
    return noise * _mean(u * r)


LOSSES: dict[str, Callable[..., GANLoss]] = {
    "minimax": minimax,
    "non_saturating": non_saturating,
    "wasserstein": wasserstein,
    "hinge": hinge,
    "least_squares": least_squares,
    "relativistic": relativistic,
    "relativistic_average": relativistic_average,
    "relativistic_average_hinge": relativistic_average_hinge,
    "relativistic_average_least_squares": relativistic_average_least_squares,
    "began": began,
}


def accepted_options(name: str) -> tuple[str, ...]:
    """The keyword options loss `name` takes."""
    if name not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}. Valid losses: "
                         f"{', '.join(sorted(LOSSES))}.")
    return tuple(sorted(inspect.signature(LOSSES[name]).parameters))


def get(name: str, **options) -> GANLoss:
    """The loss `name` from `LOSSES`, built with `options`.

    `label_smoothing=0.0` is accepted by every loss (it means "off"), so one
    config field serves all of them; a non-zero value only by the
    cross-entropy losses.
    """
    accepted = accepted_options(name)
    # One config field serves every loss: 0.0 means "off", so drop it for the
    # losses that have no smoothing rather than reject it.
    if ("label_smoothing" not in accepted
            and options.get("label_smoothing") == 0.0):
        options = {k: v for k, v in options.items() if k != "label_smoothing"}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = (f"accepts only {', '.join(accepted)}" if accepted
                 else "takes no options")
        hint = (" Label smoothing applies to minimax and non_saturating."
                if "label_smoothing" in unknown else "")
        raise ValueError(
            f"Loss {name!r} {takes}; got {', '.join(unknown)}.{hint}")
    smoothing = options.get("label_smoothing", 0.0)
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label_smoothing={smoothing} must be in [0, 1): the "
                         "real target becomes 1 - label_smoothing.")
    return LOSSES[name](**options)
