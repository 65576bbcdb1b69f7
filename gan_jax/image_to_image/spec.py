"""The spec of an image-to-image run (pix2pix, CycleGAN, SRGAN): every field
of `gan_jax.image_to_image.defaults.base_config(task)`.

The declared defaults are pix2pix's; `gan_jax.image_to_image.defaults` changes
the fields whose paper recipe differs by task. `data`, the adversarial loss,
the learning rates and the loop's fields are the GAN spec's declarations.
"""

import dataclasses

from etils import epath
import ml_collections

from gan_jax import fields
from gan_jax import losses
from gan_jax import parallel
from gan_jax.fields import field
from gan_jax.image_to_image import pairings
from gan_jax.image_to_image import TASKS
from gan_jax.run import gan_spec


SCHEDULES = ("constant", "linear", "linear_second_half")
NORMS = ("batch", "instance")
CONTENT_NETWORKS = ("pixels", "mnist_classifier", "vgg19")


def _power_of_two(value: int) -> str | None:
    if value < 2 or value & (value - 1):
        return "a power of 2 (>= 2)"
    return None


@dataclasses.dataclass(frozen=True)
class Task(fields.Section):
    name: str = field("pix2pix", "the image-to-image task",
                      fields.OneOf(TASKS, "tasks"))
    # How batches become examples (gan_jax.image_to_image.pairings): pix2pix/srgan
    # edges | downsample | side_by_side; cyclegan colourise | two_splits |
    # two_folders. Which ones fit the task is checked in `build`.
    pairing: str = field("edges", "how batches become examples",
                         fields.OneOf(pairings.PAIRED + pairings.UNPAIRED, "pairings"))
    # srgan and the downsample pairing.
    upscale: int = field(4, "the resolution factor; SRGAN upsamples by pixel "
                         "shuffles of 2", fields.Satisfies(_power_of_two))
    # side_by_side: AtoB maps the left half to the right half, BtoA back.
    direction: str = field("AtoB", "side_by_side's direction",
                           fields.OneOf(pairings.DIRECTIONS, "directions"))
    # two_splits: domain A is data.split.
    split_b: str = field("trainB", "the split holding domain B")


@dataclasses.dataclass(frozen=True)
class Model(fields.Section):
    # pix2pix/CycleGAN ngf, ndf; SRGAN's generator and D widths.
    g_channels: int = field(64, "generator base width", fields.AT_LEAST_ONE)
    d_channels: int = field(64, "discriminator base width", fields.AT_LEAST_ONE)
    # pix2pix U-Net / CycleGAN ResNet: 8 for 256x256 U-Nets.
    g_downsamples: int = field(8, "the generator's stride-2 levels",
                               fields.NON_NEGATIVE)
    # CycleGAN ResNet / SRResNet: 9 for 256x256 CycleGAN.
    g_blocks: int = field(0, "the generator's residual blocks", fields.NON_NEGATIVE)
    # pix2pix U-Net: dropout sits on the decoder levels between two capped
    # levels (gan_jax.models.pix2pix), none in a net narrower than the cap.
    g_max_channels: int = field(512, "the U-Net's width cap", fields.AT_LEAST_ONE)
    # Its noise source, Isola et al. Sec. 3.1.
    dropout_rate: float = field(0.5, "pix2pix U-Net decoder dropout",
                                fields.UNIT_INTERVAL)
    d_layers: int = field(3, "PatchGAN depth (3: 70x70 patches)", fields.NON_NEGATIVE)
    norm: str = field("batch", "pix2pix/CycleGAN normalisation",
                      fields.OneOf(NORMS, "norms"))
    d_dense_units: int = field(1024, "the SRGAN discriminator's dense layer",
                               fields.AT_LEAST_ONE)


@dataclasses.dataclass(frozen=True)
class Objective(fields.Section):
    l1_weight: float = field(100.0, "pix2pix lambda", fields.NON_NEGATIVE)
    cycle_weight: float = field(10.0, "CycleGAN lambda", fields.NON_NEGATIVE)
    identity_fraction: float = field(
        0.5, "CycleGAN identity weight as a fraction of lambda, 0 = off",
        fields.NON_NEGATIVE)
    # CycleGAN halves it.
    discriminator_scale: float = field(1.0, "scale of the discriminators' objective",
                                       fields.POSITIVE)
    pool_size: int = field(50, "CycleGAN history pool, 0 = off", fields.NON_NEGATIVE)
    adversarial_weight: float = field(
        1e-3, "SRGAN: the adversarial term's weight beside the content loss",
        fields.NON_NEGATIVE)
    # Counted in the run's steps.
    pretrain_steps: int = field(0, "SRGAN: generator-only MSE steps first",
                                fields.NON_NEGATIVE)
    # pixels: MSE (SRResNet); mnist_classifier: a directory from
    # gan_jax.train_classifier; vgg19: the Keras weights file (README,
    # "SRGAN with VGG19 features"), at `content_layer`.
    content: str = field("pixels", "SRGAN's content features",
                         fields.OneOf(CONTENT_NETWORKS, "content networks"))
    content_path: str = field("", "the content network's weights")
    content_layer: str = field("block5_conv4", "vgg19's content layer")


@dataclasses.dataclass(frozen=True)
class Optim(gan_spec.LearningRates):
    b1: float = field(0.5, "Adam's beta1", fields.UNIT_INTERVAL)
    b2: float = field(0.999, "Adam's beta2", fields.UNIT_INTERVAL)
    # linear: to 0 over the run; linear_second_half (CycleGAN): constant,
    # then linearly to 0 over the second half of the steps.
    schedule: str = field("constant", "the learning-rate schedule",
                          fields.OneOf(SCHEDULES))


@dataclasses.dataclass(frozen=True)
class Eval(fields.Section):
    # A split of the same data.
    split: str = field("test", "the held-out images the measures are taken on")
    split_b: str = field("testB", "two_splits: domain B's held-out split")
    num_examples: int = field(1_000, "held-out examples measured", fields.AT_LEAST_ONE)
    batch_size: int = field(100, "examples per evaluation call", fields.AT_LEAST_ONE)
    strip_examples: int = field(8, "rows of the sample strips", fields.AT_LEAST_ONE)


@dataclasses.dataclass(frozen=True)
class TranslationSpec(gan_spec.Run):
    """An image-to-image run, checked. Built by `build`, never by hand."""
    task: Task = fields.section()
    data: gan_spec.Data = fields.section()
    model: Model = fields.section()
    loss: gan_spec.AdversarialLoss = fields.section()
    objective: Objective = fields.section()
    optim: Optim = fields.section()
    train: gan_spec.Schedule = fields.section()
    eval: Eval = fields.section()


# The ConfigDict's sections, in the order `gan_jax.image_to_image.defaults`
# writes them (the top-level seed and distributed come after `task`).
SECTIONS: dict[str, type[fields.Section]] = {
    "task": Task, "data": gan_spec.Data, "model": Model,
    "loss": gan_spec.AdversarialLoss,
    "objective": Objective, "optim": Optim, "train": gan_spec.Schedule, "eval": Eval}


def build(config: ml_collections.ConfigDict, flag: str = "config") -> TranslationSpec:
    """The checked spec of `config`, or a ValueError (FileNotFoundError for a
    missing content network) of one paragraph naming the flag to set."""
    sections = {name: section.read(config[name], f"{flag}.{name}")
                for name, section in SECTIONS.items()}
    spec = TranslationSpec.read(config, flag, **sections)
    _check_combinations(spec)
    return spec


def loss_options(loss: gan_spec.AdversarialLoss) -> dict:
    """The options of `losses.get` for the spec's `loss` section: label
    smoothing only for the losses that have it."""
    options = {"label_smoothing": loss.label_smoothing}
    return {k: v for k, v in options.items()
            if k in losses.accepted_options(loss.name)}


def _check_combinations(spec: TranslationSpec) -> None:
    """The checks across fields; each field's own range is checked already."""
    pairings.check_pairing(spec.task.pairing, spec.task.name)
    parallel.check_batch_size(spec.data.batch_size)
    losses.get(spec.loss.name, **loss_options(spec.loss))
    if spec.objective.pretrain_steps > spec.train.num_steps:
        raise ValueError(
            f"--config.objective.pretrain_steps={spec.objective.pretrain_steps} "
            f"exceeds --config.train.num_steps={spec.train.num_steps}: the "
            "pre-training steps are counted in the run's steps. Set "
            f"--config.objective.pretrain_steps to at most {spec.train.num_steps}, "
            "or raise --config.train.num_steps.")
    if spec.task.pairing == "two_folders" and spec.data.source != "folder":
        raise ValueError("--config.task.pairing=two_folders reads a folder of "
                         "images (--config.data.source=folder "
                         "--config.data.path=DIR with sub-folders A and B); "
                         f"--config.data.source is {spec.data.source!r}. Set "
                         "those, or --config.task.pairing=two_splits for two "
                         "splits of a TFDS dataset.")
    if spec.task.pairing == "colourise" and spec.data.batch_size % 2:
        raise ValueError(f"--config.data.batch_size={spec.data.batch_size} must "
                         "be even: the colourise pairing splits every batch "
                         "into its A and B halves. Set it to an even size, e.g. "
                         f"--config.data.batch_size={spec.data.batch_size + 1}.")
    if spec.objective.content != "pixels" and not spec.objective.content_path:
        raise ValueError(
            f"--config.objective.content={spec.objective.content!r} needs "
            "--config.objective.content_path: the directory of a classifier "
            "from `python -m gan_jax.train_classifier` (mnist_classifier) or "
            "the Keras VGG19 weights file (vgg19; README, \"SRGAN with VGG19 "
            "features\").")
    _check_content_path(spec.objective)


def _check_content_path(objective: Objective) -> None:
    if objective.content == "pixels" or epath.Path(objective.content_path).exists():
        return
    if objective.content == "mnist_classifier":
        raise FileNotFoundError(
            f"No MNIST classifier at {objective.content_path!r} "
            "(--config.objective.content_path). Train one first (a few minutes "
            "on a CPU): python -m gan_jax.train_classifier "
            f"--out={objective.content_path} --offline")
    raise FileNotFoundError(
        f"No VGG19 weights file at {objective.content_path!r} "
        "(--config.objective.content_path). Download "
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (README, \"SRGAN "
        "with VGG19 features\") and pass its path.")
