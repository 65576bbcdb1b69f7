"""SNGAN (Miyato et al. 2018) on CIFAR-10: ResNet networks, spectrally
normalised discriminator, hinge loss.

    python -m gan_jax.main --config=configs/sngan_cifar10.py --workdir=runs/sngan

The paper's CIFAR-10 ResNet setting: G width 256, D width 128, z of size 128,
batch 64, 5 discriminator steps per generator step, Adam(2e-4, beta1 = 0,
beta2 = 0.9) decayed linearly to 0 over 50k generator steps.
Its metrics measure the project's generator EMA (0.999) with standing
BatchNorm statistics ("generator": "ema+standing_stats" in
final_metrics.json; README, "Which generator is measured"); the paper reports
the raw generator, which `--config.optim.ema_decay=0` measures ("raw").
Variant `:tiny` is a smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",), "configs/sngan_cifar10.py")
    config = defaults.image_config()
    config.data.name = "cifar10"
    config.model.name = "sngan"
    config.model.latent_dim = 128
    config.model.g_channels = 256
    config.model.d_channels = 128
    config.loss.name = "hinge"
    config.optim.n_critic = 5
    config.optim.g_b1 = config.optim.d_b1 = 0.0
    config.optim.g_b2 = config.optim.d_b2 = 0.9
    config.optim.schedule = "linear"
    config.train.num_steps = 50_000
    config.train.eval_every = 2_500
    config.train.checkpoint_every = 5_000
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
