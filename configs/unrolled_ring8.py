"""Unrolled GAN against a plain GAN of the same settings on ring8, x 3 seeds.

    python -m gan_jax.ablate --config=configs/unrolled_ring8.py --workdir=runs/unrolled_ring8

The setting of Metz et al. 2017's 2-D experiment (their Sec. 3.1 and
Appendix A): ReLU MLPs whose weights are orthogonal with gain 0.8, a 256-d
latent, the minimax loss, Adam(beta1 = 0.5) at constant rates, alternating
updates; from the authors' notebook, batch 512 and the generator's rate 10x
the discriminator's (1e-3 and 1e-4). No penalty and no generator EMA. The
discriminator here has the generator's two hidden layers of 128 (the paper's
has one, on inputs scaled by 1/4). In this setting the plain GAN collapses
onto one or two modes and the unrolled generator, which anticipates the
discriminator's next five updates, spreads over the ring (README, "Unrolled
GAN in Metz et al.'s setting"). `:tiny` is the seconds-long variant tests run.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    experiment = defaults.tricks_experiment("ring8")
    experiment.data.batch_size = 512
    experiment.model.num_layers = 2
    experiment.model.latent_dim = 256
    experiment.model.mlp_activation = "relu"
    experiment.model.mlp_orthogonal_gain = 0.8
    experiment.loss.name = "minimax"
    experiment.optim.g_lr = 1e-3
    experiment.optim.d_lr = 1e-4
    experiment.optim.schedule = "constant"
    experiment.optim.ema_decay = 0.0
    experiment.train.num_steps = 5_000
    experiment.train.log_every = 1_000
    experiment.train.eval_every = 1_000
    experiment.train.checkpoint_every = 1_000
    config = defaults.ablation_config(experiment, num_seeds=3)
    config.grid.trick = {name: defaults.ABLATION_TRICKS[name]
                         for name in ("plain", "unrolled_5")}
    if "tiny" in defaults.parse_variants(variant, ("tiny",),
                                         "configs/unrolled_ring8.py"):
        defaults.make_tiny(experiment)
        config.num_seeds = 1
    return config
