"""25 Gaussians on a 5x5 grid (VEEGAN, PacGAN): the harder toy benchmark.

    python -m gan_jax.main --config=configs/grid25.py --workdir=runs/grid25

Same recipe as `configs/ring8.py`: non-saturating loss + R1, a high learning
rate decayed linearly to 0, and the generator EMA for evaluation.
"""

from gan_jax import defaults


def get_config():
    config = defaults.base_config()
    config.data.name = "grid25"
    config.penalty.name = "r1"
    config.penalty.weight = 0.1
    config.optim.g_lr = 2e-3
    config.optim.d_lr = 2e-3
    config.optim.schedule = "linear"
    config.train.num_steps = 20_000
    config.train.eval_every = 5_000
    config.train.checkpoint_every = 5_000
    return config
