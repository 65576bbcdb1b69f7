"""Stabilisation tricks: pure functions that `gan_jax.objectives` composes.

Each trick is off by default (see `config.tricks` in `gan_jax.defaults`) and,
when off, leaves the compiled train step exactly as it was. Tricks that need
running statistics keep them in `GANState.tricks`, so they are checkpointed
and stay pure.
"""
