"""Consistency regularisation of the discriminator.

CR (Zhang et al. 2020, "Consistency Regularization for Generative Adversarial
Networks") asks D to score a real sample and an augmented copy alike:

    CR = E_x[(D(x) - D(T(x)))^2].

bCR (Zhao et al. 2021, "Improved Consistency Regularization for GANs")
applies the same term to fakes too, and zCR perturbs the latent instead:

    zCR_D = E_z[||D(G(z)) - D(G(z + dz))||^2],    dz ~ N(0, sigma^2 I),
    zCR_G = -E_z[||G(z) - G(z + dz)||^2]   (the generator is pushed to use z).

Every term follows the papers' convention: ||.||^2 is the squared L2 norm of
one sample's difference (summed over its elements: D's outputs, G's pixels),
and E is the mean over the batch. For a D with one output per sample, D's
terms are the mean squared difference of the logits; G's term is the sum of
squared pixel differences per image, not their mean, so its weight is on the
paper's scale (Zhao et al. 2021's lambda_gen = 0.5).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks import augment
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick

# Fixed `fold_in` indices under the objectives' keys (the objectives' own
# input streams are 101 and 102), so that turning on one trick never
# changes another's draws.
CR_REAL_STREAM, CR_FAKE_STREAM, ZCR_STREAM = 104, 105, 106


def _mean_squared_norm(diff: jax.Array) -> jax.Array:
    """`(1/B) sum_i ||diff_i||^2`: each sample's squared L2 norm (over all of
    its elements), averaged over the batch (the leading axis); float32."""
    diff = jnp.asarray(diff, jnp.float32)
    # An empty batch gives 0, not NaN; the size is static under jit.
    return jnp.sum(jnp.square(diff)) / max(diff.shape[0], 1)


def output_difference(critic_fn: Callable[[jax.Array], jax.Array],
                      x: jax.Array, x_other: jax.Array) -> jax.Array:
    """`E_i[||D(x_i) - D(x'_i)||^2]`, float32: CR's and zCR's D terms
    (Zhang et al. 2020; Zhao et al. 2021, L_dis of zCR), the squared
    norm of each sample's output difference (the squared difference for a
    scalar D), averaged over the batch."""
    a = jnp.asarray(critic_fn(x), jnp.float32)
    b = jnp.asarray(critic_fn(x_other), jnp.float32)
    return _mean_squared_norm(a - b)


def augmentation_penalty(critic_fn: Callable[[jax.Array], jax.Array],
                         x: jax.Array, key: jax.Array,
                         policy: tuple[str, ...]) -> jax.Array:
    """CR (on reals) or bCR's fake term: `E[(D(x) - D(T(x)))^2]`, T = `policy`."""
    return output_difference(critic_fn, x, augment.apply(x, key, policy))


def perturb_latents(latents: jax.Array, key: jax.Array, std: float) -> jax.Array:
    """`z + dz`, `dz ~ N(0, std^2 I)`."""
    return latents + std * jax.random.normal(key, latents.shape, jnp.float32)


def generator_diversity(fake: jax.Array, fake_perturbed: jax.Array) -> jax.Array:
    """`E_z[||G(z) - G(z + dz)||^2]`, float32: each sample's squared L2 norm
    (summed over its pixels and channels), averaged over the batch. zCR's
    generator loss is this times `-zcr_g_weight` (Zhao et al. 2021,
    "Improved Consistency Regularization for GANs", zCR's
    L_gen = -lambda_gen ||G(z) - G(T(z))||^2)."""
    diff = (jnp.asarray(fake, jnp.float32) - jnp.asarray(fake_perturbed, jnp.float32))
    return _mean_squared_norm(diff)


# CR / bCR: T acts on samples, before D's inputs are regrouped (packed).

def _cr_check(options) -> None:
    require(not (options.cr_real_weight or options.cr_fake_weight)
            or options.cr_augment,
            "Consistency regularisation (--config.tricks.cr_real_weight="
            f"{options.cr_real_weight!r}, --config.tricks.cr_fake_weight="
            f"{options.cr_fake_weight!r}) needs the transformation "
            "--config.tricks.cr_augment, which is empty: set it, e.g. "
            "--config.tricks.cr_augment=translation for images, jitter for points.")


def _cr_terms(view, options) -> dict:
    def sample_critic(x):
        return view.critic(view.regroup(x))
    real = view.prepare(view.real, "real", per_sample_only=True)
    fake = view.prepare(view.fake, "fake", per_sample_only=True)
    terms = {}
    if options.cr_real_weight:
        terms["d_cr_real"] = (options.cr_real_weight, augmentation_penalty(
            sample_critic, real, jax.random.fold_in(view.key, CR_REAL_STREAM),
            options.cr_augment))
    if options.cr_fake_weight:
        terms["d_cr_fake"] = (options.cr_fake_weight, augmentation_penalty(
            sample_critic, fake, jax.random.fold_in(view.key, CR_FAKE_STREAM),
            options.cr_augment))
    return terms


# zCR: D's term compares D on fakes of z and of z + dz, drawn in the critic
# step; G's term runs the generator a second time.

def _zcr_check(options) -> None:
    require(not (options.zcr_g_weight and options.context.generator_reuses_fakes),
            "--config.train.generator_reuses_fakes=True cannot be combined with "
            f"the generator's zCR term (--config.tricks.zcr_g_weight="
            f"{options.zcr_g_weight!r}), which runs the generator a second time. "
            "Set --config.tricks.zcr_g_weight=0.0 or "
            "--config.train.generator_reuses_fakes=False.")


def _zcr_discriminator_inputs(latents, latent_key, generate, options) -> dict:
    if not options.zcr_d_weight:
        return {}
    return {"fake_perturbed": generate(perturb_latents(
        latents, jax.random.fold_in(latent_key, 2), options.zcr_std))}


def _zcr_discriminator_terms(view, options) -> dict:
    if not options.zcr_d_weight:
        return {}
    perturbed = view.prepare(view.inputs["fake_perturbed"], "fake")
    return {"d_zcr": (options.zcr_d_weight,
                      output_difference(view.critic, view.fake_in, perturbed))}


def _zcr_generator_terms(view, options) -> dict:
    perturbed = perturb_latents(view.latents, jax.random.fold_in(view.key, ZCR_STREAM),
                                options.zcr_std)
    return {"g_zcr": (-options.zcr_g_weight,
                      generator_diversity(view.fake, view.generate(perturbed)))}


TRICKS = (
    Trick(
        name="consistency", title="consistency regularisation (CR, bCR)", order=40,
        fields=(
            Field("cr_real_weight", 0.0, "weight of |D(x) - D(T(x))|^2 on reals "
                  "(CR; 0 = off)", fields.NON_NEGATIVE),
            Field("cr_fake_weight", 0.0, "weight of the same on fakes (bCR; "
                  "0 = off)", fields.NON_NEGATIVE),
            Field("cr_augment", "translation", "T: comma-separated ops of "
                  "gan_jax.tricks.augment.OPS", augment.POLICY, augment.parse_policy),
        ),
        is_active=lambda o: o.cr_real_weight > 0 or o.cr_fake_weight > 0,
        check=_cr_check,
        discriminator_terms=_cr_terms,
    ),
    Trick(
        name="zcr", title="latent consistency regularisation (zCR)", order=50,
        fields=(
            Field("zcr_d_weight", 0.0, "weight of D's |D(G(z)) - D(G(z'))|^2 "
                  "(0 = off)", fields.NON_NEGATIVE),
            Field("zcr_g_weight", 0.0, "weight of G's -|G(z) - G(z')|^2, "
                  "pushing G to vary with z (0 = off)", fields.NON_NEGATIVE),
            Field("zcr_std", 0.03, "std of the latent perturbation z' - z",
                  fields.NON_NEGATIVE),
        ),
        is_active=lambda o: o.zcr_d_weight > 0 or o.zcr_g_weight > 0,
        check=_zcr_check,
        discriminator_inputs=_zcr_discriminator_inputs,
        discriminator_terms=_zcr_discriminator_terms,
        generator_draws=lambda o: o.zcr_g_weight > 0,
        reruns_generator=lambda o: o.zcr_g_weight > 0,
        generator_pass_terms=_zcr_generator_terms,
    ),
)
