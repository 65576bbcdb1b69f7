"""Conditional DCGAN (Mirza & Osindero 2014) on MNIST: ask for a digit, get it.

    python -m gan_jax.main --config=configs/cgan_mnist.py --workdir=runs/cgan_mnist

The generator sees a label embedding concatenated with z; the discriminator is
a projection discriminator (Miyato & Koyama 2018); set
`--config.model.d_conditioning=concat` for one-hot label channels instead.
Variants as in `dcgan_mnist.py`: `:offline`, `:tiny`.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/cgan_mnist.py")
    config = defaults.conditional_mnist_config()
    config.train.num_steps = 3_000
    if "offline" in variants:
        defaults.use_offline_mnist(config)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
