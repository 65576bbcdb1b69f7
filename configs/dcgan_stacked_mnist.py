"""DCGAN on Stacked MNIST: how many of its 1,000 modes does a GAN cover?

    python -m gan_jax.main --config=configs/dcgan_stacked_mnist.py --workdir=runs/stacked

Three MNIST digits stacked as RGB channels (Metz et al. 2017; Lin et al.
2018, PacGAN); every evaluation reports `stacked_modes_covered` (out of
1,000) and `stacked_reverse_kl` (KL of the mode histogram to uniform), reading
each channel with the MNIST classifier (`python -m gan_jax.train_classifier`).
Variants: `:offline` (IDX files in `../shared/data/mnist`), `:tiny`.
`configs/reproduce_stacked_mnist.py` compares it with PacGAN2.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/dcgan_stacked_mnist.py")
    config = defaults.stacked_mnist_config(offline="offline" in variants)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
