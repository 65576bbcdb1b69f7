"""Every stabilisation trick that applies to points, x 3 seeds, on ring8.

    python -m gan_jax.ablate --config=configs/ablation_tricks_ring8.py --workdir=runs/ablation_tricks_ring8

The baseline is the toy recipe without its R1 penalty (batch 256, Adam(2e-3,
0.5) decayed linearly to 0, EMA 0.999, 3,000 steps, data in memory), so that
there is something to stabilise; each level of the `trick` axis turns one
trick on (`defaults.ABLATION_TRICKS`). `:tiny` is the seconds-long variant
tests run.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    experiment = defaults.tricks_experiment("ring8")
    config = defaults.ablation_config(experiment, num_seeds=3)
    config.grid.trick = defaults.ABLATION_TRICKS
    if "tiny" in defaults.parse_variants(variant, ("tiny",),
                                         "configs/ablation_tricks_ring8.py"):
        defaults.make_tiny(experiment)
        config.num_seeds = 1
        config.grid.trick = {name: defaults.ABLATION_TRICKS[name]
                             for name in ("plain", "unrolled_5", "lazy_r1_16")}
    return config
