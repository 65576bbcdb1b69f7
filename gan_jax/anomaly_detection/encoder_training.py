"""f-AnoGAN's encoder training: E learns x -> z with G and D frozen.

Schlegl et al. 2019 (Sec. 2.2.2) train the encoder after the GAN on the
normal training images, with the izi_f loss (`scores.izi_f`, batch mean):

    L_izi_f(x) = (1/n) ||x - G(E(x))||^2 + kappa (1/n_d) ||f(x) - f(G(E(x)))||^2.

Only E's parameters move; gradients flow through G and D, which stay as the
GAN left them. Each step draws its batch uniformly (with replacement) from
the images held on the device, from an explicit key: a few thousand small
steps need no input pipeline. `fit` calls the one compiled step in a plain
Python loop, as the classifier training of `gan_jax.run.classifier_training`
does: the GAN loop (`gan_jax.run.loop`) is for a task's phases over a data
stream with checkpoints and evaluations, none of which this needs.
Adam (Kingma & Ba 2015) moves E; its learning rate (`LEARNING_RATE`) is our
choice, for a CPU budget of a few hundred to a few thousand steps.
"""

from collections.abc import Callable

from flax.training import train_state
import jax
import jax.numpy as jnp
import optax

from gan_jax.anomaly_detection import frozen_gan
from gan_jax.anomaly_detection import scores
from gan_jax.run import compile_options

LEARNING_RATE = 1e-3


def izi_f_loss(encoder_params, encoder_apply, gan: frozen_gan.FrozenGAN,
               images: jax.Array, *, kappa: float = scores.IZI_F_KAPPA
               ) -> tuple[jax.Array, dict]:
    """The batch mean of `scores.izi_f(x, G(E(x)), f(x), f(G(E(x))))` and its
    two terms' means."""
    reconstructions = frozen_gan.generate(
        gan, encoder_apply({"params": encoder_params}, images))
    residual, discrimination = scores.izi_f_terms(
        images, reconstructions, frozen_gan.features(gan, images),
        frozen_gan.features(gan, reconstructions))
    loss = jnp.mean(residual + kappa * discrimination)
    return loss, {"residual": jnp.mean(residual),
                  "discrimination": jnp.mean(discrimination)}


def create_state(encoder, key: jax.Array, sample_shape, *,
                 learning_rate: float = LEARNING_RATE) -> train_state.TrainState:
    """E's initial parameters and Adam state."""
    params = jax.jit(encoder.init)(key, jnp.zeros((1, *sample_shape), jnp.float32))
    return train_state.TrainState.create(apply_fn=encoder.apply,
                                         params=params["params"],
                                         tx=optax.adam(learning_rate))


def _train_step(state: train_state.TrainState, gan: frozen_gan.FrozenGAN,
                images: jax.Array, key: jax.Array, *, batch_size: int
                ) -> tuple[train_state.TrainState, dict]:
    """One izi_f step of E on a batch drawn with `fold_in(key, state.step)`:
    the batches depend on the step number only, not on how steps are called."""
    batch_key = jax.random.fold_in(key, state.step)
    indices = jax.random.randint(batch_key, (batch_size,), 0, images.shape[0])
    (loss, terms), grads = jax.value_and_grad(izi_f_loss, has_aux=True)(
        state.params, state.apply_fn, gan, images[indices])
    return state.apply_gradients(grads=grads), dict(terms, loss=loss)


# One compiled step called from Python: on XLA:CPU convolutions inside a
# `lax.scan` ran about 3x slower (README, "Speed on CPU").
train_step = jax.jit(_train_step, static_argnames=("batch_size",),
                     donate_argnums=(0,),
                     compiler_options=compile_options.for_training())


def fit(state: train_state.TrainState, gan: frozen_gan.FrozenGAN,
        images: jax.Array, key: jax.Array, *, num_steps: int, batch_size: int,
        report_every: int = 100,
        report: Callable[[int, dict], None] = lambda step, metrics: None
        ) -> train_state.TrainState:
    """Trains E for `num_steps` from `state`, calling `report(step, metrics)`
    every `report_every` steps and at the end."""
    if images.shape[0] == 0:
        raise ValueError("The encoder needs training images; got none.")
    for done in range(1, num_steps + 1):
        state, metrics = train_step(state, gan, images, key, batch_size=batch_size)
        if done % report_every == 0 or done == num_steps:
            report(done, jax.device_get(metrics))
    return state


@jax.jit
def encode_and_score(state: train_state.TrainState, gan: frozen_gan.FrozenGAN,
                     images: jax.Array, *, kappa: float = scores.IZI_F_KAPPA
                     ) -> dict[str, jax.Array]:
    """f-AnoGAN's score `A(x)` of each image with its two terms, E(x) and
    G(E(x))."""
    latents = state.apply_fn({"params": state.params}, images)
    reconstructions = frozen_gan.generate(gan, latents)
    residual, discrimination = scores.izi_f_terms(
        images, reconstructions, frozen_gan.features(gan, images),
        frozen_gan.features(gan, reconstructions))
    return {"f_anogan": residual + kappa * discrimination,
            "f_anogan_residual": residual,
            "f_anogan_discrimination": discrimination,
            "latents": latents, "reconstructions": reconstructions}
