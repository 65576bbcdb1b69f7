"""Image-to-image GANs on the one loop: pix2pix, CycleGAN and SRGAN.

`pairings` derives the paired or unpaired examples from image batches,
`objectives` holds the composite losses as pure functions of arrays, `state`
the multi-network training state, `steps` the jit-able phases, `measures`
the held-out measures and sample strips, `spec` the checked config, and
`task` the task that `gan_jax.main` runs on `gan_jax.run.loop` when a config
sets `task` to one of `TASKS`.
"""

TASKS = ("pix2pix", "cyclegan", "srgan")
