"""The discriminator and generator objectives of one GAN, built from its spec.

An objective is a pure function of the parameters being optimised and of
arrays: `(params, ...) -> (loss, aux)`, where `aux` holds the updated BatchNorm
statistics, the scalar terms worth logging and, for the discriminator, the
outputs its running statistics follow. The adversarial loss comes from
`gan_jax.losses`, the regulariser from `gan_jax.penalties`, the stabilisation
tricks from `gan_jax.tricks`; this module only composes them, in the spirit
of StyleGAN2-ADA's separate loss phases (D main, D regulariser, G main).

The tricks are plugins (`gan_jax.tricks.base.Trick`): this module calls the
hooks of the active ones, in their composition order, and names none of
them. Every trick is off unless its config field turns it on, and a trick
that is off leaves no operation in the traced program.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from gan_jax import losses
from gan_jax import penalties
from gan_jax.game.state import apply_discriminator
from gan_jax.game.state import apply_network
from gan_jax.game.state import NetworkState
from gan_jax.tricks import options as options_lib
from gan_jax.tricks.base import DiscriminatorView
from gan_jax.tricks.base import GeneratorView
from gan_jax.tricks.options import TrickOptions

# Fixed `fold_in` indices of the discriminator inputs' random streams (the
# tricks' own streams are fixed in their modules), so that turning on one
# trick never changes another's draws.
_REAL_INPUT_STREAM, _FAKE_INPUT_STREAM = 101, 102
_INPUT_STREAMS = {"real": _REAL_INPUT_STREAM, "fake": _FAKE_INPUT_STREAM}
_GENERATOR_NOISE_STREAM = 103


def generator_rngs(key: jax.Array) -> dict[str, jax.Array]:
    """The generator's own randomness in a training pass (StyleGAN2's noise
    inputs and style mixing, `self.make_rng("noise")`), on a fixed stream
    of the pass's `key`; generators that draw none ignore it."""
    return {"noise": jax.random.fold_in(key, _GENERATOR_NOISE_STREAM)}


class Objectives(NamedTuple):
    """The phases' objectives and the tricks they were built with.

    `discriminator(d_params, d_state, real, fake, key, labels, **context)` and
    `generator(g_params, g_state, d_state, real, latents, labels, **context)`
    return `(loss, {"batch_stats", "metrics", ...})`;
    `generator_on_fakes(fake, d_state, real, labels, **context)` is the
    generator's loss as a function of its samples (no "batch_stats"); `labels` is None for
    unconditional models. `context` holds `step`, `tricks_state` and the
    inputs the tricks' `discriminator_inputs` / `generator_inputs` hooks
    make (the generator also takes `key`). `regularizer` is the lazy penalty
    phase (None unless `penalty.lazy_interval > 1`). `update_tricks(state,
    signals)` moves the tricks' running statistics after a discriminator step.
    """

    discriminator: Callable
    generator: Callable
    generator_on_fakes: Callable
    regularizer: Callable | None
    update_tricks: Callable
    options: TrickOptions


def prepare_inputs(x, key, *, step, tricks_state, options: TrickOptions,
                   per_sample_only: bool = False):
    """What the discriminator sees of samples `x`: each active trick's
    per-sample transform (augmentation, instance noise), then, unless
    `per_sample_only`, its regrouping of the batch (packing)."""
    for trick in options.with_hook("prepare_sample"):
        x = trick.prepare_sample(x, key, step, tricks_state, options)
    return x if per_sample_only else regroup(x, options)


def regroup(x, options: TrickOptions):
    """The batch-level part of `prepare_inputs` (PacGAN's packing)."""
    for trick in options.with_hook("prepare_batch"):
        x = trick.prepare_batch(x, options)
    return x


def _input_preparer(key, *, step, tricks_state, options: TrickOptions):
    """`prepare(x, side, per_sample_only=False)` with the key of `side`'s stream."""
    def prepare(x, side, per_sample_only=False):
        return prepare_inputs(x, jax.random.fold_in(key, _INPUT_STREAMS[side]),
                              step=step, tricks_state=tricks_state, options=options,
                              per_sample_only=per_sample_only)
    return prepare


def _adversarial_loss(loss: losses.GANLoss, options: TrickOptions, tricks_state):
    for trick in options.with_hook("adversarial_loss"):
        loss = trick.adversarial_loss(loss, tricks_state, options)
    return loss


def _weighted_sum(adversarial, terms):
    return adversarial + sum(weight * value for weight, value in terms.values())


def discriminator_objective(d_params, d_state: NetworkState, real, fake, key,
                            labels=None, *, step=0, tricks_state=None,
                            loss: losses.GANLoss, penalty: Callable, penalty_weight,
                            lazy: bool, options: TrickOptions, **inputs):
    """Adversarial loss on real and (fixed) fake samples plus regularisers.

    Args:
      step, tricks_state: the state's step and running statistics (tricks).
      lazy: the penalty is left to the lazy regularisation phase.
      inputs: what the tricks' `discriminator_inputs` hooks made (InfoGAN's
        codes, zCR's perturbed fakes).
    """
    tricks_state = tricks_state or {}
    prepare = _input_preparer(key, step=step, tricks_state=tricks_state,
                              options=options)
    real_in, fake_in = prepare(real, "real"), prepare(fake, "fake")
    real_logits, batch_stats, real_sown = apply_discriminator(
        d_state, d_params, real_in, labels=labels, train=True,
        capture=options.captures("d_real"))
    fake_logits, batch_stats, fake_sown = apply_discriminator(
        d_state.replace(batch_stats=batch_stats), d_params, fake_in,
        labels=labels, train=True, capture=options.captures("d_fake"))

    # Regularisers see the critic with the statistics of this step, and their
    # own forward passes must not move the running statistics a second time.
    def critic(x):
        return apply_network(d_state, d_params, x, labels=labels, train=True)[0]

    view = DiscriminatorView(
        real=real, fake=fake, real_in=real_in, fake_in=fake_in,
        real_logits=real_logits, fake_logits=fake_logits, real_sown=real_sown,
        fake_sown=fake_sown, labels=labels, key=key, step=step,
        tricks_state=tricks_state, critic=critic, prepare=prepare,
        regroup=functools.partial(regroup, options=options), inputs=inputs)
    adversarial = _adversarial_loss(loss, options, tricks_state).discriminator(
        real_logits, fake_logits)
    for trick in options.with_hook("discriminator_adversarial"):
        adversarial += trick.discriminator_adversarial(view, options)

    terms = {}
    if not lazy:
        terms["d_penalty"] = (penalty_weight, penalty(critic, real_in, fake_in, key))
    for trick in options.with_hook("discriminator_terms"):
        terms.update(trick.discriminator_terms(view, options))

    total = _weighted_sum(adversarial, terms)
    metrics = {
        "d_loss": total,
        "d_adversarial": adversarial,
        **{name: value for name, (_, value) in terms.items()},
        "d_real_logit": jnp.mean(real_logits.astype(jnp.float32)),
        "d_fake_logit": jnp.mean(fake_logits.astype(jnp.float32)),
    }
    for trick in options.with_hook("discriminator_metrics"):
        metrics.update(trick.discriminator_metrics(view, options))
    signals = {"real": jax.lax.stop_gradient(real_logits),
               "fake": jax.lax.stop_gradient(fake_logits)}
    return total, {"batch_stats": batch_stats, "metrics": metrics, "signals": signals}


def regularizer_objective(d_params, d_state: NetworkState, real, fake, key,
                          labels=None, *, step=0, tricks_state=None, penalty: Callable,
                          penalty_weight, interval: int, options: TrickOptions):
    """The lazy penalty phase (Karras et al. 2020): `interval * weight * penalty`,
    so that applied every `interval` steps it matches the penalty's average
    strength."""
    prepare = _input_preparer(key, step=step, tricks_state=tricks_state or {},
                              options=options)
    real_in, fake_in = prepare(real, "real"), prepare(fake, "fake")

    def critic(x):
        return apply_network(d_state, d_params, x, labels=labels, train=True)[0]

    value = penalty(critic, real_in, fake_in, key)
    total = interval * penalty_weight * value
    return total, {"batch_stats": d_state.batch_stats,
                   "metrics": {"d_lazy_penalty": value}}


def generator_objective(g_params, g_state: NetworkState, d_state: NetworkState,
                        real, latents, labels=None, *, key=None, step=0,
                        tricks_state=None, loss: losses.GANLoss,
                        options: TrickOptions, **inputs):
    """Adversarial generator loss through the current discriminator, plus tricks.

    Real logits are passed too, for relativistic losses; when a loss ignores
    them XLA removes that forward pass from the compiled step.
    """
    key = _generator_key(key, options)

    rngs = generator_rngs(key)

    def generate(z):
        return apply_network(g_state, g_params, z, labels=labels, train=True,
                             rngs=rngs)

    fake, batch_stats = generate(latents)
    adversarial, terms, extra_metrics, view = _generator_terms(
        fake, d_state, real, labels, key=key, step=step,
        tricks_state=tricks_state or {}, loss=loss, options=options, inputs=inputs)
    view = view._replace(latents=latents, generate=lambda z: generate(z)[0])
    for trick in options.with_hook("generator_pass_terms"):
        if trick.reruns_generator(options):
            terms.update(trick.generator_pass_terms(view, options))
    total, metrics = _generator_total(adversarial, terms, extra_metrics)
    return total, {"batch_stats": batch_stats, "metrics": metrics}


def generator_weight_objective(g_params, *, options: TrickOptions):
    """The weighted sum of the active tricks' terms of G's parameters alone
    (`Trick.generator_weight_terms`) and their values `{name: value}`."""
    terms = {}
    for trick in options.with_hook("generator_weight_terms"):
        terms.update(trick.generator_weight_terms(g_params, options))
    return _weighted_sum(0.0, terms), {name: value for name, (_, value) in terms.items()}


def generator_objective_on_fakes(fake, d_state: NetworkState, real, labels=None, *,
                                 key=None, step=0, tricks_state=None,
                                 loss: losses.GANLoss, options: TrickOptions,
                                 **inputs):
    """`generator_objective` as a function of the generator's samples `fake`.

    For a step that pulls the gradient with respect to `fake` back through a
    generator forward pass it already made (`jax.vjp`). Every term except
    those that run the generator again (zCR's) depends on the generator only
    through `fake`; those are refused here.
    """
    for trick in options.with_hook("reruns_generator"):
        if trick.reruns_generator(options):
            raise ValueError(
                f"The generator's {trick.title} term runs the generator a second "
                "time, so the generator step cannot reuse the critic's fakes. "
                "Set --config.train.generator_reuses_fakes=False or turn "
                f"{trick.title}'s generator term off.")
    adversarial, terms, extra_metrics, _ = _generator_terms(
        fake, d_state, real, labels, key=_generator_key(key, options), step=step,
        tricks_state=tricks_state or {}, loss=loss, options=options, inputs=inputs)
    total, metrics = _generator_total(adversarial, terms, extra_metrics)
    return total, {"metrics": metrics}


def _generator_key(key, options: TrickOptions):
    if key is not None:
        return key
    drawing = options.generator_draws()
    if drawing:
        raise ValueError(
            "generator_objective needs a PRNG `key`: "
            f"{', '.join(t.title for t in drawing)} draw randomness in the "
            "generator step.")
    return jax.random.key(0)  # Never drawn from: no trick that draws is on.


def _generator_terms(fake, d_state: NetworkState, real, labels, *, key, step,
                     tricks_state, loss: losses.GANLoss, options: TrickOptions,
                     inputs):
    """The adversarial loss, the weighted trick terms `{name: (weight, value)}`,
    extra metrics and the tricks' view, all as functions of the samples `fake`."""
    prepare = _input_preparer(key, step=step, tricks_state=tricks_state,
                              options=options)
    real_in, fake_in = prepare(real, "real"), prepare(fake, "fake")
    view = GeneratorView(
        real=real, fake=fake, real_in=real_in, fake_in=fake_in, labels=labels,
        key=key, step=step, tricks_state=tricks_state,
        loss=_adversarial_loss(loss, options, tricks_state), d_state=d_state,
        inputs=inputs)

    d_params = d_state.params
    for trick in options.with_hook("generator_params"):
        d_params = trick.generator_params(view, options, d_params)

    fake_logits, _, fake_sown = apply_discriminator(
        d_state, d_params, fake_in, labels=labels, train=True,
        capture=options.captures("g_fake"))
    real_logits, _, real_sown = apply_discriminator(
        d_state, d_params, real_in, labels=labels, train=True,
        capture=options.captures("g_real"))
    real_logits = jax.lax.stop_gradient(real_logits)
    view = view._replace(real_logits=real_logits, fake_logits=fake_logits,
                         real_sown=real_sown, fake_sown=fake_sown)

    adversarial, extra_metrics = None, {}
    for trick in options.with_hook("generator_adversarial"):
        adversarial, trick_metrics = trick.generator_adversarial(
            view, options, adversarial)
        extra_metrics.update(trick_metrics)
    if adversarial is None:
        adversarial = view.loss.generator(real_logits, fake_logits)
    terms = {}
    for trick in options.with_hook("generator_terms"):
        terms.update(trick.generator_terms(view, options))
    return adversarial, terms, extra_metrics, view


def _generator_total(adversarial, terms, extra_metrics):
    total = _weighted_sum(adversarial, terms)
    metrics = {"g_loss": total, **{name: value for name, (_, value) in terms.items()}}
    if terms:
        metrics["g_adversarial"] = adversarial
    metrics.update(extra_metrics)
    return total, metrics


def per_sample_input_gradients(spec) -> bool:
    """Whether the penalty takes each sample's own input gradient,
    d logit_i / d x_i with the other samples fixed (`gan_jax.penalties`).

    Yes with minibatch discrimination (`model.d_minibatch_kernels > 0`): each
    logit then sums the sample's closeness to every other one, so the
    gradient of the sum of the logits is no sample's gradient (on the toy MLP
    of tests/test_penalty_objectives.py, R1 2.03 instead of 0.59). It costs
    B backward passes (B the batch) instead of one. With the minibatch
    standard deviation alone, the sum of the logits, as Progressive GAN and
    StyleGAN2 take their GP and R1 with that layer in place (Karras et al.
    2018, 2020), so penalty weights carry over from their papers; the cross
    terms enter only through one averaged statistic per group.
    """
    return spec.model.d_minibatch_kernels > 0


def create(spec, *, penalty_weight=None, label_smoothing=None) -> Objectives:
    """Objectives for the run's spec (a `gan_jax.run.gan_spec.GanSpec`; this
    layer sits below the run's and reads its `loss`, `penalty` and `tricks`).

    `penalty_weight` and `label_smoothing`, when given, replace the spec's
    values and may be traced arrays, so that settings differing only in them
    share one compiled program; the spec's own values are checked either way
    (building the spec builds these objectives once, as its check).
    """
    loss_name = spec.loss.name
    loss = losses.get(loss_name, label_smoothing=spec.loss.label_smoothing)
    if (label_smoothing is not None
            and "label_smoothing" in losses.accepted_options(loss_name)):
        loss = losses.LOSSES[loss_name](label_smoothing=label_smoothing)
    # `target` is one config field shared by the penalties that have a target
    # norm; penalties without one (R1, R2) must not receive it.
    penalty_options = {}
    if "target" in penalties.accepted_options(spec.penalty.name):
        penalty_options["target"] = spec.penalty.target
    penalty = penalties.get(spec.penalty.name,
                            per_sample_gradients=per_sample_input_gradients(spec),
                            **penalty_options)
    if penalty_weight is None:
        penalty_weight = spec.penalty.weight
    # Lazy regularisation is a penalty option (1 = the penalty in every
    # discriminator step); the declaration keeps it >= 1.
    interval = spec.penalty.lazy_interval
    if interval > 1 and spec.penalty.name == "none":
        raise ValueError(f"--config.penalty.lazy_interval={interval} schedules a "
                         "penalty, but --config.penalty.name is none: set "
                         "--config.penalty.name to a penalty, e.g. "
                         "--config.penalty.name=r1, or "
                         "--config.penalty.lazy_interval=1.")
    options = spec.tricks
    regularizer = None
    if interval > 1:
        regularizer = functools.partial(
            regularizer_objective, penalty=penalty, penalty_weight=penalty_weight,
            interval=interval, options=options)
    return Objectives(
        discriminator=functools.partial(
            discriminator_objective, loss=loss, penalty=penalty,
            penalty_weight=penalty_weight, lazy=interval > 1, options=options),
        generator=functools.partial(generator_objective, loss=loss, options=options),
        generator_on_fakes=functools.partial(generator_objective_on_fakes, loss=loss,
                                             options=options),
        regularizer=regularizer,
        update_tricks=functools.partial(options_lib.update_state, options),
        options=options,
    )
