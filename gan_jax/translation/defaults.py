"""Every field of an image-to-image config, with its default and meaning.

`base_config(task)` is what `configs/pix2pix_*.py`, `configs/cyclegan_*.py`
and `configs/srgan_*.py` start from: the paper's recipe for `task`, sized
down where the paper's networks would not train on a CPU in minutes (each
config says what it changed). `config.data` has the fields (and meanings) of
`gan_jax.defaults.base_config().data`, so every image source works here.
"""

import ml_collections

from gan_jax import defaults as gan_defaults

# The paper recipes (Isola et al. 2017; Zhu et al. 2017; Ledig et al. 2017).
_LOSSES = {"pix2pix": "non_saturating", "cyclegan": "least_squares",
           "srgan": "non_saturating"}


def base_config(task: str) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.task = ml_collections.ConfigDict()
    config.task.name = task  # pix2pix | cyclegan | srgan
    # How batches become examples (gan_jax.translation.tasks): pix2pix/srgan
    # edges | downsample | side_by_side; cyclegan colourise | two_splits.
    config.task.pairing = {"pix2pix": "edges", "cyclegan": "colourise",
                           "srgan": "downsample"}[task]
    # srgan (and the downsample pairing): the resolution factor, a power of 2.
    config.task.upscale = 4
    # side_by_side: AtoB maps the left half to the right half, BtoA back.
    config.task.direction = "AtoB"
    # two_splits: the split holding domain B (domain A is data.split).
    config.task.split_b = "trainB"
    config.seed = 0
    config.distributed = "auto"  # As in gan_jax.defaults.

    config.data = gan_defaults.base_config().data
    config.data.source = "tfds"
    config.data.name = "mnist"
    config.data.loader = "in_memory"
    config.data.batch_size = 32

    config.model = ml_collections.ConfigDict()
    # Base widths: pix2pix/CycleGAN ngf, ndf; SRGAN's generator and D widths.
    config.model.g_channels = 64
    config.model.d_channels = 64
    # pix2pix U-Net / CycleGAN ResNet: stride-2 levels (8 for 256x256 U-Nets).
    config.model.g_downsamples = {"pix2pix": 8, "cyclegan": 2, "srgan": 0}[task]
    # CycleGAN ResNet / SRResNet: residual blocks (9 for 256x256 CycleGAN).
    config.model.g_blocks = {"pix2pix": 0, "cyclegan": 9, "srgan": 16}[task]
    # pix2pix U-Net: width cap; dropout sits on the decoder levels between two
    # capped levels (gan_jax.models.pix2pix), none in a net narrower than it.
    config.model.g_max_channels = 512
    # pix2pix U-Net decoder dropout (its noise source, Isola et al. Sec. 3.1).
    config.model.dropout_rate = 0.5
    # PatchGAN depth (3: 70x70 patches).
    config.model.d_layers = 3
    # pix2pix/CycleGAN normalisation: batch | instance.
    config.model.norm = "instance" if task == "cyclegan" else "batch"
    # SRGAN discriminator's dense layer.
    config.model.d_dense_units = 1024

    config.loss = ml_collections.ConfigDict()
    config.loss.name = _LOSSES[task]  # Any name in gan_jax.losses.
    config.loss.label_smoothing = 0.0

    config.objective = ml_collections.ConfigDict()
    config.objective.l1_weight = 100.0  # pix2pix lambda.
    config.objective.cycle_weight = 10.0  # CycleGAN lambda.
    # CycleGAN identity weight as a fraction of lambda (0 turns it off).
    config.objective.identity_fraction = 0.5
    # Scale of the discriminators' objective (CycleGAN halves it).
    config.objective.discriminator_scale = 0.5 if task == "cyclegan" else 1.0
    config.objective.pool_size = 50  # CycleGAN history pool; 0 turns it off.
    # SRGAN: weight of the adversarial term beside the content loss.
    config.objective.adversarial_weight = 1e-3
    # SRGAN: generator-only MSE steps before the adversarial ones.
    config.objective.pretrain_steps = 0
    # SRGAN content features: pixels (MSE, SRResNet) | mnist_classifier
    # (a directory from gan_jax.train_classifier) | vgg19 (the Keras weights
    # file, README "SRGAN with VGG19 features"); `content_layer` for vgg19.
    config.objective.content = "pixels"
    config.objective.content_path = ""
    config.objective.content_layer = "block5_conv4"

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 1e-4 if task == "srgan" else 2e-4
    config.optim.d_lr = 1e-4 if task == "srgan" else 2e-4
    config.optim.b1 = 0.9 if task == "srgan" else 0.5
    config.optim.b2 = 0.999
    # constant | linear (to 0 over the run) | linear_second_half (CycleGAN:
    # constant, then linearly to 0 over the second half of the steps).
    config.optim.schedule = "linear_second_half" if task == "cyclegan" else "constant"

    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 2_000
    config.train.log_every = 200
    config.train.eval_every = 500
    config.train.checkpoint_every = 500
    config.train.max_checkpoints = 3
    # Non-finite losses, gradients or state: stop | skip, as in
    # gan_jax.defaults (the same guard runs on every task).
    config.train.on_nonfinite = "stop"
    config.train.compilation_cache_dir = gan_defaults.compilation_cache_dir()

    config.eval = ml_collections.ConfigDict()
    # Held-out images the measures are taken on (a split of the same data).
    config.eval.split = "test"
    config.eval.split_b = "testB"  # two_splits: domain B's held-out split.
    config.eval.num_examples = 1_000
    config.eval.batch_size = 100
    config.eval.strip_examples = 8  # Rows of the sample strips.
    return config


def use_offline_mnist(config: ml_collections.ConfigDict) -> None:
    """The MNIST IDX files in `gan_jax.defaults.OFFLINE_MNIST_DIR` (their
    10,000 test images): the first 8,000 train, the last 2,000 are held out."""
    gan_defaults.use_offline_mnist(config)
    config.data.split = "test[:80%]"
    config.eval.split = "test[80%:]"


def make_tiny(config: ml_collections.ConfigDict) -> None:
    """A seconds-long smoke test of the same code."""
    config.data.batch_size = 4
    config.model.g_channels = config.model.d_channels = 4
    config.model.g_blocks = min(config.model.g_blocks, 1)
    config.model.d_dense_units = 8
    config.objective.pool_size = min(config.objective.pool_size, 3)
    config.objective.pretrain_steps = min(config.objective.pretrain_steps, 2)
    config.train.num_steps = 4
    config.train.log_every = config.train.eval_every = 2
    config.train.checkpoint_every = 2
    config.eval.num_examples = 16
    config.eval.batch_size = 8
    config.eval.strip_examples = 2
