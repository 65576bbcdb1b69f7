"""Auxiliary classification heads on the discriminator.

ACGAN (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs"): D also predicts the class; both players minimise the
cross-entropy of the class of reals (D only) and fakes (both), so the
generator makes recognisable classes.

InfoGAN (Chen et al. 2016): a head Q on D predicts the categorical code c in
the generator's latent; both players minimise the cross-entropy of c, a
lower bound on (minus) the mutual information I(c; G(z, c)) up to H(c).

Both are `cross_entropy(head_logits, targets)` on a slice of the
discriminator's sown "aux_logits": ACGAN's classes first, then InfoGAN's
categories.
"""

import jax
import jax.numpy as jnp
import optax


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer `targets` (0 for an empty batch)."""
    losses = optax.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(logits, jnp.float32), targets)
    return jnp.sum(losses) / max(losses.size, 1)


def split_heads(aux_logits: jax.Array, num_classes: int,
                categories: int) -> tuple[jax.Array | None, jax.Array | None]:
    """`(class_logits, code_logits)` from the aux outputs; None when absent."""
    class_logits = aux_logits[:, :num_classes] if num_classes else None
    code_logits = (aux_logits[:, num_classes:num_classes + categories]
                   if categories else None)
    return class_logits, code_logits
