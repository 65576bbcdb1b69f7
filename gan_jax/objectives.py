"""The discriminator and generator objectives of one GAN, built from the config.

An objective is a pure function of the parameters being optimised and of
arrays: `(params, ...) -> (loss, aux)`, where `aux` holds the updated BatchNorm
statistics, the scalar terms worth logging and, for the discriminator, the
outputs its running statistics follow. The adversarial loss comes from
`gan_jax.losses`, the regulariser from `gan_jax.penalties`, the stabilisation
tricks from `gan_jax.tricks`; this module only composes them, in the spirit
of StyleGAN2-ADA's separate loss phases (D main, D regulariser, G main).

Every trick is off unless its config field turns it on, and a trick that is
off leaves no operation in the traced program.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax import losses
from gan_jax import penalties
from gan_jax.state import NetworkState, apply_discriminator, apply_network
from gan_jax.tricks import augment
from gan_jax.tricks import auxiliary
from gan_jax.tricks import consistency
from gan_jax.tricks import feature_matching
from gan_jax.tricks import instance_noise
from gan_jax.tricks import lecam
from gan_jax.tricks import options as options_lib
from gan_jax.tricks import packing
from gan_jax.tricks import top_k
from gan_jax.tricks import unrolled
from gan_jax.tricks.options import TrickOptions

# Fixed `fold_in` indices of the objectives' random streams, so that turning
# on one trick never changes another's draws.
_REAL_INPUT_STREAM, _FAKE_INPUT_STREAM, _LABEL_NOISE_STREAM = 101, 102, 103
_CR_REAL_STREAM, _CR_FAKE_STREAM, _ZCR_STREAM = 104, 105, 106


class Objectives(NamedTuple):
    """The phases' objectives and the tricks they were built with.

    `discriminator(d_params, d_state, real, fake, key, labels, **context)` and
    `generator(g_params, g_state, d_state, real, latents, labels, **context)`
    return `(loss, {"batch_stats", "metrics", ...})`;
    `generator_on_fakes(fake, d_state, real, labels, **context)` is the
    generator's loss as a function of its samples (no "batch_stats"); `labels` is None for
    unconditional models. `regularizer` is the lazy penalty phase (None unless
    `penalty.lazy_interval > 1`). `update_tricks(state, signals)` moves the
    tricks' running statistics after a discriminator step.
    """

    discriminator: Callable
    generator: Callable
    generator_on_fakes: Callable
    regularizer: Callable | None
    update_tricks: Callable
    options: TrickOptions


def prepare_inputs(x, key, *, step, tricks_state, options: TrickOptions):
    """What the discriminator sees of samples `x`: augmented (DiffAugment,
    with ADA's probability when on), with instance noise, packed."""
    if options.augment:
        probability = tricks_state["ada"]["p"] if options.ada else 1.0
        x = augment.apply(x, jax.random.fold_in(key, 0), options.augment,
                          probability=probability)
    if options.noise_std:
        std = instance_noise.noise_std(step, options.noise_std, options.noise_steps)
        x = instance_noise.add_noise(x, jax.random.fold_in(key, 1), std)
    return packing.pack_samples(x, options.pack)


def _adversarial_loss(loss: losses.GANLoss, options: TrickOptions, tricks_state):
    return losses.began(tricks_state["began_k"]) if options.began else loss


def discriminator_objective(d_params, d_state: NetworkState, real, fake, key,
                            labels=None, *, step=0, tricks_state=None, codes=None,
                            fake_perturbed=None, loss: losses.GANLoss,
                            penalty: Callable, penalty_weight, options: TrickOptions):
    """Adversarial loss on real and (fixed) fake samples plus regularisers.

    Args:
      step, tricks_state: the state's step and running statistics (tricks).
      codes: InfoGAN's categories of the fakes (when on).
      fake_perturbed: zCR's fakes from perturbed latents (when on).
    """
    tricks_state = tricks_state or {}
    prepare = functools.partial(prepare_inputs, step=step, tricks_state=tricks_state,
                                options=options)
    real_in = prepare(real, jax.random.fold_in(key, _REAL_INPUT_STREAM))
    fake_in = prepare(fake, jax.random.fold_in(key, _FAKE_INPUT_STREAM))
    real_logits, batch_stats, real_sown = apply_discriminator(
        d_state, d_params, real_in, labels=labels, train=True,
        capture=options.captures)
    fake_logits, batch_stats, fake_sown = apply_discriminator(
        d_state.replace(batch_stats=batch_stats), d_params, fake_in,
        labels=labels, train=True, capture=options.captures)
    adversarial = _adversarial_loss(loss, options, tricks_state).discriminator(
        real_logits, fake_logits)
    if options.label_noise:
        adversarial += losses.label_noise_term(
            real_logits, jax.random.fold_in(key, _LABEL_NOISE_STREAM),
            options.label_noise)

    # Regularisers see the critic with the statistics of this step, and their
    # own forward passes must not move the running statistics a second time.
    def critic_fn(x):
        return apply_network(d_state, d_params, x, labels=labels, train=True)[0]

    terms = {}
    if not options.lazy:
        terms["d_penalty"] = (penalty_weight, penalty(critic_fn, real_in, fake_in, key))
    if options.cr_real_weight or options.cr_fake_weight:
        # T acts on samples, before packing.
        def sample_critic(x):
            return critic_fn(packing.pack_samples(x, options.pack))
        real_pre = _unpacked(prepare, real, key, _REAL_INPUT_STREAM, options)
        fake_pre = _unpacked(prepare, fake, key, _FAKE_INPUT_STREAM, options)
        if options.cr_real_weight:
            terms["d_cr_real"] = (options.cr_real_weight, consistency.augmentation_penalty(
                sample_critic, real_pre, jax.random.fold_in(key, _CR_REAL_STREAM),
                options.cr_augment))
        if options.cr_fake_weight:
            terms["d_cr_fake"] = (options.cr_fake_weight, consistency.augmentation_penalty(
                sample_critic, fake_pre, jax.random.fold_in(key, _CR_FAKE_STREAM),
                options.cr_augment))
    if options.zcr_d_weight:
        perturbed_in = prepare(fake_perturbed, jax.random.fold_in(key, _FAKE_INPUT_STREAM))
        terms["d_zcr"] = (options.zcr_d_weight, consistency.output_difference(
            critic_fn, fake_in, perturbed_in))
    if options.lecam_weight:
        terms["d_lecam"] = (options.lecam_weight, lecam.penalty(
            real_logits, fake_logits, tricks_state["lecam"]))
    if options.aux_outputs:
        real_classes, _ = auxiliary.split_heads(
            real_sown["aux_logits"], options.num_classes if options.acgan else 0,
            options.infogan_categories)
        fake_classes, fake_codes = auxiliary.split_heads(
            fake_sown["aux_logits"], options.num_classes if options.acgan else 0,
            options.infogan_categories)
        if options.acgan:
            terms["d_acgan"] = (options.acgan_weight,
                                auxiliary.cross_entropy(real_classes, labels)
                                + auxiliary.cross_entropy(fake_classes, labels))
        if options.infogan_categories:
            terms["d_infogan"] = (options.infogan_weight,
                                  auxiliary.cross_entropy(fake_codes, codes))

    total = adversarial + sum(weight * value for weight, value in terms.values())
    metrics = {
        "d_loss": total,
        "d_adversarial": adversarial,
        **{name: value for name, (_, value) in terms.items()},
        "d_real_logit": jnp.mean(real_logits.astype(jnp.float32)),
        "d_fake_logit": jnp.mean(fake_logits.astype(jnp.float32)),
    }
    if options.noise_std:
        metrics["noise_std"] = instance_noise.noise_std(step, options.noise_std,
                                                        options.noise_steps)
    signals = {"real": jax.lax.stop_gradient(real_logits),
               "fake": jax.lax.stop_gradient(fake_logits)}
    return total, {"batch_stats": batch_stats, "metrics": metrics, "signals": signals}


def _unpacked(prepare, x, key, stream, options: TrickOptions):
    """The per-sample part of `prepare_inputs` (augmentation and noise)."""
    return prepare(x, jax.random.fold_in(key, stream),
                   options=options._replace(pack=1))


def regularizer_objective(d_params, d_state: NetworkState, real, fake, key,
                          labels=None, *, step=0, tricks_state=None, penalty: Callable,
                          penalty_weight, options: TrickOptions):
    """The lazy penalty phase (Karras et al. 2020): `interval * weight * penalty`,
    so that applied every `interval` steps it matches the penalty's average
    strength."""
    prepare = functools.partial(prepare_inputs, step=step,
                                tricks_state=tricks_state or {}, options=options)
    real_in = prepare(real, jax.random.fold_in(key, _REAL_INPUT_STREAM))
    fake_in = prepare(fake, jax.random.fold_in(key, _FAKE_INPUT_STREAM))

    def critic_fn(x):
        return apply_network(d_state, d_params, x, labels=labels, train=True)[0]

    value = penalty(critic_fn, real_in, fake_in, key)
    total = options.lazy_interval * penalty_weight * value
    return total, {"batch_stats": d_state.batch_stats,
                   "metrics": {"d_lazy_penalty": value}}


def generator_objective(g_params, g_state: NetworkState, d_state: NetworkState,
                        real, latents, labels=None, *, key=None, step=0,
                        tricks_state=None, codes=None, loss: losses.GANLoss,
                        options: TrickOptions):
    """Adversarial generator loss through the current discriminator, plus tricks.

    Real logits are passed too, for relativistic losses; when a loss ignores
    them XLA removes that forward pass from the compiled step.
    """
    key = _generator_key(key, options)
    fake, batch_stats = apply_network(g_state, g_params, latents, labels=labels,
                                      train=True)
    adversarial, terms, extra_metrics = _generator_terms(
        fake, d_state, real, labels, key=key, step=step,
        tricks_state=tricks_state or {}, codes=codes, loss=loss, options=options)
    if options.zcr_g_weight:
        perturbed = consistency.perturb_latents(
            latents, jax.random.fold_in(key, _ZCR_STREAM), options.zcr_std)
        fake_perturbed, _ = apply_network(g_state, g_params, perturbed,
                                          labels=labels, train=True)
        terms["g_zcr"] = (-options.zcr_g_weight,
                          consistency.generator_diversity(fake, fake_perturbed))
    total, metrics = _generator_total(adversarial, terms, extra_metrics)
    return total, {"batch_stats": batch_stats, "metrics": metrics}


def generator_objective_on_fakes(fake, d_state: NetworkState, real, labels=None, *,
                                 key=None, step=0, tricks_state=None, codes=None,
                                 loss: losses.GANLoss, options: TrickOptions):
    """`generator_objective` as a function of the generator's samples `fake`.

    For a step that pulls the gradient with respect to `fake` back through a
    generator forward pass it already made (`jax.vjp`). Every term except
    zCR's depends on the generator only through `fake`; zCR needs a second
    generator pass, so it is refused here.
    """
    if options.zcr_g_weight:
        raise ValueError("The generator's zCR term runs the generator a second "
                         "time, so the generator step cannot reuse the "
                         "critic's fakes. Set --config.tricks.zcr_g_weight=0 or "
                         "--config.train.generator_reuses_fakes=False.")
    adversarial, terms, extra_metrics = _generator_terms(
        fake, d_state, real, labels, key=_generator_key(key, options), step=step,
        tricks_state=tricks_state or {}, codes=codes, loss=loss, options=options)
    total, metrics = _generator_total(adversarial, terms, extra_metrics)
    return total, {"metrics": metrics}


def _generator_key(key, options: TrickOptions):
    if key is not None:
        return key
    if options.generator_draws:
        raise ValueError(
            "generator_objective needs a PRNG `key`: augmentation, instance "
            "noise or zCR is on and draws randomness in the generator step.")
    return jax.random.key(0)  # Never drawn from: no trick that draws is on.


def _generator_terms(fake, d_state: NetworkState, real, labels, *, key, step,
                     tricks_state, codes, loss: losses.GANLoss, options: TrickOptions):
    """The adversarial loss, the weighted trick terms `{name: (weight, value)}`
    and extra metrics, all as functions of the samples `fake`."""
    prepare = functools.partial(prepare_inputs, step=step, tricks_state=tricks_state,
                                options=options)
    real_in = prepare(real, jax.random.fold_in(key, _REAL_INPUT_STREAM))
    fake_in = prepare(fake, jax.random.fold_in(key, _FAKE_INPUT_STREAM))
    adversarial_loss = _adversarial_loss(loss, options, tricks_state)

    d_params = d_state.params
    if options.unrolled_steps:
        def unrolled_d_loss(params):
            r = apply_network(d_state, params, real_in, labels=labels, train=True)[0]
            f = apply_network(d_state, params, fake_in, labels=labels, train=True)[0]
            return adversarial_loss.discriminator(r, f)
        d_params = unrolled.unroll(d_params, d_state.opt_state, d_state.tx,
                                   unrolled_d_loss, options.unrolled_steps)

    fake_logits, _, fake_sown = apply_discriminator(
        d_state, d_params, fake_in, labels=labels, train=True,
        capture=options.captures)
    real_logits, _, real_sown = apply_discriminator(
        d_state, d_params, real_in, labels=labels, train=True,
        capture=options.feature_matching_weight > 0)
    real_logits = jax.lax.stop_gradient(real_logits)

    terms = {}
    extra_metrics = {}
    if options.top_k:
        k = top_k.keep_count(step, fake_logits.shape[0],
                             min_fraction=options.top_k_min_fraction,
                             decay=options.top_k_decay, every=options.top_k_every)
        per_sample = jax.vmap(lambda f: adversarial_loss.generator(
            real_logits, f[None]))(fake_logits.reshape(-1))
        adversarial = top_k.top_k_mean(per_sample, fake_logits, k)
        extra_metrics["g_top_k"] = k.astype(jnp.float32)
    else:
        adversarial = adversarial_loss.generator(real_logits, fake_logits)
    if options.feature_matching_replace:
        adversarial = jnp.zeros((), jnp.float32)
    if options.feature_matching_weight:
        terms["g_feature_matching"] = (options.feature_matching_weight,
                                       feature_matching.loss(real_sown["features"],
                                                             fake_sown["features"]))
    if options.aux_outputs:
        fake_classes, fake_codes = auxiliary.split_heads(
            fake_sown["aux_logits"], options.num_classes if options.acgan else 0,
            options.infogan_categories)
        if options.acgan:
            terms["g_acgan"] = (options.acgan_weight,
                                auxiliary.cross_entropy(fake_classes, labels))
        if options.infogan_categories:
            terms["g_infogan"] = (options.infogan_weight,
                                  auxiliary.cross_entropy(fake_codes, codes))
    return adversarial, terms, extra_metrics


def _generator_total(adversarial, terms, extra_metrics):
    total = adversarial + sum(weight * value for weight, value in terms.values())
    metrics = {"g_loss": total, **{name: value for name, (_, value) in terms.items()}}
    if terms:
        metrics["g_adversarial"] = adversarial
    metrics.update(extra_metrics)
    return total, metrics


def create(config: ml_collections.ConfigDict, *, penalty_weight=None,
           label_smoothing=None) -> Objectives:
    """Objectives for `config.loss`, `config.penalty` and `config.tricks`.

    `penalty_weight` and `label_smoothing`, when given, replace the config's
    values and may be traced arrays, so that settings differing only in them
    share one compiled program; the config's own values are validated either way.
    """
    loss_name = config.loss.name
    loss = losses.get(loss_name, label_smoothing=float(config.loss.label_smoothing))
    if (label_smoothing is not None
            and "label_smoothing" in losses.accepted_options(loss_name)):
        loss = losses.LOSSES[loss_name](label_smoothing=label_smoothing)
    # `target` is one config field shared by the penalties that have a target
    # norm; penalties without one (R1, R2) must not receive it.
    penalty_options = {}
    if "target" in penalties.accepted_options(config.penalty.name):
        penalty_options["target"] = float(config.penalty.target)
    penalty = penalties.get(config.penalty.name, **penalty_options)
    if penalty_weight is None:
        penalty_weight = float(config.penalty.weight)
    options = options_lib.from_config(config)
    regularizer = None
    if options.lazy:
        regularizer = functools.partial(
            regularizer_objective, penalty=penalty, penalty_weight=penalty_weight,
            options=options)
    return Objectives(
        discriminator=functools.partial(
            discriminator_objective, loss=loss, penalty=penalty,
            penalty_weight=penalty_weight, options=options),
        generator=functools.partial(generator_objective, loss=loss, options=options),
        generator_on_fakes=functools.partial(generator_objective_on_fakes, loss=loss,
                                             options=options),
        regularizer=regularizer,
        update_tricks=functools.partial(options_lib.update_state, options),
        options=options,
    )
