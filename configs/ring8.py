"""8 Gaussians on a ring: the built-in default experiment (no download).

    python -m gan_jax.main --config=configs/ring8.py --workdir=runs/ring8

`--config=configs/ring8.py:tiny` is a seconds-long variant for tests.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    config = defaults.base_config()
    config.data.name = "ring8"
    # The recipe that covers all modes tightly (see README, "Toy benchmark"):
    # non-saturating loss + R1 (gamma = 0.2), a high learning rate decayed
    # linearly to 0, and the generator EMA for evaluation.
    config.penalty.name = "r1"
    config.penalty.weight = 0.1
    config.optim.g_lr = 2e-3
    config.optim.d_lr = 2e-3
    config.optim.schedule = "linear"
    config.train.num_steps = 20_000
    config.train.eval_every = 5_000
    config.train.checkpoint_every = 5_000
    if variant == "tiny":
        config.data.batch_size = 32
        config.model.hidden_dim = 16
        config.model.num_layers = 1
        config.train.num_steps = 6
        config.train.log_every = 2
        config.train.eval_every = 4
        config.train.checkpoint_every = 2
        config.eval.num_samples = 100
    elif variant:
        raise ValueError(f"Unknown variant {variant!r} of configs/ring8.py: use "
                         "'tiny' or nothing.")
    return config
