"""8 Gaussians on a ring: the built-in default experiment (no download).

    python -m gan_jax.main --config=configs/ring8.py --workdir=runs/ring8

`--config=configs/ring8.py:tiny` is a seconds-long variant for tests.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    config = defaults.toy_config("ring8")
    if variant == "tiny":
        # Streamed: a few steps read a few hundred points, and holding all
        # 100,000 in memory would take longer than the run.
        config.data.loader = "tf_data"
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
