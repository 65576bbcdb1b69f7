"""DCGAN on Stacked MNIST: how many of its 1,000 modes does a GAN cover?

    python -m gan_jax.main --config=configs/dcgan_stacked_mnist.py --workdir=runs/stacked

Three MNIST digits stacked as RGB channels (Metz et al. 2017; Lin et al.
2018, PacGAN); every evaluation reports `stacked_modes_covered` (out of
1,000) and `stacked_reverse_kl` (KL of the mode histogram to uniform), reading
each channel with the MNIST classifier (`python -m gan_jax.train_classifier`).
Variants: `:offline` (IDX files in `../shared/data/mnist`), `:tiny`.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/dcgan_stacked_mnist.py")
    config = defaults.image_config()
    defaults.use_mnist_metrics(config)
    config.data.source = "stacked_mnist"
    config.data.split = "train"
    config.model.g_channels = config.model.d_channels = 32
    config.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage",
                           "stacked_mnist")
    config.eval.num_samples = 26_000  # As in PacGAN's Stacked MNIST protocol.
    config.train.num_steps = 5_000
    if "offline" in variants:
        config.data.path = defaults.OFFLINE_MNIST_DIR
        config.data.split = "test"
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
