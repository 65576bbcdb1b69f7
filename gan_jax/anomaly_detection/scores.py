"""The anomaly scores of AnoGAN and f-AnoGAN, per image.

Both compare a query x with its reconstruction G(z) twice: in pixels (the
residual) and in the discriminator's intermediate features f (the
discrimination term). Each follows its own paper's convention:

AnoGAN (Schlegl et al. 2017, "Unsupervised Anomaly Detection with Generative
Adversarial Networks to Guide Marker Discovery", IPMI, Eqs. 3-5 and Sec. 2.3),
sums of absolute differences:

    L(z) = (1 - lambda) sum |x - G(z)| + lambda sum |f(x) - f(G(z))|,

lambda = 0.1; the anomaly score A(x) is L at the end of the latent search.

f-AnoGAN (Schlegl et al. 2019, "f-AnoGAN: Fast unsupervised anomaly detection
with generative adversarial networks", Medical Image Analysis 54, Eqs. 6-8),
means of squares over the n pixels and the n_d features:

    A(x) = (1/n) ||x - G(E(x))||^2 + kappa (1/n_d) ||f(x) - f(G(E(x)))||^2,

kappa = 1; the same expression, averaged over a batch, is the izi_f loss the
encoder E is trained on.

Inputs are flattened per sample; everything is float32.
"""

import jax
import jax.numpy as jnp

ANOGAN_WEIGHT = 0.1  # lambda of Schlegl et al. 2017.
IZI_F_KAPPA = 1.0  # kappa of Schlegl et al. 2019.


def _flat(x) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    return x.reshape((x.shape[0], -1))


def anogan(images, reconstructions, image_features, reconstruction_features, *,
           weight: float = ANOGAN_WEIGHT) -> jax.Array:
    """AnoGAN's `(1 - lambda) sum |x - G(z)| + lambda sum |f(x) - f(G(z))|`,
    shape `(B,)`."""
    residual = jnp.sum(jnp.abs(_flat(images) - _flat(reconstructions)), axis=1)
    discrimination = jnp.sum(
        jnp.abs(_flat(image_features) - _flat(reconstruction_features)), axis=1)
    return (1.0 - weight) * residual + weight * discrimination


def izi_f_terms(images, reconstructions, image_features,
                reconstruction_features) -> tuple[jax.Array, jax.Array]:
    """f-AnoGAN's two terms `((1/n) ||x - G(E(x))||^2, (1/n_d) ||f(x) -
    f(G(E(x)))||^2)`, each of shape `(B,)`."""
    residual = jnp.mean(jnp.square(_flat(images) - _flat(reconstructions)), axis=1)
    discrimination = jnp.mean(
        jnp.square(_flat(image_features) - _flat(reconstruction_features)), axis=1)
    return residual, discrimination


def izi_f(images, reconstructions, image_features, reconstruction_features, *,
          kappa: float = IZI_F_KAPPA) -> jax.Array:
    """f-AnoGAN's `A(x)` above (the izi_f loss per image), shape `(B,)`."""
    residual, discrimination = izi_f_terms(images, reconstructions, image_features,
                                           reconstruction_features)
    return residual + kappa * discrimination
