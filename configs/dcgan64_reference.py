"""The PyTorch reference's DCGAN, for speed comparisons (benchmarks/README.md).

    python -m gan_jax.main --config=configs/dcgan64_reference.py --workdir=runs/dcgan64

Exactly `pytorch/examples/dcgan/main.py`: 64x64 RGB images, batch 64, nz = 100,
ngf = ndf = 64, the DCGAN architecture with BatchNorm in both networks,
N(0, 0.02) convolution weights, Adam(2e-4, beta1 = 0.5) for both players,
binary cross-entropy (the non-saturating game), one discriminator and one
generator update per iteration, no penalty and no EMA. As in the reference,
the generator update scores the fakes the discriminator just trained on and
backpropagates through the same generator pass
(`train.generator_reuses_fakes`). The data is CelebA,
centre-cropped to 64x64, as in the reference's folder-of-faces use: all
202,599 images of `img_align_celeba`, which the reference reads with
`ImageFolder`, i.e. TFDS celeb_a's three splits together
("train+validation+test"; "train" alone is 162,770), for the reference's
25 epochs of ceil(202,599 / 64) = 3,166 iterations (its DataLoader keeps
the last, partial batch). `:tiny` is a smoke test.
"""

import math

from gan_jax import defaults

# TFDS celeb_a: train 162,770 + validation 19,867 + test 19,962 images.
CELEB_A_SPLIT = "train+validation+test"
CELEB_A_IMAGES = 202_599
EPOCHS = 25


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",),
                                       "configs/dcgan64_reference.py")
    config = defaults.image_config()
    config.data.name = "celeb_a"
    config.data.split = CELEB_A_SPLIT
    config.data.center_crop = True
    config.data.image_size = 64
    config.data.cache = False
    config.data.batch_size = 64
    config.model.latent_dim = 100
    config.model.g_channels = config.model.d_channels = 64
    config.model.d_bias = False  # No convolution of the reference has a bias.
    config.optim.ema_decay = 0.0
    config.train.generator_reuses_fakes = True
    # The reference's 25 epochs: 3,166 iterations each at batch 64.
    config.train.num_steps = EPOCHS * math.ceil(CELEB_A_IMAGES
                                                / config.data.batch_size)
    config.train.eval_every = 5_000
    config.train.checkpoint_every = 5_000
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
