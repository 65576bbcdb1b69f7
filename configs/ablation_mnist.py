"""Four losses x 3 seeds of a small DCGAN on the offline MNIST test split.

    python -m gan_jax.ablate --config=configs/ablation_mnist.py --workdir=runs/ablation_mnist

Reads the IDX files in `../shared/data/mnist` (held in memory) and scores each
run with the MNIST-classifier metrics (FID, KID, IS, precision/recall,
density/coverage of 5,000 samples; train the classifier first:
`python -m gan_jax.train_classifier --offline`, README "Evaluation"). The
critic uses layer norm, so the gradient penalty of the WGAN-GP setting is
per-sample. Widths 32 and 2,000 steps; `:tiny` is the smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",), "configs/ablation_mnist.py")
    experiment = defaults.image_config()
    defaults.use_mnist_metrics(experiment)
    defaults.use_offline_mnist(experiment)
    experiment.data.loader = "in_memory"
    experiment.model.g_channels = experiment.model.d_channels = 32
    experiment.model.d_norm = "layer"
    experiment.train.num_steps = 2_000
    experiment.train.eval_every = 500
    experiment.eval.num_samples = 5_000
    config = defaults.ablation_config(experiment, num_seeds=3)
    config.grid.loss = {
        "non_saturating": "loss.name=non_saturating",
        "hinge": "loss.name=hinge",
        "least_squares": "loss.name=least_squares",
        "wgan_gp": "loss.name=wasserstein, penalty.name=gp, penalty.weight=10.0",
    }
    if "tiny" in variants:
        defaults.make_tiny(experiment)
        config.num_seeds = 2
        config.grid.loss = {"non_saturating": "loss.name=non_saturating",
                            "wgan_gp": config.grid.loss.wgan_gp}
    return config
