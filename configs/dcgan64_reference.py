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
centre-cropped to 64x64, as in the reference's folder-of-faces use.
`:tiny` is a smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",),
                                       "configs/dcgan64_reference.py")
    config = defaults.image_config()
    config.data.name = "celeb_a"
    config.data.center_crop = True
    config.data.image_size = 64
    config.data.cache = False
    config.data.batch_size = 64
    config.model.latent_dim = 100
    config.model.g_channels = config.model.d_channels = 64
    config.model.d_bias = False  # No convolution of the reference has a bias.
    config.optim.ema_decay = 0.0
    config.train.generator_reuses_fakes = True
    config.train.num_steps = 25 * 3_166  # The reference's 25 epochs of CelebA.
    config.train.eval_every = 5_000
    config.train.checkpoint_every = 5_000
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
