"""Every config field, with its default and meaning, in one place.

Files in `configs/` start from `base_config()` and change what their experiment
needs, so a field is documented once and user scripts can rely on its name.
The stabilisation tricks' fields are the exception that keeps this rule: each
trick declares its own, once, in its module (`gan_jax.tricks.registry`).
Any field can be overridden on the command line, e.g. `--config.loss.name=hinge`.
"""

import os

import ml_collections
from ml_collections import config_dict

from gan_jax.tricks import registry


def compilation_cache_dir() -> str:
    """The default of `train.compilation_cache_dir`: JAX's own
    `JAX_COMPILATION_CACHE_DIR` when it is set (the test suite sets it to a
    directory of its own), else a directory under the user's cache."""
    return os.environ.get("JAX_COMPILATION_CACHE_DIR") or "~/.cache/gan_jax/xla"


def base_config() -> ml_collections.ConfigDict:
    """The default configuration: the toy-mixture recipe on ring8.

    Non-saturating loss + R1, a high learning rate decayed linearly to 0 and
    the generator EMA: on this CPU it covers all modes of ring8 and grid25 with
    over 95% high-quality samples (README, "The built-in benchmark").
    """
    config = ml_collections.ConfigDict()
    # Every random draw of a run (init, data order, latents, penalties) derives
    # from this seed.
    config.seed = 0
    # Multi-host runs: on | off | auto (join jax.distributed when the
    # environment shows a cluster: JAX_COORDINATOR_ADDRESS, a multi-task
    # Slurm job, a multi-host TPU slice, Open MPI). README, "Scaling up".
    config.distributed = "auto"

    config.data = ml_collections.ConfigDict()
    # toy: a 2-D mixture built locally; tfds: any TFDS dataset by name;
    # idx: MNIST-format IDX files in `path`; folder: image files in `path`,
    # one sub-folder per class; stacked_mnist: three digits as RGB (1,000
    # modes) from the IDX files in `path`, or TFDS mnist without a path.
    # Local sources are built as TFDS datasets.
    config.data.source = "toy"
    # toy: ring8 | grid25; tfds: a TFDS name such as mnist, cifar10, celeb_a.
    config.data.name = "ring8"
    config.data.split = "train"  # A TFDS split string, e.g. "train[:90%]".
    # Where TFDS keeps prepared datasets; None means TFDS's default.
    config.data.data_dir = config_dict.placeholder(str)
    # The folder of raw files for the idx and folder sources.
    config.data.path = config_dict.placeholder(str)
    # Images: resize to `image_size` x `image_size` (None keeps the stored
    # size), after a central square crop when `center_crop` is set.
    config.data.image_size = config_dict.placeholder(int)
    config.data.center_crop = False
    # Keep preprocessed examples in host memory after the first epoch; turn
    # off for datasets larger than RAM (CelebA).
    config.data.cache = True
    # tf_data: stream through a shuffle buffer (any size); in_memory: hold
    # the split in host memory and permute it every epoch, much faster for
    # small examples (gan_jax.data.in_memory).
    config.data.loader = "tf_data"
    config.data.batch_size = 256  # Global batch size, over all devices.
    config.data.shuffle_buffer = 10_000
    # folder source: an image file that cannot be decoded (corrupt or
    # truncated) is an error | skip (left out with a warning naming it).
    config.data.corrupt_images = "error"

    config.model = ml_collections.ConfigDict()
    config.model.name = "mlp"  # See gan_jax.models.MODELS.
    config.model.latent_dim = 16
    # Conditional models: the number of classes (labels come with the data);
    # 0 means unconditional.
    config.model.num_classes = 0
    # Size of the generator's label embedding, concatenated with z.
    config.model.label_embed_dim = 50
    # How the discriminator sees labels: concat (one-hot channels joined to
    # the input) | projection (Miyato & Koyama 2018).
    config.model.d_conditioning = "projection"
    # mlp: width and depth of both networks.
    config.model.hidden_dim = 128
    config.model.num_layers = 3
    # mlp: hidden nonlinearity (relu | tanh, see gan_jax.models.mlp) and, if
    # > 0, the gain of an orthogonal kernel initialisation (0: LeCun normal).
    config.model.mlp_activation = "relu"
    config.model.mlp_orthogonal_gain = 0.0
    # Image models: channel widths (DCGAN's ngf / ndf; SNGAN's G / D width).
    config.model.g_channels = 64
    config.model.d_channels = 64
    # dcgan: discriminator normalisation, batch | layer | none (gradient
    # penalties need a critic without BatchNorm).
    config.model.d_norm = "batch"
    # dcgan: biases on D's layers not followed by BatchNorm (False is
    # pytorch/examples/dcgan, which has none).
    config.model.d_bias = True
    # Stabilisation options of the networks (gan_jax.models.layers), all off
    # by default. Spectral normalisation on every generator layer (Zhang et
    # al. 2019); mlp and dcgan.
    config.model.g_spectral_norm = False
    # Discriminator: the minibatch standard-deviation feature (Karras et al.
    # 2018) over groups of `d_minibatch_stddev_group` samples (0 = off), and
    # minibatch discrimination (Salimans et al. 2016) with
    # `d_minibatch_kernels` kernels of size `d_minibatch_kernel_dim` (0 = off).
    config.model.d_minibatch_stddev_group = 0
    config.model.d_minibatch_kernels = 0
    config.model.d_minibatch_kernel_dim = 5
    # BEGAN (Berthelot et al. 2017): an auto-encoder discriminator whose
    # output is each sample's L1 reconstruction error; mlp only, and needs
    # loss.name = began.
    config.model.d_autoencoder = False
    # Mixed precision: float32 | bfloat16, the dtype the networks compute in.
    # Parameters, optimizer state, losses and penalties stay float32; use
    # bfloat16 on GPUs and TPUs (on CPU it is slower).
    config.model.dtype = "float32"
    # How dcgan's 4x4 stride-2 (transposed) convolutions are computed
    # (gan_jax.models.strided_conv). All give the same numbers; auto picks the
    # fastest for the backend. upsample: auto | transpose | s2d | conv_vjp |
    # subpixel; downsample: auto | conv | s2d_vjp | matmul_vjp.
    config.model.upsample = "auto"
    config.model.downsample = "auto"

    config.loss = ml_collections.ConfigDict()
    config.loss.name = "non_saturating"  # See gan_jax.losses.LOSSES.
    config.loss.label_smoothing = 0.0  # One-sided; minimax/non_saturating only.
    # Noisy labels (loss.label_noise) and BEGAN's equilibrium (loss.began_*)
    # are tricks: their fields are added with the others' below.

    config.penalty = ml_collections.ConfigDict()
    config.penalty.name = "r1"  # none | gp | lp | r1 | r2 | dragan.
    # The discriminator loss gets `weight * penalty`; for R1/R2 with the
    # paper's gamma, use weight = gamma / 2.
    config.penalty.weight = 0.1
    config.penalty.target = 1.0  # Target gradient norm for gp, lp, dragan.
    # Lazy regularisation (Karras et al. 2020): apply the penalty only every
    # `lazy_interval` steps, as its own phase, with its weight times the
    # interval. 1 = in every discriminator step.
    config.penalty.lazy_interval = 1

    # Stabilisation tricks, each off by default. Each trick's module in
    # gan_jax/tricks declares its fields (default, valid range, one-line
    # doc), most under config.tricks; `python -m gan_jax.tricks.registry`
    # lists them. Running statistics they need (ADA's p, LeCam's EMAs,
    # BEGAN's k_t) live in GANState.tricks and are checkpointed with the rest.
    config.tricks = ml_collections.ConfigDict()
    for section in ("loss", "tricks"):
        registry.add_fields(config, section)

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 2e-3
    config.optim.d_lr = 2e-3  # Two time-scale update rule: set d_lr != g_lr.
    config.optim.g_b1 = 0.5
    config.optim.g_b2 = 0.999
    config.optim.d_b1 = 0.5
    config.optim.d_b2 = 0.999
    # constant | linear (decays both learning rates to 0 at the last step).
    config.optim.schedule = "linear"
    config.optim.n_critic = 1  # Discriminator updates per generator update.
    # False: alternating updates, the generator step sees the discriminator
    # its critic steps just updated. True: simultaneous gradient descent, the
    # generator's gradient is taken against the discriminator from before
    # them (Mescheder et al. 2017; the setting of Metz et al. 2017's
    # unrolled-GAN notebook, where a plain GAN hops between modes).
    config.optim.simultaneous = False
    config.optim.ema_decay = 0.999  # Generator EMA for evaluation; 0 disables.
    # Original WGAN: clip discriminator weights to [-c, c] after each update;
    # 0 disables.
    config.optim.d_weight_clip = 0.0

    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 20_000  # Generator updates.
    config.train.log_every = 500
    config.train.eval_every = 5_000
    config.train.checkpoint_every = 5_000
    config.train.max_checkpoints = 3
    # True: the generator step scores the fakes the last critic step trained
    # on (after its update) and backpropagates through the same generator
    # pass, as the PyTorch DCGAN example does: one generator forward pass per
    # iteration instead of two. False: it draws fresh latents.
    config.train.generator_reuses_fakes = False
    # Non-finite losses, gradients or state (checked on the device every
    # step, fetched at every log and before every save): stop | skip. stop
    # ends the run with a message, keeping the last good checkpoint; skip
    # drops each non-finite update (the state stays as before it) and stops
    # only when every update of a log window was dropped.
    config.train.on_nonfinite = "stop"
    # JAX's persistent compilation cache: compiled programs are kept here and
    # reused by any later run whose programs are the same (a rerun, a resume,
    # another seed, learning rate or penalty weight). None turns it off.
    config.train.compilation_cache_dir = compilation_cache_dir()

    config.eval = ml_collections.ConfigDict()
    # Generated samples per evaluation (and, for images, real images they are
    # compared with: the first num_samples of the training split).
    config.eval.num_samples = 2_500
    config.eval.batch_size = 2_500  # Samples per generator call.
    # Images: the network whose features the metrics compare, none |
    # mnist_classifier (a directory from `python -m gan_jax.train_classifier`)
    # | inception (the FID InceptionV3 .npz, see README); its weights are read
    # from `feature_path`. Missing weights turn the metrics off with a warning.
    config.eval.features = "none"
    config.eval.feature_path = config_dict.placeholder(str)
    # See gan_jax.metrics.suite.METRICS.
    config.eval.metrics = ("fid", "kid", "is", "precision_recall",
                           "density_coverage")  # stacked_mnist too for Stacked MNIST.
    # BatchNorm generators: evaluate with "standing statistics" (Brock et al.
    # 2019), the BatchNorm statistics re-estimated for the EMA weights from
    # this many batches of `eval.batch_size` fresh latents (0 = off: the
    # running statistics of training).
    config.eval.standing_stats_batches = 0
    return config


# Default weight locations, relative to the repository root (README).
MNIST_CLASSIFIER_DIR = "classifiers/mnist"
INCEPTION_WEIGHTS = "weights/pt_inception-2015-12-05.npz"

# The real MNIST test split beside a checkout of this repository (relative to
# the repository root, where the commands in the README run).
OFFLINE_MNIST_DIR = "../shared/data/mnist"


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


# The examples a `:tiny` toy run reads from its split.
TINY_TOY_EXAMPLES = 2048


def make_tiny(config: ml_collections.ConfigDict) -> None:
    """Shrinks an experiment to a seconds-long smoke test of the same code."""
    config.data.batch_size = 8
    config.data.shuffle_buffer = 64
    config.model.g_channels = config.model.d_channels = 8
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
    if unknown:
        raise ValueError(f"Unknown variant(s) {', '.join(sorted(unknown))} of "
                         f"{config_file}. Valid variants: {', '.join(valid)} "
                         "(combine with commas, e.g. ':tiny,offline').")
    return chosen


# The losses an ablation compares by default: the saturating and
# non-saturating games, the Wasserstein critic, hinge, least squares and the
# relativistic average game. As "field=value" overrides (gan_jax.ablation.grid).
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
    """An ablation of `experiment` (see gan_jax.ablation.grid): the grid is
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
