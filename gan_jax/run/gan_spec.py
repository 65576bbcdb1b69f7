"""The spec of a GAN run: every field of `gan_jax.defaults.base_config()`.

Each section mirrors the config's (`spec.data.batch_size`, `spec.optim.g_lr`,
...), so code written against `config.x.y` reads a spec unchanged. The
model's options are declared beside the models (gan_jax.models.OPTIONS) and
the tricks' by the tricks package (`spec.tricks` is what
`gan_jax.tricks.options.from_config` returns).
"""

import dataclasses
import os

from absl import logging
import ml_collections

from gan_jax import fields
from gan_jax import losses
from gan_jax import models
from gan_jax import parallel
from gan_jax import penalties
from gan_jax.data import sources
from gan_jax.fields import field
from gan_jax.game import objectives as objectives_lib
from gan_jax.metrics import features
from gan_jax.metrics import suite
from gan_jax.tricks import options as tricks_options

NONFINITE_POLICIES = ("stop", "skip")
# Standing-statistics batches when `eval.standing_stats_batches` is unset and
# the generator is an EMA generator with BatchNorm: BigGAN-PyTorch's default
# `--num_standing_accumulations` (Brock et al. 2019's code).
AUTO_STANDING_STATS_BATCHES = 16
CORRUPT_IMAGE_POLICIES = ("error", "skip")
SCHEDULES = ("constant", "linear")
# `eval.fid_resize` (gan_jax.metrics.features.fid_resize), the default first.
FID_RESIZES = features.FID_RESIZES


def compilation_cache_dir() -> str:
    """The default of `train.compilation_cache_dir`: JAX's own
    `JAX_COMPILATION_CACHE_DIR` when it is set (the test suite sets it to a
    directory of its own), else a directory under the user's cache."""
    return os.environ.get("JAX_COMPILATION_CACHE_DIR") or "~/.cache/gan_jax/xla"


def _distinct_class_labels(labels: tuple) -> str | None:
    if labels and all(isinstance(label, int) and not isinstance(label, bool)
                      and label >= 0 for label in labels) and (
                          len(set(labels)) == len(labels)):
        return None
    return "a non-empty list of distinct class labels (integers >= 0)"


@dataclasses.dataclass(frozen=True)
class Data(fields.Section):
    # toy: a 2-D mixture built locally; tfds: any TFDS dataset by name;
    # idx: MNIST-format IDX files in `path`; folder: image files in `path`,
    # one sub-folder per class; stacked_mnist: three digits as RGB (1,000
    # modes) from the IDX files in `path`, or TFDS mnist without a path.
    # Local sources are built as TFDS datasets.
    source: str = field("toy", "where the examples come from",
                        fields.OneOf(sources.SOURCES, "sources"))
    # toy: ring8 | grid25; tfds: a TFDS name such as mnist, cifar10, celeb_a.
    name: str = field("ring8", "the dataset's name")
    split: str = field("train", 'a TFDS split string, e.g. "train[:90%]"')
    data_dir: str | None = field(None, "where TFDS keeps prepared datasets; "
                                 "None means TFDS's default")
    path: str | None = field(None, "the folder of raw files (idx, folder sources)")
    # Images: resize to `image_size` x `image_size` (None keeps the stored
    # size), after a central square crop when `center_crop` is set.
    image_size: int | None = field(None, "square image size", fields.AT_LEAST_ONE,
                                   example=64)
    center_crop: bool = field(False, "crop the central square before resizing")
    # Turn off for datasets larger than RAM (CelebA).
    cache: bool = field(True, "keep preprocessed examples in host memory")
    # tf_data: stream through a shuffle buffer (any size); in_memory: hold
    # the split in host memory and permute it every epoch, much faster for
    # small examples (gan_jax.data.in_memory).
    loader: str = field("tf_data", "how batches are read",
                        fields.OneOf(sources.LOADERS, "loaders"))
    # Also a multiple of the device and process counts (checked in `build`).
    batch_size: int = field(256, "the global batch size, over all devices",
                            fields.AT_LEAST_ONE)
    shuffle_buffer: int = field(10_000, "examples in the shuffle buffer",
                                fields.AT_LEAST_ONE)
    # error: an image file that cannot be decoded stops the run; skip: it is
    # left out with a warning naming it (folder source).
    corrupt_images: str = field("error", "what an undecodable image does",
                                fields.OneOf(CORRUPT_IMAGE_POLICIES))
    # A subset of a labelled split, e.g. the digits 5-9 to fine-tune on or the
    # nine normal digits of a one-class anomaly split. Labels keep their
    # numbers (a conditional model keeps its classes); the evaluation's real
    # images are the same subset.
    classes: tuple[int, ...] | None = field(
        None, "keep only examples with these class labels (None: all)",
        fields.Satisfies(_distinct_class_labels), example=(5, 6, 7, 8, 9))
    max_examples: int | None = field(
        None, "keep only the first this many examples, after `classes` "
        "(None: all)", fields.AT_LEAST_ONE, example=500)


@dataclasses.dataclass(frozen=True)
class AdversarialLoss(fields.Section):
    """The loss fields image-to-image configs share with GAN configs."""
    name: str = field("non_saturating", "the adversarial loss",
                      fields.OneOf(tuple(sorted(losses.LOSSES)), "losses"))
    label_smoothing: float = field(0.0, "one-sided label smoothing",
                                   fields.UNIT_INTERVAL, example=0.1)


@dataclasses.dataclass(frozen=True)
class Loss(AdversarialLoss):
    """A GAN's loss fields; the tricks declare theirs (`loss.label_noise`,
    BEGAN's `loss.began_*`) in their modules, and `spec.tricks` holds them."""


@dataclasses.dataclass(frozen=True)
class Penalty(fields.Section):
    name: str = field("r1", "the discriminator's gradient penalty",
                      fields.OneOf(tuple(sorted(penalties.PENALTIES)), "penalties"))
    # The discriminator loss gets `weight * penalty`; for R1/R2 with the
    # paper's gamma, use weight = gamma / 2.
    weight: float = field(1.0, "the penalty's weight", fields.NON_NEGATIVE)
    # gp, lp and dragan penalise (||g|| - target)^2 / target^2, Progressive
    # GAN's normalisation (their CIFAR-10 target is 750), so the weight means
    # the same at any target; 0 gives the zero-centred ||g||^2.
    target: float = field(1.0, "target gradient norm for gp, lp, dragan",
                          fields.NON_NEGATIVE)
    # Lazy regularisation (Karras et al. 2020): the penalty only every
    # `lazy_interval` steps, as its own phase, its weight times the interval.
    lazy_interval: int = field(1, "steps between penalty phases, 1 = every "
                               "discriminator step", fields.AT_LEAST_ONE)


@dataclasses.dataclass(frozen=True)
class LearningRates(fields.Section):
    """The learning rates image-to-image configs share with GAN configs."""
    g_lr: float = field(2e-3, "the generator's Adam learning rate", fields.POSITIVE,
                        example=2e-4)
    # Two time-scale update rule: set d_lr != g_lr.
    d_lr: float = field(2e-3, "the discriminator's Adam learning rate",
                        fields.POSITIVE, example=2e-4)


@dataclasses.dataclass(frozen=True)
class Optim(LearningRates):
    g_b1: float = field(0.5, "the generator's Adam beta1", fields.UNIT_INTERVAL)
    g_b2: float = field(0.999, "the generator's Adam beta2", fields.UNIT_INTERVAL)
    d_b1: float = field(0.5, "the discriminator's Adam beta1", fields.UNIT_INTERVAL)
    d_b2: float = field(0.999, "the discriminator's Adam beta2", fields.UNIT_INTERVAL)
    # linear decays both learning rates to 0 at the last step.
    schedule: str = field("linear", "the learning-rate schedule",
                          fields.OneOf(SCHEDULES, "schedules"))
    n_critic: int = field(1, "discriminator updates per generator update",
                          fields.AT_LEAST_ONE)
    # False: alternating updates, the generator step sees the discriminator
    # its critic steps just updated. True: simultaneous gradient descent, the
    # generator's gradient is taken against the discriminator from before
    # them (Mescheder et al. 2017; the setting of Metz et al. 2017's
    # unrolled-GAN notebook, where a plain GAN hops between modes).
    simultaneous: bool = field(False, "simultaneous instead of alternating updates")
    ema_decay: float = field(0.999, "generator EMA for evaluation, 0 disables",
                             fields.UNIT_INTERVAL)
    # BigGAN's and StudioGAN's EMA start: before it the EMA weights copy the
    # generator's, so a slow decay does not average in the initialisation.
    ema_start: int = field(0, "generator steps before the EMA starts averaging",
                           fields.NON_NEGATIVE, example=1000)
    # StyleGAN2-ADA's ema_rampup: the EMA's half-life is at most this
    # fraction of the steps taken (0.05 in its cifar and auto configs).
    ema_rampup: float = field(0.0, "EMA half-life ramp-up as a fraction of the "
                              "steps so far, 0 = off", fields.UNIT_INTERVAL,
                              example=0.05)
    # Original WGAN: discriminator weights clipped to [-c, c] after each update.
    d_weight_clip: float = field(0.0, "WGAN weight clipping c, 0 disables",
                                 fields.NON_NEGATIVE)


@dataclasses.dataclass(frozen=True)
class Schedule(fields.Section):
    """The loop fields image-to-image configs share with GAN configs."""
    num_steps: int = field(30_000, "generator updates", fields.NON_NEGATIVE)
    log_every: int = field(500, "steps between logs", fields.AT_LEAST_ONE)
    eval_every: int = field(5_000, "steps between evaluations", fields.AT_LEAST_ONE)
    checkpoint_every: int = field(5_000, "steps between checkpoints",
                                  fields.AT_LEAST_ONE)
    max_checkpoints: int = field(3, "checkpoints kept", fields.AT_LEAST_ONE)
    # Non-finite losses, gradients or state (checked on the device every
    # step of every task, fetched at every log and before every save): stop
    # ends the run with a message, keeping the last good checkpoint; skip
    # drops each non-finite update and stops only when every update of a log
    # window was.
    on_nonfinite: str = field("stop", "what a non-finite update does",
                              fields.OneOf(NONFINITE_POLICIES))
    # JAX's persistent compilation cache: compiled programs are kept here and
    # reused by any later run whose programs are the same (a rerun, a resume,
    # another seed, learning rate or penalty weight).
    compilation_cache_dir: str | None = field(
        doc="the persistent compilation cache, None turns it off",
        default_factory=compilation_cache_dir)


@dataclasses.dataclass(frozen=True)
class Train(Schedule):
    # True: the generator step scores the fakes the last critic step trained
    # on (after its update) and backpropagates through the same generator
    # pass, as the PyTorch DCGAN example does: one generator forward pass per
    # iteration instead of two. False: it draws fresh latents.
    generator_reuses_fakes: bool = field(
        False, "the generator step reuses the critic step's fakes")


@dataclasses.dataclass(frozen=True)
class Eval(fields.Section):
    # For images, also the real images they are compared with: the first
    # num_samples of the training split.
    num_samples: int = field(2_500, "generated samples per evaluation",
                             fields.AT_LEAST_ONE)
    batch_size: int = field(2_500, "samples per generator call", fields.AT_LEAST_ONE)
    # Images: the network whose features the metrics compare: mnist_classifier
    # (a directory from `python -m gan_jax.train_classifier`) or inception
    # (the FID InceptionV3 .npz, see README), its weights read from
    # `feature_path`. Missing weights turn the metrics off with a warning.
    features: str = field("none", "the metrics' feature network",
                          fields.OneOf(("none", *sorted(features.EXTRACTORS))))
    feature_path: str | None = field(None, "the feature network's weights")
    # How the inception features resize images to 299x299
    # (gan_jax.metrics.features.fid_resize): pytorch_fid, pytorch-fid's
    # bilinear without antialiasing (comparable with pytorch-fid numbers), or
    # clean, clean-fid's antialiased PIL-bicubic (Parmar et al. 2022; the
    # choice moves CIFAR-10 FIDs by whole points). Recorded as "fid_resize"
    # with the metrics. The MNIST classifier takes 28x28 images as they are.
    fid_resize: str = field(FID_RESIZES[0], "how inception features "
                            "resize images to 299x299",
                            fields.OneOf(FID_RESIZES, "resizes"))
    # stacked_mnist too for Stacked MNIST.
    metrics: tuple[str, ...] = field(suite.DEFAULT_METRICS, "the metrics computed",
                                     fields.EachOf(suite.METRICS, "metrics"))
    # BatchNorm generators: evaluate with "standing statistics" (Brock et al.
    # 2019), the BatchNorm statistics re-estimated for the EMA weights from
    # this many batches of `eval.batch_size` fresh latents (0 = off: the
    # running statistics of training). None (the default) is the rule
    # `standing_stats_rule` applies in `build`: AUTO_STANDING_STATS_BATCHES
    # for an EMA generator with BatchNorm, 0 otherwise.
    standing_stats_batches: int | None = field(
        None, "batches of standing statistics, 0 = off, None = "
        f"{AUTO_STANDING_STATS_BATCHES} for an EMA generator with BatchNorm, "
        "else 0", fields.NON_NEGATIVE, example=AUTO_STANDING_STATS_BATCHES)


@dataclasses.dataclass(frozen=True)
class Run(fields.Section):
    """The top-level fields every run config has."""
    # Every random draw of a run (init, data order, latents, penalties)
    # derives from it.
    seed: int = field(0, "the run's seed")
    # auto joins jax.distributed when the environment shows a cluster
    # (JAX_COORDINATOR_ADDRESS, a multi-task Slurm job, a multi-host TPU
    # slice, Open MPI). README, "Scaling up".
    distributed: str = field("auto", "multi-host runs",
                             fields.OneOf(parallel.DISTRIBUTED_MODES))


@dataclasses.dataclass(frozen=True)
class GanSpec(Run):
    """A GAN run, checked. Built by `build`, never by hand."""
    data: Data = fields.section()
    model: models.CommonOptions = fields.section()
    loss: Loss = fields.section()
    penalty: Penalty = fields.section()
    tricks: tricks_options.TrickOptions = fields.section()
    optim: Optim = fields.section()
    train: Train = fields.section()
    eval: Eval = fields.section()


# The ConfigDict's sections, in the order `gan_jax.defaults` writes them.
# (The model's options come from gan_jax.models, the tricks' from the tricks
# package.)
SECTIONS: dict[str, type[fields.Section]] = {
    "data": Data, "loss": Loss, "penalty": Penalty, "optim": Optim,
    "train": Train, "eval": Eval}


def build(config: ml_collections.ConfigDict, flag: str = "config", *,
          check_devices: bool = True) -> GanSpec:
    """The checked spec of `config`, or a ValueError of one paragraph naming
    the flag (`flag` is the config's path: "config", or "config.experiment"
    in an ablation) and a valid value.

    Also warns (without stopping) about combinations that train but rarely do
    what is meant, such as a gradient penalty on a BatchNorm critic.
    `check_devices=False` skips checking that the batch splits over this
    machine's devices (a trained run read back for sampling).
    """
    sections = {name: section.read(config[name], f"{flag}.{name}")
                for name, section in SECTIONS.items()}
    model = models.read_options(config.model, f"{flag}.model")
    spec = GanSpec.read(config, flag, model=model,
                        tricks=tricks_options.from_config(config, flag), **sections)
    if check_devices:
        parallel.check_batch_size(spec.data.batch_size)
    _check_combinations(spec)
    _warn_penalty_with_batch_norm(spec)
    return _resolve_standing_stats(spec)


def standing_stats_rule(spec: GanSpec) -> int:
    """The standing-statistics batches of `spec` when
    `eval.standing_stats_batches` is unset (None).

    An EMA generator (`optim.ema_decay > 0`) with BatchNorm
    (`models.BATCH_NORM_GENERATORS`) gets AUTO_STANDING_STATS_BATCHES: its
    running statistics were accumulated for the training weights, so the
    averaged weights would otherwise be measured with another network's
    statistics (Brock et al. 2019, Sec. 3.1, App. C.1). Any other generator
    gets 0: without BatchNorm there is nothing to re-estimate, and the raw
    generator's running statistics are its own.
    """
    ema = spec.optim.ema_decay > 0
    if ema and spec.model.name in models.BATCH_NORM_GENERATORS:
        return AUTO_STANDING_STATS_BATCHES
    return 0


def _resolve_standing_stats(spec: GanSpec) -> GanSpec:
    """`spec` with `eval.standing_stats_batches` an int: the rule's value
    when unset (logged), the set value otherwise (warned about when it
    leaves an EMA BatchNorm generator with the training statistics, or asks
    for statistics a generator without BatchNorm does not have)."""
    batches = spec.eval.standing_stats_batches
    batch_norm = spec.model.name in models.BATCH_NORM_GENERATORS
    if batches is None:
        batches = standing_stats_rule(spec)
        if batches:
            logging.info(
                "Evaluating the EMA generator with standing BatchNorm "
                "statistics of %d batches (--config.eval.standing_stats_batches "
                "unset; set it to 0 to keep the training statistics).", batches)
    elif batches == 0 and batch_norm and spec.optim.ema_decay > 0:
        logging.warning(
            "--config.eval.standing_stats_batches=0 with an EMA generator "
            "(--config.optim.ema_decay=%g) that has BatchNorm (model %r): the "
            "averaged weights are measured with the running statistics of the "
            "training weights. Leave the field unset (standing statistics of "
            "%d batches) unless this is the comparison you mean.",
            spec.optim.ema_decay, spec.model.name, AUTO_STANDING_STATS_BATCHES)
    elif batches > 0 and not batch_norm:
        logging.warning(
            "--config.eval.standing_stats_batches=%d has no effect: model %r "
            "has no BatchNorm in its generator.", batches, spec.model.name)
    return dataclasses.replace(spec, eval=dataclasses.replace(
        spec.eval, standing_stats_batches=batches))


def _check_image_size(spec: GanSpec) -> None:
    supported = models.SUPPORTED_IMAGE_SIZES.get(spec.model.name)
    size = spec.data.image_size
    if supported and size is not None and size not in supported:
        raise ValueError(
            f"--config.data.image_size={size}: model {spec.model.name!r} makes "
            f"only {', '.join(map(str, supported))}-pixel square images. Set "
            "--config.data.image_size to one of them (images are resized), e.g. "
            f"--config.data.image_size={supported[-1]}.")
    if size is not None:
        models.check_image_size(spec.model, size)


def _check_combinations(spec: GanSpec) -> None:
    """The checks across sections; each field's own range, the model's
    options and the tricks' are checked already."""
    _check_image_size(spec)
    # Building the objectives checks the loss's and penalty's options.
    objectives_lib.create(spec)
    if spec.train.generator_reuses_fakes and spec.optim.simultaneous:
        raise ValueError("--config.train.generator_reuses_fakes=True scores the "
                         "fakes after the critic's update, which "
                         "--config.optim.simultaneous=True excludes: set one of "
                         "them to False.")


def _warn_penalty_with_batch_norm(spec: GanSpec) -> None:
    if (spec.penalty.name != "none" and spec.model.name == "dcgan"
            and spec.model.d_norm == "batch"):
        logging.warning(
            "--config.penalty.name=%r with a BatchNorm critic "
            "(--config.model.d_norm=batch): in training mode every logit "
            "depends on the whole batch through its statistics, so the "
            "penalised gradient is not the per-sample gradient the penalty is "
            "defined on (Gulrajani et al. 2017 drop BatchNorm from the critic "
            "for this reason). Set --config.model.d_norm=layer (or none) unless "
            "this is the ablation you mean.", spec.penalty.name)
