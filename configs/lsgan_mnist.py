"""LSGAN (Mao et al. 2017) on MNIST: least-squares loss, DCGAN networks.

    python -m gan_jax.main --config=configs/lsgan_mnist.py --workdir=runs/lsgan

Variants: `:offline`, `:tiny`.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/lsgan_mnist.py")
    config = defaults.image_config()
    defaults.use_mnist_metrics(config)
    config.model.g_channels = config.model.d_channels = 32
    config.loss.name = "least_squares"
    config.train.num_steps = 5_000
    if "offline" in variants:
        defaults.use_offline_mnist(config)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
