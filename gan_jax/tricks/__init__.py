"""Stabilisation tricks, each a plugin that `gan_jax.game.objectives` composes.

Each trick's module holds its math as pure functions and ends with its
declaration, `TRICKS = (Trick(...),)` (`gan_jax.tricks.base`): its config
fields, checks, running state and hooks. `gan_jax.tricks.registry` finds
them; `gan_jax.defaults` builds their config fields from it. Each trick is
off by default and, when off, leaves the compiled train step exactly as it
was. Tricks that need running statistics keep them in `GANState.tricks`, so
they are checkpointed and stay pure.
"""
