"""BigGAN (Brock et al. 2019) at 128x128 on ImageNet, class-conditional:
PyTorch-StudioGAN's `src/configs/ImageNet/BigGAN-256.yaml` (128 px images;
the 256 is its batch size), with the defaults of its `src/config.py`.

    python -m gan_jax.main --config=configs/biggan128_imagenet.py --workdir=runs/biggan128

Networks (`gan_jax.models.biggan`): base widths 96 (G 70.4M, D 88.0M
parameters, StudioGAN's and the paper's), z of size 120 in 6 chunks of 20,
a shared class embedding of 128, self-attention at 64x64 in G and D,
spectral norm in both, projection D. Recipe: hinge loss, batch 256, Adam
with G 5e-5 and D 2e-4 (betas 0 and 0.999), 2 discriminator steps per
generator step, 200,000 generator steps, the EMA with decay 0.9999 from step
20,000 and standing statistics. StudioGAN trains it without orthogonal
regularisation; the paper's 1e-4 is `--config.tricks.orthogonal_weight=1e-4`.

Data: TFDS `imagenet2012`, which TFDS cannot download (put the archives in
its manual directory first, as its error says), centre-cropped and resized;
`:folder` reads a folder of class sub-folders from `--config.data.path`
instead. `:tiny` is a smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("folder", "tiny"),
                                       "configs/biggan128_imagenet.py")
    config = defaults.image_config()
    config.data.name = "imagenet2012"
    config.data.image_size = 128
    config.data.center_crop = True
    config.data.cache = False
    config.data.batch_size = 256
    config.model.name = "biggan"
    config.model.num_classes = 1000
    config.model.latent_dim = 120
    config.model.label_embed_dim = 128
    config.model.g_channels = config.model.d_channels = 96
    config.model.attention_resolution = 64
    config.loss.name = "hinge"
    config.optim.n_critic = 2
    config.optim.g_lr, config.optim.d_lr = 5e-5, 2e-4
    config.optim.g_b1 = config.optim.d_b1 = 0.0
    config.optim.g_b2 = config.optim.d_b2 = 0.999
    config.optim.ema_decay = 0.9999
    config.optim.ema_start = 20_000
    config.train.num_steps = 200_000
    config.train.eval_every = 10_000
    config.train.checkpoint_every = 5_000
    if "folder" in variants:
        config.data.source = "folder"
        config.data.name = "images"
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
