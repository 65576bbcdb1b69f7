"""DCGAN (Radford et al. 2016) on CelebA faces, centre-cropped to 64x64.

    python -m gan_jax.main --config=configs/dcgan_celeba64.py --workdir=runs/celeba

ngf = ndf = 64, batch 128. CelebA (about 200k images) is not cached in host
memory. Variant `:tiny` is a smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",), "configs/dcgan_celeba64.py")
    config = defaults.image_config()
    config.data.name = "celeb_a"
    config.data.center_crop = True
    config.data.image_size = 64
    config.data.cache = False
    config.data.batch_size = 128
    config.train.num_steps = 50_000
    config.train.eval_every = 2_500
    config.train.checkpoint_every = 5_000
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
