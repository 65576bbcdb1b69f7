"""The default configs and the recipes that change them.

Every field of `base_config()` is declared once, with its type, default,
range and meaning: in the spec (gan_jax.run.gan_spec), the models' options beside
the models (gan_jax.models) and each stabilisation trick's in its own module
(gan_jax.tricks; `python -m gan_jax.tricks.registry` lists them). Files in
`configs/` start from `base_config()` and change what their experiment needs.
Any field can be overridden on the command line, e.g.
`--config.loss.name=hinge`.
"""

import ml_collections

from gan_jax import models
from gan_jax.run import gan_spec

from gan_jax.tricks import registry

# The default of `train.compilation_cache_dir` (read from the environment).
compilation_cache_dir = gan_spec.compilation_cache_dir


def _section(declared: type) -> ml_collections.ConfigDict:
    return declared.fill(ml_collections.ConfigDict())


def base_config() -> ml_collections.ConfigDict:
    """The default configuration: the toy-mixture recipe on ring8.

    Non-saturating loss + R1 (weight 1.0), a high learning rate decayed
    linearly to 0 over 30,000 steps and the generator EMA: it covers every
    mode of ring8 and grid25 on each of 10 seeds, with 97.3-98.2% and
    95.7-96.7% high-quality samples (README, "The built-in benchmark").
    """
    config = _section(gan_spec.Run)
    config.data = _section(gan_spec.Data)
    config.model = models.fill_options(ml_collections.ConfigDict())
    config.loss = _section(gan_spec.Loss)
    config.penalty = _section(gan_spec.Penalty)
    # Stabilisation tricks, each off by default: each trick's module declares
    # its fields, most under config.tricks (noisy labels and BEGAN's under
    # config.loss). Their running statistics (ADA's p, LeCam's EMAs, BEGAN's
    # k_t) live in GANState.tricks and are checkpointed with the rest.
    config.tricks = ml_collections.ConfigDict()
    for section in ("loss", "tricks"):
        registry.add_fields(config, section)
    config.optim = _section(gan_spec.Optim)
    config.train = _section(gan_spec.Train)
    config.eval = _section(gan_spec.Eval)
    config.init = _section(gan_spec.Init)
    return config


# Default weight locations, relative to the repository root (README).
# Fields a config no longer has, by their path under a config section: what
# replaced them, for the refusal of an old override or config file.
RETIRED_FIELDS = {
    "tricks.ada_speed": (
        "ADA's step is the paper's rule now, sign(r_t - target) x batch x "
        "interval / (ada_kimg x 1000) (Karras et al. 2020): set "
        "--config.tricks.ada_kimg instead (the paper's 500 by default)"),
}


MNIST_CLASSIFIER_DIR = "classifiers/mnist"
INCEPTION_WEIGHTS = "weights/pt_inception-2015-12-05.npz"

# The real MNIST test split beside a checkout of this repository (relative to
# the repository root, where the commands in the README run).
OFFLINE_MNIST_DIR = "../shared/data/mnist"


def toy_config(name: str) -> ml_collections.ConfigDict:
    """The default recipe on the toy mixture `name` (ring8, grid25), its
    points held in memory: `configs/ring8.py`, `configs/grid25.py` and their
    10-seed reproduction (`configs/reproduce_toys.py`)."""
    config = base_config()
    config.data.name = name
    config.data.loader = "in_memory"
    return config


def image_config() -> ml_collections.ConfigDict:
    """`base_config()` changed for image GANs: the DCGAN recipe.

    Adam(2e-4, beta1 = 0.5) with a constant rate, nz = 100, batch 64, the
    non-saturating loss without a penalty (Radford et al. 2016), and the
    generator EMA for samples.
    """
    config = base_config()
    config.data.source = "tfds"
    config.data.name = "mnist"
    config.data.batch_size = 64
    config.model.name = "dcgan"
    config.model.latent_dim = 100
    config.penalty.name = "none"
    config.penalty.weight = 0.0
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.optim.schedule = "constant"
    config.train.num_steps = 10_000
    config.train.log_every = 100
    config.train.eval_every = 500
    config.train.checkpoint_every = 1_000
    # Inception features, 50,000 samples: the literature's CIFAR-10 protocol.
    config.eval.features = "inception"
    config.eval.feature_path = INCEPTION_WEIGHTS
    config.eval.num_samples = 50_000
    config.eval.batch_size = 500
    return config


def conditional_mnist_config() -> ml_collections.ConfigDict:
    """The conditional DCGAN of `configs/cgan_mnist.py` (Mirza & Osindero
    2014; a projection discriminator, Miyato & Koyama 2018; widths 32) on
    MNIST with MNIST-classifier metrics: also `configs/finetune_mnist.py`'s."""
    config = image_config()
    use_mnist_metrics(config)
    config.model.num_classes = 10
    config.model.d_conditioning = "projection"
    config.model.g_channels = config.model.d_channels = 32
    return config


def use_mnist_metrics(config: ml_collections.ConfigDict) -> None:
    """MNIST-size runs: classifier features, 10,000 samples per evaluation."""
    config.eval.features = "mnist_classifier"
    config.eval.feature_path = MNIST_CLASSIFIER_DIR
    config.eval.num_samples = 10_000


def use_offline_mnist(config: ml_collections.ConfigDict) -> None:
    """Reads MNIST from the IDX files in `OFFLINE_MNIST_DIR` (its test split)."""
    config.data.source = "idx"
    config.data.path = OFFLINE_MNIST_DIR
    config.data.split = "test"


def use_offline_mnist_at_32(config: ml_collections.ConfigDict) -> None:
    """The offline MNIST resized to 32x32, with MNIST-classifier metrics (the
    classifier reads them back at 28x28): CIFAR-10's shape for the models
    that only make 32x32 and up (BigGAN, StyleGAN2) on a machine without
    CIFAR-10."""
    use_offline_mnist(config)
    use_mnist_metrics(config)
    config.data.image_size = 32


def stacked_mnist_config(*, offline: bool) -> ml_collections.ConfigDict:
    """DCGAN on Stacked MNIST (three digits as RGB, 1,000 modes), scored as in
    PacGAN (Lin et al. 2018): 26,000 samples, each channel read by the MNIST
    classifier, modes covered and KL of the mode histogram to uniform.
    `offline` reads the IDX files of the MNIST test split (`OFFLINE_MNIST_DIR`)."""
    config = image_config()
    use_mnist_metrics(config)
    config.data.source = "stacked_mnist"
    config.data.split = "train"
    config.model.g_channels = config.model.d_channels = 32
    config.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage",
                           "stacked_mnist")
    config.eval.num_samples = 26_000
    config.train.num_steps = 5_000
    if offline:
        config.data.path = OFFLINE_MNIST_DIR
        config.data.split = "test"
    return config


# The examples a `:tiny` toy run reads from its split.
TINY_TOY_EXAMPLES = 2048


def use_stylegan2(config: ml_collections.ConfigDict, *, channel_base: int,
                  mapping_layers: int, d_architecture: str, mbstd_group: int) -> None:
    """StyleGAN2 with ADA as stylegan2-ada-pytorch's train.py sets it up:
    z = w = 512, the skip generator, the logistic loss, lazy R1 every 16
    steps (the caller sets gamma / 2 as the weight), Adam(2.5e-3, betas 0 and
    0.99) at a constant rate, the EMA ramp-up 0.05, ADA with target 0.6."""
    config.model.name = "stylegan2"
    config.model.latent_dim = config.model.w_dim = 512
    config.model.channel_base = channel_base
    config.model.channel_max = 512
    config.model.mapping_layers = mapping_layers
    config.model.d_architecture = d_architecture
    config.model.d_minibatch_stddev_group = mbstd_group
    config.loss.name = "non_saturating"
    config.penalty.name = "r1"
    config.penalty.lazy_interval = 16
    config.optim.g_lr = config.optim.d_lr = 0.0025
    config.optim.g_b1 = config.optim.d_b1 = 0.0
    config.optim.g_b2 = config.optim.d_b2 = 0.99
    config.optim.schedule = "constant"
    config.optim.ema_rampup = 0.05
    config.tricks.augment = "flip,translation,color"
    config.tricks.ada = True


def ema_decay_for_half_life(images: float, batch_size: int) -> float:
    """The per-step EMA decay whose half-life is `images` training images:
    StyleGAN2-ADA's `0.5 ** (batch / (ema_kimg * 1000))`."""
    return 0.5 ** (batch_size / images)


def make_tiny(config: ml_collections.ConfigDict) -> None:
    """Shrinks an experiment to a seconds-long smoke test of the same code."""
    config.data.batch_size = 8
    config.data.shuffle_buffer = 64
    config.model.g_channels = config.model.d_channels = 8
    # StyleGAN2: 32 channels at most, and z, w of 32.
    config.model.channel_base, config.model.channel_max = 512, 32
    if config.model.name == "stylegan2":
        config.model.latent_dim = config.model.w_dim = 32
    # The lazy phases run within the 4 steps.
    config.penalty.lazy_interval = min(config.penalty.lazy_interval, 2)
    config.tricks.path_length_interval = min(config.tricks.path_length_interval, 2)
    config.model.hidden_dim = 16
    config.model.num_layers = 1
    # Two critic steps still exercise the multi-critic path; five cost their
    # compile time in every test.
    config.optim.n_critic = min(config.optim.n_critic, 2)
    config.train.num_steps = 4
    config.train.log_every = 2
    config.train.eval_every = 2
    config.train.checkpoint_every = 2
    config.eval.num_samples = config.eval.batch_size = 100
    config.eval.features = "none"
    if config.data.source == "toy" and "[" not in config.data.split:
        # A few steps read a few dozen points; holding all 100,000 of the
        # split in memory (`data.loader=in_memory`) would take longer than
        # the run (TFDS decodes them one by one, about 40 us each).
        config.data.split = f"{config.data.split}[:{TINY_TOY_EXAMPLES}]"


def parse_variants(variant: str, valid: tuple[str, ...], config_file: str) -> set[str]:
    """The comma-separated variants of `--config=FILE:a,b`, checked against `valid`."""
    chosen = {name for name in variant.split(",") if name}
    unknown = chosen - set(valid)
    if unknown and not valid:
        raise ValueError(f"{config_file} has no variants: drop "
                         f"':{variant}' from --config.")
    if unknown:
        raise ValueError(f"Unknown variant(s) {', '.join(sorted(unknown))} of "
                         f"{config_file}. Valid variants: {', '.join(valid)} "
                         "(combine with commas, e.g. ':tiny,offline').")
    return chosen


# The losses an ablation compares by default: the saturating and
# non-saturating games, the Wasserstein critic, hinge, least squares and the
# relativistic average game. As "field=value" overrides (gan_jax.sweep.grid).
ABLATION_LOSSES = {
    "minimax": "loss.name=minimax",
    "non_saturating": "loss.name=non_saturating",
    "wasserstein": "loss.name=wasserstein",
    "hinge": "loss.name=hinge",
    "least_squares": "loss.name=least_squares",
    "relativistic_average": "loss.name=relativistic_average",
}

# No penalty against the WGAN-GP penalty (Gulrajani et al. 2017) at weight 1.
ABLATION_PENALTIES = {
    "none": "penalty.name=none, penalty.weight=0.0",
    "gp": "penalty.name=gp, penalty.weight=1.0",
}


def ablation_config(experiment: ml_collections.ConfigDict, *,
                    num_seeds: int) -> ml_collections.ConfigDict:
    """An ablation of `experiment` (see gan_jax.sweep.grid): the grid is
    left for the config file to fill, axis by axis, in display order."""
    config = ml_collections.ConfigDict()
    config.experiment = experiment
    config.num_seeds = num_seeds
    config.first_seed = 0
    config.grid = ml_collections.ConfigDict()
    return config


# The stabilisation tricks an ablation on the 2-D mixtures compares, each
# against "plain" (the experiment as configured, no trick). Image-only tricks
# (DiffAugment's colour/translation/cutout, ACGAN) need images or labels; on
# points, augmentation is Gaussian jitter.
ABLATION_TRICKS = {
    "plain": "",
    "feature_matching": "tricks.feature_matching_weight=1.0",
    "minibatch_stddev": "model.d_minibatch_stddev_group=4",
    "minibatch_discrimination": "model.d_minibatch_kernels=8",
    "instance_noise": "tricks.noise_std=0.2, tricks.noise_steps=2000",
    "unrolled_5": "tricks.unrolled_steps=5",
    "pacgan_2": "tricks.pack=2",
    "diffaugment_jitter": "tricks.augment=jitter",
    "ada_jitter": "tricks.augment=jitter, tricks.ada=True",
    "bcr_jitter": ("tricks.cr_real_weight=1.0, tricks.cr_fake_weight=1.0, "
                   "tricks.cr_augment=jitter"),
    "zcr": "tricks.zcr_d_weight=1.0, tricks.zcr_g_weight=0.5, tricks.zcr_std=0.1",
    "lecam": "tricks.lecam_weight=0.3",
    "r1": "penalty.name=r1, penalty.weight=0.1",
    "lazy_r1_16": "penalty.name=r1, penalty.weight=0.1, penalty.lazy_interval=16",
    "top_k": "tricks.top_k_min_fraction=0.5, tricks.top_k_every=50",
    "label_smoothing": "loss.label_smoothing=0.1",
    "noisy_labels": "loss.label_smoothing=0.1, loss.label_noise=0.2",
    "infogan_8": "tricks.infogan_categories=8",
    "began": "loss.name=began, model.d_autoencoder=True",
    "g_spectral_norm": "model.g_spectral_norm=True",
}


def tricks_experiment(mixture: str) -> ml_collections.ConfigDict:
    """The baseline the trick ablations start from: the toy recipe without its
    R1 penalty (the recipe's own stabiliser), 3,000 steps, data in memory."""
    experiment = base_config()
    experiment.data.name = mixture
    experiment.data.loader = "in_memory"
    experiment.penalty.name = "none"
    experiment.penalty.weight = 0.0
    experiment.train.num_steps = 3_000
    experiment.train.log_every = 500
    experiment.train.eval_every = 1_000
    experiment.train.checkpoint_every = 1_000
    return experiment
