"""Stacked MNIST, PacGAN's protocol: a DCGAN and PacGAN2 with the same recipe.

    python -m gan_jax.train_classifier --offline   # once: the channel reader
    python -m gan_jax.ablate --config=configs/reproduce_stacked_mnist.py \
        --workdir=runs/reproduce_stacked_mnist

The recipe of `configs/dcgan_stacked_mnist.py:offline` (the MNIST test split
beside this checkout, stacked three times into 10,000 RGB images); the only
difference between the rows is the discriminator's packing (Lin et al. 2018:
it judges two samples at once). Each run is scored on 26,000 samples, each
channel read by the MNIST classifier: modes covered of 1,000 and KL of the
mode histogram to uniform, with PacGAN's published rows (their Table 2)
printed below ours. `:tiny` is the smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",),
                                       "configs/reproduce_stacked_mnist.py")
    experiment = defaults.stacked_mnist_config(offline=True)
    experiment.eval.metrics = ("stacked_mnist",)
    # Three times the single-run config's 5,000 steps: at 5,000 both rows
    # still read as blurred digits (DCGAN 938 modes, KL 0.58; PacGAN2 971,
    # 0.53 on this machine).
    experiment.train.num_steps = 15_000
    experiment.train.eval_every = 5_000
    experiment.train.checkpoint_every = 5_000
    config = defaults.ablation_config(experiment, num_seeds=1)
    config.grid.discriminator = {"dcgan": "", "pacgan2": "tricks.pack=2"}
    config.published = (
        ("DCGAN, Lin et al. 2018 Table 2",
         {"stacked_modes_covered": 99.0, "stacked_reverse_kl": 3.40}),
        ("PacDCGAN2, Lin et al. 2018 Table 2",
         {"stacked_modes_covered": 1000.0, "stacked_reverse_kl": 0.06}),
    )
    if "tiny" in variants:
        defaults.make_tiny(experiment)
    return config
