"""CycleGAN (Zhu et al. 2017) between white-on-black digits (A) and digits
in blue ink on yellow paper (B), unpaired: A and B never show the same image.

    python -m gan_jax.main --config=configs/cyclegan_mnist_colour.py:offline --workdir=runs/cyclegan_colour

The paper's recipe (least-squares loss, cycle weight 10, identity 0.5 x 10,
a 50-image history pool, halved D objective, Adam 2e-4 beta1 0.5, constant
then linearly decayed over the second half) with ResNet generators of 2 down
levels and 3 blocks at width 16, and 2-layer PatchGANs (the paper's: 9
blocks at width 64, 3 layers). Held-out measures: the cycle errors and the
translation error against the ground-truth colouring (README,
"Image-to-image GANs"). Variants as in `pix2pix_mnist_edges.py`.
"""

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/cyclegan_mnist_colour.py")
    config = translation_defaults.base_config("cyclegan")
    config.data.batch_size = 16  # 8 images of each domain per step.
    config.model.g_channels = config.model.d_channels = 16
    config.model.g_blocks = 3
    config.model.d_layers = 2
    config.train.num_steps = 2_000
    if "offline" in variants:
        translation_defaults.use_offline_mnist(config)
    if "tiny" in variants:
        translation_defaults.make_tiny(config)
    return config
