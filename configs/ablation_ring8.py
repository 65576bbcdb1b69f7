"""Six losses x {no penalty, gradient penalty} x 5 seeds on ring8.

    python -m gan_jax.ablate --config=configs/ablation_ring8.py --workdir=runs/ablation_ring8

The same grid as `ablation_grid25.py` on the easier mixture: the toy recipe
(batch 256, Adam(2e-3, 0.5) decayed linearly to 0, EMA 0.999) shortened to
6,000 steps, data held in memory. `:tiny` is the seconds-long variant tests
run.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    experiment = defaults.base_config()
    experiment.data.name = "ring8"
    experiment.data.loader = "in_memory"
    experiment.train.num_steps = 6_000
    experiment.train.log_every = 500
    experiment.train.eval_every = 1_000
    experiment.train.checkpoint_every = 1_000
    config = defaults.ablation_config(experiment, num_seeds=5)
    config.grid.loss = defaults.ABLATION_LOSSES
    config.grid.penalty = defaults.ABLATION_PENALTIES
    if "tiny" in defaults.parse_variants(variant, ("tiny",), "configs/ablation_ring8.py"):
        # Two compiled groups (two losses), each batching two R1 weights x
        # two seeds: both kinds of grouping, in seconds.
        defaults.make_tiny(experiment)
        config.num_seeds = 2
        config.grid = {"loss": {"non_saturating": "loss.name=non_saturating",
                                "hinge": "loss.name=hinge"},
                       "r1": {"weak": "penalty.weight=0.1", "strong": "penalty.weight=1.0"}}
    return config
