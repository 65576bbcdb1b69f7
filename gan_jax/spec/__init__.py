"""The typed, frozen spec of a run, built from its ConfigDict and checked once.

    gan_jax.spec.gan.build(config) -> GanSpec          (gan_jax.defaults)
    gan_jax.spec.translation.build(config) -> TranslationSpec
    gan_jax.spec.ablation.build(config) -> AblationSpec

Every entry point builds the spec before any work and any file, so a bad
value stops a run with one paragraph naming its flag. `fields` holds the
declaration machinery; the package imports no submodule itself, so that the
modules declaring fields (gan_jax.models) can import `fields` freely.
"""
