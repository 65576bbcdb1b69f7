"""DCGAN (Radford et al. 2016) on CIFAR-10, 32x32 RGB, ngf = ndf = 64.

    python -m gan_jax.main --config=configs/dcgan_cifar10.py --workdir=runs/dcgan_c10

Variant `:tiny` is a smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",), "configs/dcgan_cifar10.py")
    config = defaults.image_config()
    config.data.name = "cifar10"
    config.data.batch_size = 128
    config.train.num_steps = 50_000
    config.train.eval_every = 2_500
    config.train.checkpoint_every = 5_000
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
