"""WGAN-GP (Gulrajani et al. 2017) on MNIST with a DCGAN-shaped critic.

    python -m gan_jax.main --config=configs/wgan_gp_mnist.py --workdir=runs/wgan_gp

The paper's recipe: Wasserstein loss, gradient penalty weight 10, 5 critic
steps per generator step, Adam(1e-4, beta1 = 0, beta2 = 0.9), and a critic
without BatchNorm (the penalty is per sample; layer norm instead).
Its metrics measure the project's generator EMA (0.999) with standing
BatchNorm statistics ("generator": "ema+standing_stats" in
final_metrics.json; README, "Which generator is measured"); the paper reports
the raw generator, which `--config.optim.ema_decay=0` measures ("raw").
Variants: `:offline`, `:tiny`.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/wgan_gp_mnist.py")
    config = defaults.image_config()
    defaults.use_mnist_metrics(config)
    config.model.g_channels = config.model.d_channels = 32
    config.model.d_norm = "layer"
    config.loss.name = "wasserstein"
    config.penalty.name = "gp"
    config.penalty.weight = 10.0
    config.optim.n_critic = 5
    config.optim.g_lr = config.optim.d_lr = 1e-4
    config.optim.g_b1 = config.optim.d_b1 = 0.0
    config.optim.g_b2 = config.optim.d_b2 = 0.9
    config.train.num_steps = 5_000
    if "offline" in variants:
        defaults.use_offline_mnist(config)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
