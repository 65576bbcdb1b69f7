"""The default recipe over 10 seeds on a toy mixture, beside PacGAN's rows.

    python -m gan_jax.ablate --config=configs/reproduce_toys.py:ring8 \
        --workdir=runs/reproduce_ring8
    python -m gan_jax.ablate --config=configs/reproduce_toys.py:grid25 \
        --workdir=runs/reproduce_grid25

Seeds 0-9 of `configs/ring8.py` / `configs/grid25.py` exactly as
`python -m gan_jax.main --config=configs/<name>.py --config.seed=S` trains
them, batched under `jax.vmap` (a member matches the separate run to float
round-off over a few steps, tests/test_ablation.py; over 30,000 steps that
round-off grows into a different draw from the same spread, README). The
table gives every seed and the worst, with
PacGAN's published rows (Lin et al. 2018, Table 1: 2,500 samples, a mode
covered with at least 20 high-quality samples, high quality within 3 std)
printed below ours. Add `tiny` (`:ring8,tiny`) for the smoke test.
"""

from gan_jax import defaults

# Lin et al. 2018, Table 1 (means over their runs).
_PUBLISHED = {
    "ring8": (("GAN, Lin et al. 2018", {"modes_covered": 6.3,
                                         "high_quality_fraction": 0.982}),
              ("PacGAN2, Lin et al. 2018", {"modes_covered": 7.9,
                                             "high_quality_fraction": 0.956})),
    "grid25": (("GAN, Lin et al. 2018", {"modes_covered": 17.3,
                                          "high_quality_fraction": 0.948}),
               ("PacGAN4, Lin et al. 2018", {"modes_covered": 24.8,
                                              "high_quality_fraction": 0.936})),
}


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, (*_PUBLISHED, "tiny"),
                                       "configs/reproduce_toys.py")
    mixtures = sorted(variants & set(_PUBLISHED))
    if len(mixtures) != 1:
        raise ValueError("configs/reproduce_toys.py needs one mixture: "
                         "--config=configs/reproduce_toys.py:ring8 or :grid25.")
    name = mixtures[0]
    experiment = defaults.toy_config(name)
    config = defaults.ablation_config(experiment, num_seeds=10)
    config.grid.recipe = {"default": ""}
    config.published = _PUBLISHED[name]
    if "tiny" in variants:
        defaults.make_tiny(experiment)
        config.num_seeds = 2
    return config
