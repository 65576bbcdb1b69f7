"""Image-to-image GANs on the library's core: pix2pix, CycleGAN and SRGAN.

`tasks` derives the paired or unpaired examples from image batches,
`objectives` holds the composite losses as pure functions of arrays, `state`
the multi-network training state, `steps` the jit-able phases, `evaluation`
the held-out measures and sample strips, and `train` the loop that
`gan_jax.main` runs when a config sets `task` to one of `TASKS`.
"""

TASKS = ("pix2pix", "cyclegan", "srgan")
