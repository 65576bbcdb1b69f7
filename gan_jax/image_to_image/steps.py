"""The jit-able phases of the image-to-image GANs: pure functions
`(TranslationState, batch, key) -> (TranslationState, metrics)`.

The loop binds the task's pieces (loss, pairing, objective weights, frozen
feature network) with `functools.partial` and compiles each phase once.
Randomness (dropout, the history pools) comes from
`jax.random.fold_in(key, state.step)`. Fakes are made once per step: the
generator's pass is linearised with `jax.vjp`, so its gradient is the
pull-back of the objective's gradient with respect to the fakes.
"""

from collections.abc import Callable

import jax

from gan_jax import losses
from gan_jax.image_to_image import history_pool
from gan_jax.image_to_image import objectives
from gan_jax.image_to_image.state import apply
from gan_jax.image_to_image.state import TranslationState

Batch = dict[str, jax.Array]
MakeExamples = Callable[[Batch], dict[str, jax.Array]]


def _batch(batch: Batch) -> Batch:
    # The pipeline's leading axis holds one minibatch per discriminator update.
    return jax.tree.map(lambda x: x[0], batch)


def _discriminator_update(network, loss, real, fake, *, scale=1.0, **condition):
    """One optimizer step of a discriminator on real vs (fixed) fake images."""
    def objective(params):
        real_logits, moved = apply(network, params, real, train=True, **condition)
        fake_logits, moved = apply(moved, params, fake, train=True, **condition)
        value, terms = objectives.discriminator_objective(
            loss, real_logits, fake_logits, scale=scale)
        return value, (terms, moved)

    (_, (terms, moved)), grads = jax.value_and_grad(objective, has_aux=True)(
        network.params)
    return moved.apply_gradients(grads=grads), terms


def paired_step(state: TranslationState, batch: Batch, key: jax.Array, *,
                loss: losses.GANLoss, make_examples: MakeExamples,
                generator_objective: Callable, conditional: bool
                ) -> tuple[TranslationState, dict]:
    """pix2pix's and SRGAN's step: one D update on real targets vs the
    generator's fakes, then one G update through the updated D.

    `generator_objective(real_logits, fake_logits, fake, target) -> (total,
    terms)`; `conditional` shows D the source beside each image (pix2pix).
    D's BatchNorm statistics move only in its own update.
    """
    examples = make_examples(_batch(batch))
    source, target = examples["source"], examples["target"]
    step_key = jax.random.fold_in(key, state.step)
    generator, discriminator = (state.networks["generator"],
                                state.networks["discriminator"])
    condition = {"condition": source} if conditional else {}

    fake, pull_back, generator = jax.vjp(
        lambda params: apply(generator, params, source, train=True, key=step_key),
        generator.params, has_aux=True)
    discriminator, d_terms = _discriminator_update(
        discriminator, loss, target, jax.lax.stop_gradient(fake), **condition)

    real_logits, moved = apply(discriminator, discriminator.params, target,
                               train=True, **condition)

    def objective(fake):
        fake_logits, _ = apply(moved, discriminator.params, fake, train=True,
                               **condition)
        return generator_objective(real_logits, fake_logits, fake, target)

    (_, g_terms), fake_grad = jax.value_and_grad(objective, has_aux=True)(fake)
    (g_grads,) = pull_back(fake_grad)
    generator = generator.apply_gradients(grads=g_grads)
    networks = dict(state.networks, generator=generator,
                    discriminator=discriminator)
    return (state.replace(networks=networks, step=state.step + 1),
            {**d_terms, **g_terms})


def pretrain_step(state: TranslationState, batch: Batch, key: jax.Array, *,
                  make_examples: MakeExamples) -> tuple[TranslationState, dict]:
    """SRGAN's pre-training phase: the generator alone on pixel-wise MSE."""
    examples = make_examples(_batch(batch))
    step_key = jax.random.fold_in(key, state.step)
    generator = state.networks["generator"]

    def objective(params):
        fake, moved = apply(generator, params, examples["source"], train=True,
                            key=step_key)
        value, terms = objectives.srgan_pretrain_objective(fake, examples["target"])
        return value, (terms, moved)

    (_, (terms, moved)), grads = jax.value_and_grad(objective, has_aux=True)(
        generator.params)
    networks = dict(state.networks, generator=moved.apply_gradients(grads=grads))
    return state.replace(networks=networks, step=state.step + 1), terms


def cyclegan_step(state: TranslationState, batch: Batch, key: jax.Array, *,
                  loss: losses.GANLoss, make_examples: MakeExamples,
                  cycle_weight: float, identity_weight: float,
                  discriminator_scale: float, use_pool: bool = True
                  ) -> tuple[TranslationState, dict]:
    """CycleGAN's step in the authors' order: both generators together, then
    each discriminator on real images vs fakes drawn from its history pool.

    G: A -> B is "g_ab" (judged by "d_b"), F: B -> A is "g_ba" (by "d_a").
    Without `use_pool` the discriminators see the current fakes.
    """
    examples = make_examples(_batch(batch))
    real_a, real_b = examples["a"], examples["b"]
    pool_a_key, pool_b_key, dropout_key = jax.random.split(
        jax.random.fold_in(key, state.step), 3)
    nets = state.networks
    logits_real_a, _ = apply(nets["d_a"], nets["d_a"].params, real_a, train=True)
    logits_real_b, _ = apply(nets["d_b"], nets["d_b"].params, real_b, train=True)

    def objective(params):
        g_ab = nets["g_ab"].replace(params=params["g_ab"])
        g_ba = nets["g_ba"].replace(params=params["g_ba"])

        def translate(network, images):
            out, _ = apply(network, network.params, images, train=True,
                           key=dropout_key)
            return out

        fake_b, fake_a = translate(g_ab, real_a), translate(g_ba, real_b)
        # Without the identity term, |a - a| = 0 stands in for it.
        identity_a, identity_b = real_a, real_b
        if identity_weight:
            identity_a, identity_b = translate(g_ba, real_a), translate(g_ab, real_b)
        logits_fake_a, _ = apply(nets["d_a"], nets["d_a"].params, fake_a, train=True)
        logits_fake_b, _ = apply(nets["d_b"], nets["d_b"].params, fake_b, train=True)
        total, terms = objectives.cyclegan_generator_objective(
            loss, real_a=real_a, real_b=real_b, fake_a=fake_a, fake_b=fake_b,
            reconstructed_a=translate(g_ba, fake_b),
            reconstructed_b=translate(g_ab, fake_a),
            identity_a=identity_a, identity_b=identity_b,
            logits_real_a=logits_real_a, logits_fake_a=logits_fake_a,
            logits_real_b=logits_real_b, logits_fake_b=logits_fake_b,
            cycle_weight=cycle_weight, identity_weight=identity_weight)
        return total, (terms, fake_a, fake_b)

    params = {"g_ab": nets["g_ab"].params, "g_ba": nets["g_ba"].params}
    (_, (g_terms, fake_a, fake_b)), grads = jax.value_and_grad(
        objective, has_aux=True)(params)
    pools, pooled_a, pooled_b = state.pools, *jax.lax.stop_gradient((fake_a, fake_b))
    if use_pool:
        pool_a, pooled_a = history_pool.query(pools["a"], pooled_a, pool_a_key)
        pool_b, pooled_b = history_pool.query(pools["b"], pooled_b, pool_b_key)
        pools = {"a": pool_a, "b": pool_b}
    d_a, d_a_terms = _discriminator_update(nets["d_a"], loss, real_a, pooled_a,
                                           scale=discriminator_scale)
    d_b, d_b_terms = _discriminator_update(nets["d_b"], loss, real_b, pooled_b,
                                           scale=discriminator_scale)
    networks = {"g_ab": nets["g_ab"].apply_gradients(grads=grads["g_ab"]),
                "g_ba": nets["g_ba"].apply_gradients(grads=grads["g_ba"]),
                "d_a": d_a, "d_b": d_b}
    metrics = {**g_terms, "d_a_loss": d_a_terms["d_loss"],
               "d_b_loss": d_b_terms["d_loss"]}
    return (state.replace(networks=networks, pools=pools,
                          step=state.step + 1), metrics)
