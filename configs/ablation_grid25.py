"""Six losses x {no penalty, gradient penalty} x 5 seeds on grid25.

    python -m gan_jax.ablate --config=configs/ablation_grid25.py --workdir=runs/ablation_grid25

Each setting's five seeds train together in one vmapped program. The recipe is
the toy default (batch 256, Adam(2e-3, 0.5) decayed linearly to 0, EMA 0.999)
shortened to 6,000 steps, data held in memory; the penalty axis compares no
penalty with the WGAN-GP penalty (Gulrajani et al. 2017) at weight 1, for
every loss.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    experiment = defaults.base_config()
    experiment.data.name = "grid25"
    experiment.data.loader = "in_memory"
    experiment.train.num_steps = 6_000
    experiment.train.log_every = 500
    experiment.train.eval_every = 1_000
    experiment.train.checkpoint_every = 1_000
    config = defaults.ablation_config(experiment, num_seeds=5)
    config.grid.loss = defaults.ABLATION_LOSSES
    config.grid.penalty = defaults.ABLATION_PENALTIES
    if "tiny" in defaults.parse_variants(variant, ("tiny",), "configs/ablation_grid25.py"):
        defaults.make_tiny(experiment)
        config.num_seeds = 2
    return config
