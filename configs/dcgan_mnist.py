"""DCGAN (Radford et al. 2016) on MNIST, 28x28.

    python -m gan_jax.main --config=configs/dcgan_mnist.py --workdir=runs/dcgan_mnist

Variants (combine with commas): `:offline` reads the MNIST IDX files in
`../shared/data/mnist` instead of TFDS `mnist`; `:tiny` is a smoke test.
Widths 32 (not the paper's 64/128) keep a few thousand steps to minutes on a
laptop CPU.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/dcgan_mnist.py")
    config = defaults.image_config()
    defaults.use_mnist_metrics(config)
    config.model.g_channels = config.model.d_channels = 32
    config.train.num_steps = 3_000
    if "offline" in variants:
        defaults.use_offline_mnist(config)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
