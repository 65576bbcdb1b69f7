"""25 Gaussians on a 5x5 grid (VEEGAN, PacGAN): the harder toy benchmark.

    python -m gan_jax.main --config=configs/grid25.py --workdir=runs/grid25

The recipe is the default one (`gan_jax/defaults.py`), as for ring8.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    defaults.parse_variants(variant, (), "configs/grid25.py")
    config = defaults.toy_config("grid25")
    return config
