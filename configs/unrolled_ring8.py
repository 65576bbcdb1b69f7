"""Unrolled GAN against a plain GAN of the same settings on ring8, x 3 seeds.

    python -m gan_jax.ablate --config=configs/unrolled_ring8.py --workdir=runs/unrolled_ring8

The setting of Metz et al. 2017's 2-D experiment (their Sec. 3.1 and the
authors' notebook): MLPs with two hidden layers of 128 units, a 256-d latent,
batch 512, Adam(beta1 = 0.5) at a constant rate, the generator's 10x the
discriminator's, no penalty and no generator EMA. A plain GAN here hops from
mode to mode; the unrolled generator anticipates the discriminator's answer.
`:tiny` is the seconds-long variant tests run.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    experiment = defaults.tricks_experiment("ring8")
    experiment.data.batch_size = 512
    experiment.model.num_layers = 2
    experiment.model.latent_dim = 256
    experiment.optim.g_lr = 1e-3
    experiment.optim.d_lr = 1e-4
    experiment.optim.schedule = "constant"
    experiment.optim.ema_decay = 0.0
    experiment.train.num_steps = 10_000
    experiment.train.log_every = 1_000
    experiment.train.eval_every = 2_500
    experiment.train.checkpoint_every = 2_500
    config = defaults.ablation_config(experiment, num_seeds=3)
    config.grid.trick = {name: defaults.ABLATION_TRICKS[name]
                         for name in ("plain", "unrolled_5")}
    if "tiny" in defaults.parse_variants(variant, ("tiny",),
                                         "configs/unrolled_ring8.py"):
        defaults.make_tiny(experiment)
        config.num_seeds = 1
    return config
