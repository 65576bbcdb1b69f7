"""pix2pix (Isola et al. 2017) on "edges -> digit": MNIST digits from their
Sobel edge maps.

    python -m gan_jax.main --config=configs/pix2pix_mnist_edges.py:offline --workdir=runs/pix2pix_edges

The paper's objective (non-saturating cGAN loss + 100 L1, Adam 2e-4, beta1
0.5) with networks sized for 28x28 digits on a CPU: a U-Net of 2 down
levels (28 -> 14 -> 7) and width 32, and a 2-layer PatchGAN (the paper's
256x256 nets: 8 levels, width 64, 3 layers). The held-out L1 is reported
beside the identity baseline's (README, "Image-to-image GANs").
Variants: `:offline` reads the MNIST IDX files in `../shared/data/mnist`
(8,000 images to train, 2,000 held out) instead of TFDS `mnist`; `:tiny` is
a smoke test.
"""

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/pix2pix_mnist_edges.py")
    config = translation_defaults.base_config("pix2pix")
    config.model.g_downsamples = 2
    config.model.g_channels = config.model.d_channels = 32
    config.model.d_layers = 2
    config.train.num_steps = 2_000
    if "offline" in variants:
        translation_defaults.use_offline_mnist(config)
    if "tiny" in variants:
        translation_defaults.make_tiny(config)
    return config
