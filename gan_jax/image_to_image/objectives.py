"""The composite objectives of pix2pix, CycleGAN and SRGAN, as pure functions.

Each returns `(total, terms)`: the scalar a network minimises and every term
by name, so that the loop logs each one. The adversarial parts come from the
library's loss registry (`gan_jax.losses`, any `GANLoss`); logits may be
per-patch (PatchGAN), the registry's losses average over all of them.

Notation: G the generator(s), D the discriminator(s), x a source image, y
its target, E the mean over every pixel and channel of the batch.
"""

import jax
import jax.numpy as jnp

from gan_jax import losses


def mean_absolute_error(a: jax.Array, b: jax.Array) -> jax.Array:
    """E|a - b| (an empty batch gives 0)."""
    difference = jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32))
    return jnp.sum(difference) / max(difference.size, 1)


def mean_squared_error(a: jax.Array, b: jax.Array) -> jax.Array:
    """E(a - b)^2 (an empty batch gives 0)."""
    difference = jnp.square(a.astype(jnp.float32) - b.astype(jnp.float32))
    return jnp.sum(difference) / max(difference.size, 1)


def discriminator_objective(loss: losses.GANLoss, real_logits, fake_logits, *,
                            scale: float = 1.0) -> tuple[jax.Array, dict]:
    """`scale * loss.discriminator(real, fake)`. CycleGAN halves its Ds'
    objective (Zhu et al. 2017, Sec. 7.1) so they learn slower than the Gs."""
    value = scale * loss.discriminator(real_logits, fake_logits)
    return value, {"d_loss": value}


def pix2pix_generator_objective(loss: losses.GANLoss, real_logits, fake_logits,
                                fake: jax.Array, target: jax.Array, *,
                                l1_weight: float) -> tuple[jax.Array, dict]:
    """Isola et al. 2017, eq. 4: G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G),
    L_L1 = E|y - G(x)|, lambda = 100 in the paper."""
    adversarial = loss.generator(real_logits, fake_logits)
    l1 = mean_absolute_error(fake, target)
    return adversarial + l1_weight * l1, {"g_adversarial": adversarial,
                                          "g_l1": l1}


def srgan_generator_objective(loss: losses.GANLoss, real_logits, fake_logits,
                              fake_features: jax.Array, target_features: jax.Array,
                              *, adversarial_weight: float) -> tuple[jax.Array, dict]:
    """Ledig et al. 2017, eq. 3: l^SR = l^SR_X + 1e-3 l^SR_Gen, the content loss
    l^SR_X = E(phi(y) - phi(G(x)))^2 on a frozen network's features phi (the
    paper's VGG54: VGG19's fourth conv of the fifth block)."""
    adversarial = loss.generator(real_logits, fake_logits)
    content = mean_squared_error(fake_features, target_features)
    return content + adversarial_weight * adversarial, {
        "g_content": content, "g_adversarial": adversarial}


def srgan_pretrain_objective(fake: jax.Array, target: jax.Array
                             ) -> tuple[jax.Array, dict]:
    """SRResNet's pixel-wise MSE (Ledig et al. 2017, Sec. 3.2), the
    initialisation of SRGAN's generator."""
    mse = mean_squared_error(fake, target)
    return mse, {"g_mse": mse}


def cyclegan_generator_objective(
        loss: losses.GANLoss, *, real_a, real_b, fake_a, fake_b,
        reconstructed_a, reconstructed_b, identity_a, identity_b,
        logits_real_a, logits_fake_a, logits_real_b, logits_fake_b,
        cycle_weight: float, identity_weight: float) -> tuple[jax.Array, dict]:
    """Zhu et al. 2017, eq. 3 plus the identity loss of their Sec. 5.2:

        L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc + lambda_id lambda L_id,
        L_cyc = E|F(G(a)) - a| + E|G(F(b)) - b|,
        L_id  = E|F(a) - a| + E|G(b) - b|,

    with G: A -> B (fake_b = G(a)), F: B -> A (fake_a = F(b)), lambda = 10 and
    lambda_id = 0.5 in the paper (`identity_weight` is lambda_id * lambda).
    `identity_a = F(a)`, `identity_b = G(b)`; with `identity_weight = 0` they
    are not used.
    """
    adversarial_b = loss.generator(logits_real_b, logits_fake_b)
    adversarial_a = loss.generator(logits_real_a, logits_fake_a)
    cycle = (mean_absolute_error(reconstructed_a, real_a)
             + mean_absolute_error(reconstructed_b, real_b))
    identity = (mean_absolute_error(identity_a, real_a)
                + mean_absolute_error(identity_b, real_b))
    total = adversarial_a + adversarial_b + cycle_weight * cycle
    if identity_weight:
        total = total + identity_weight * identity
    return total, {"g_adversarial_ab": adversarial_b,
                   "g_adversarial_ba": adversarial_a,
                   "g_cycle": cycle, "g_identity": identity}


def psnr(images: jax.Array, references: jax.Array, *,
         data_range: float = 2.0) -> jax.Array:
    """Per-image peak signal-to-noise ratio in dB, 10 log10(range^2 / MSE),
    for images in [-1, 1] (range 2); `(B,)`. A perfect image gives inf."""
    axes = tuple(range(1, images.ndim))
    mse = jnp.mean(jnp.square(images.astype(jnp.float32)
                              - references.astype(jnp.float32)), axis=axes)
    return 10.0 * jnp.log10(data_range ** 2 / mse)

