"""The generator's latent draws, shared by the steps and by sampling."""

import jax
import jax.numpy as jnp


def sample_latents(key: jax.Array, batch_size: int, latent_dim: int,
                   categories: int = 0) -> jax.Array:
    """Latents of shape `(batch_size, latent_dim)`: `z ~ N(0, I)`.

    With `categories > 0` (InfoGAN's categorical code, Chen et al. 2016) the
    first `categories` entries are instead the one-hot code of a uniformly
    drawn category (`categorical_code` recovers it); the Gaussian entries are
    the same as without a code.
    """
    latents = jax.random.normal(key, (batch_size, latent_dim), jnp.float32)
    if not categories:
        return latents
    if categories > latent_dim:
        raise ValueError(f"infogan_categories={categories} exceeds "
                         f"latent_dim={latent_dim}; the code is part of z.")
    code = jax.random.randint(jax.random.fold_in(key, 1), (batch_size,), 0,
                              categories)
    return latents.at[:, :categories].set(
        jax.nn.one_hot(code, categories, dtype=jnp.float32))
