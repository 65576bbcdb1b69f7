"""The image history pool of CycleGAN's discriminators (Shrivastava et al.
2017, "Learning from Simulated and Unsupervised Images through Adversarial
Training", Sec. 2.3; Zhu et al. 2017, "Unpaired Image-to-Image Translation",
Sec. 4: a buffer of the 50 most recently generated images).

The discriminator is updated on a mix of the generator's current output and
its history, so that it does not forget the mistakes the generator made
earlier. Per image, in batch order: while the pool is not full the image is
stored and passed through; once it is full, with probability 1/2 a uniformly
chosen stored image is returned in its place and the new image takes that
slot, otherwise the new image passes through and the pool is unchanged.

The pool is a pytree (`init`) that lives in the training state and is
checkpointed with it; `query` is pure.
"""

import jax
import jax.numpy as jnp


def init(size: int, image_shape, dtype=jnp.float32) -> dict[str, jax.Array]:
    """An empty pool for `size` images of `image_shape`."""
    if size < 1:
        raise ValueError(f"The history pool needs size >= 1, got {size}.")
    return {"images": jnp.zeros((size, *image_shape), dtype),
            "count": jnp.zeros((), jnp.int32)}


def query(pool: dict[str, jax.Array], images: jax.Array, key: jax.Array
          ) -> tuple[dict[str, jax.Array], jax.Array]:
    """`(new_pool, images_for_the_discriminator)`; `images` is `(B, ...)`.

    One `lax.scan` step per image, so the images of a batch see the pool as
    the images before them left it, as in the authors' implementation.
    """
    size = pool["images"].shape[0]

    def one(pool, inputs):
        image, image_key = inputs
        swap_key, slot_key = jax.random.split(image_key)
        filling = pool["count"] < size
        swap = jnp.logical_and(~filling, jax.random.bernoulli(swap_key, 0.5))
        slot = jnp.where(filling, pool["count"],
                         jax.random.randint(slot_key, (), 0, size))
        stored = pool["images"][slot]
        out = jnp.where(swap, stored, image)
        write = jnp.logical_or(filling, swap)
        new_images = pool["images"].at[slot].set(
            jnp.where(write, image, stored))
        return {"images": new_images,
                "count": jnp.minimum(pool["count"] + 1, size)}, out

    keys = jax.random.split(key, images.shape[0])
    pool, out = jax.lax.scan(one, pool, (images.astype(pool["images"].dtype), keys))
    return pool, out
