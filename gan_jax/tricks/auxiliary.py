"""Auxiliary classification heads on the discriminator.

ACGAN (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs"): D also predicts the class; both players minimise the
cross-entropy of the class of reals (D only) and fakes (both), so the
generator makes recognisable classes.

InfoGAN (Chen et al. 2016): a head Q on D predicts the categorical code c in
the generator's latent; both players minimise the cross-entropy of c, a
lower bound on (minus) the mutual information I(c; G(z, c)) up to H(c).

Both are `cross_entropy(head_logits, targets)` on their slice of the
discriminator's sown "aux_logits" (`TrickOptions.aux_logits`: the slices
follow the composition order, ACGAN's classes first, then InfoGAN's
categories).
"""

import jax
import jax.numpy as jnp
import optax

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer `targets` (0 for an empty batch)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(logits, jnp.float32), targets)
    return jnp.sum(losses) / max(losses.size, 1)


def categorical_code(latents: jax.Array, categories: int) -> jax.Array:
    """The InfoGAN category of each latent from `gan_jax.game.latents.sample_latents`
    (its first `categories` entries are one-hot), `(batch,)` int32."""
    return jnp.argmax(latents[:, :categories], axis=-1).astype(jnp.int32)


# ACGAN: D predicts the class of reals and fakes, G makes fakes whose class
# D recognises.

def _acgan_check(options) -> None:
    require(not options.is_on("acgan") or options.context.num_classes,
            f"--config.tricks.acgan_weight={options.acgan_weight!r} needs class "
            "labels: set --config.model.num_classes to the dataset's number of "
            "classes, e.g. 10, or --config.tricks.acgan_weight=0.0.")


def _acgan_discriminator_terms(view, options) -> dict:
    real = options.aux_logits(view.real_sown, "acgan")
    fake = options.aux_logits(view.fake_sown, "acgan")
    return {"d_acgan": (options.acgan_weight, cross_entropy(real, view.labels)
                        + cross_entropy(fake, view.labels))}


def _acgan_generator_terms(view, options) -> dict:
    fake = options.aux_logits(view.fake_sown, "acgan")
    return {"g_acgan": (options.acgan_weight, cross_entropy(fake, view.labels))}


# InfoGAN: both players recover the categorical code of the fakes' latents.

def _infogan_check(options) -> None:
    categories, latent_dim = options.infogan_categories, options.context.latent_dim
    require(categories <= latent_dim,
            f"--config.tricks.infogan_categories={categories} exceeds "
            f"--config.model.latent_dim={latent_dim}: the code is part of z. Set "
            f"--config.tricks.infogan_categories to at most {latent_dim}, e.g. "
            f"--config.tricks.infogan_categories={latent_dim}, or "
            f"--config.model.latent_dim to at least {categories}.")


def _codes(latents, options) -> dict:
    return {"codes": categorical_code(latents, options.infogan_categories)}


def _infogan_terms(prefix):
    def terms(view, options) -> dict:
        fake = options.aux_logits(view.fake_sown, "infogan")
        return {f"{prefix}_infogan": (options.infogan_weight,
                                      cross_entropy(fake, view.inputs["codes"]))}
    return terms


TRICKS = (
    Trick(
        name="acgan", title="ACGAN", order=90,
        fields=(Field("acgan_weight", 0.0, "weight of the class cross-entropy "
                      "of D's auxiliary head, for both players (0 = off)",
                      fields.NON_NEGATIVE),),
        is_active=lambda options: options.acgan_weight > 0,
        check=_acgan_check,
        aux_outputs=lambda options: options.context.num_classes,
        captures=("d_real", "d_fake", "g_fake"),
        discriminator_terms=_acgan_discriminator_terms,
        generator_terms=_acgan_generator_terms,
    ),
    Trick(
        name="infogan", title="InfoGAN", order=100,
        fields=(
            Field("infogan_categories", 0, "one-hot categorical code entries at "
                  "the start of z (0 = off)", fields.NON_NEGATIVE),
            Field("infogan_weight", 1.0, "weight of the code's cross-entropy, for "
                  "both players", fields.NON_NEGATIVE),
        ),
        is_active=lambda options: options.infogan_categories > 0,
        check=_infogan_check,
        aux_outputs=lambda options: options.infogan_categories,
        captures=("d_fake", "g_fake"),
        latent_categories=lambda options: options.infogan_categories,
        discriminator_inputs=lambda latents, key, generate, options: _codes(
            latents, options),
        generator_inputs=_codes,
        discriminator_terms=_infogan_terms("d"),
        generator_terms=_infogan_terms("g"),
    ),
)
