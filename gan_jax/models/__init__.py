"""Generator/discriminator pairs, looked up by name.

`create(options, sample_shape, aux_outputs=0)` returns two Flax modules
with the calling convention every trainer relies on:

    generator(z, labels=None, train=False) -> samples (batch, *sample_shape)
    discriminator(x, labels=None, train=False) -> logits (batch,)

(with `d_autoencoder` the discriminator returns energies (batch,) instead).

Unconditional models (`num_classes == 0`) ignore `labels`, so one
initialisation call that always passes labels serves every model; conditional
ones raise ValueError without them. Images are NHWC. Running statistics
(BatchNorm, and the power-iteration state of spectral normalisation) live in
the `batch_stats` collection and move only with `train=True`.

Every discriminator sows (Flax `sow`, collection "intermediates") its
penultimate per-sample features as "features" and, with `aux_outputs > 0`, the
output `(batch, aux_outputs)` of an auxiliary linear head on them as
"aux_logits" (ACGAN's class logits, InfoGAN's Q head).

Stabilisation options of the model (`spec.model`), all off by default, where the
networks are then exactly the plain ones (same variables, same values for the
same key, same outputs):
    g_spectral_norm: every Dense/Conv/ConvTranspose of the mlp and dcgan
        generators spectrally normalised (Zhang et al. 2019).
    d_minibatch_stddev_group: minibatch standard deviation (Karras et al.
        2018) before the discriminator's last layer.
    d_minibatch_kernels, d_minibatch_kernel_dim: minibatch discrimination
        (Salimans et al. 2016) before the discriminator's last layer.
    d_autoencoder: BEGAN's auto-encoder discriminator (Berthelot et al. 2017),
        mlp only; it returns per-sample energies (L1 reconstruction errors),
        not logits.
See `gan_jax.models.layers` for where each sits.

Models know nothing about losses; `gan_jax.game.objectives` combines the two.
"""

from collections.abc import Callable, Sequence
import dataclasses

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_jax import fields
from gan_jax.models import biggan
from gan_jax.models import dcgan
from gan_jax.models import layers
from gan_jax.models import mlp
from gan_jax.models import progressive
from gan_jax.models import sngan
from gan_jax.models import strided_conv
from gan_jax.models import stylegan2


def _discriminator_options(options: "CommonOptions", aux_outputs: int) -> dict:
    """The discriminator keyword arguments shared by every model."""
    return dict(aux_outputs=aux_outputs,
                minibatch_stddev_group=options.d_minibatch_stddev_group,
                minibatch_kernels=options.d_minibatch_kernels,
                minibatch_kernel_dim=options.d_minibatch_kernel_dim)


COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(options: "CommonOptions"):
    """The networks' computation dtype; parameters stay float32 either way."""
    name = options.dtype
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"Unknown --config.model.dtype={name!r}. Valid dtypes: "
                         f"{', '.join(COMPUTE_DTYPES)}. Set --config.model.dtype "
                         "to one of them.")
    return COMPUTE_DTYPES[name]


def _mlp(options: "MlpOptions", sample_shape, aux_outputs: int):
    # The MLPs ignore labels; failing here beats silently training an
    # unconditional model under a conditional config.
    if options.num_classes:
        raise ValueError("--config.model.name=mlp is unconditional: set "
                         "--config.model.num_classes=0, or "
                         "--config.model.name=dcgan (or sngan).")
    mlp_options = dict(activation=options.mlp_activation,
                       orthogonal_gain=options.mlp_orthogonal_gain)
    generator = mlp.MLPGenerator(sample_shape=tuple(sample_shape),
                                 hidden_dim=options.hidden_dim,
                                 num_layers=options.num_layers,
                                 **mlp_options,
                                 spectral_norm=options.g_spectral_norm,
                                 dtype=compute_dtype(options))
    if options.d_autoencoder:
        # BEGAN's code size N_h equals its latent size N_z (Berthelot et al.
        # 2017, Sec. 3.3).
        discriminator = mlp.MLPAutoencoderDiscriminator(
            hidden_dim=options.hidden_dim, num_layers=options.num_layers,
            code_dim=options.latent_dim, aux_outputs=aux_outputs,
            dtype=compute_dtype(options))
    else:
        discriminator = mlp.MLPDiscriminator(
            hidden_dim=options.hidden_dim, num_layers=options.num_layers,
            **mlp_options, dtype=compute_dtype(options),
            **_discriminator_options(options, aux_outputs))
    return generator, discriminator


def _dcgan(options: "DcganOptions", sample_shape, aux_outputs: int):
    return (
        dcgan.DCGANGenerator(sample_shape=tuple(sample_shape),
                             base_channels=options.g_channels,
                             num_classes=options.num_classes,
                             label_embed_dim=options.label_embed_dim,
                             spectral_norm=options.g_spectral_norm,
                             upsample=options.upsample,
                             dtype=compute_dtype(options)),
        dcgan.DCGANDiscriminator(sample_shape=tuple(sample_shape),
                                 base_channels=options.d_channels,
                                 norm=options.d_norm,
                                 num_classes=options.num_classes,
                                 conditioning=options.d_conditioning,
                                 bias=options.d_bias,
                                 downsample=options.downsample,
                                 dtype=compute_dtype(options),
                                 **_discriminator_options(options, aux_outputs)),
    )


def _sngan(options: "SnganOptions", sample_shape, aux_outputs: int):
    return (
        sngan.SNGANGenerator(sample_shape=tuple(sample_shape),
                             channels=options.g_channels,
                             num_classes=options.num_classes,
                             label_embed_dim=options.label_embed_dim,
                             dtype=compute_dtype(options)),
        sngan.SNGANDiscriminator(sample_shape=tuple(sample_shape),
                                 channels=options.d_channels,
                                 num_classes=options.num_classes,
                                 conditioning=options.d_conditioning,
                                 dtype=compute_dtype(options),
                                 **_discriminator_options(options, aux_outputs)),
    )


def _check_biggan(options: "BigganOptions", image_size: int) -> None:
    biggan.check_latent_dim(options.latent_dim, image_size)
    biggan.check_attention_resolution(options.attention_resolution, image_size)


def _biggan(options: "BigganOptions", sample_shape, aux_outputs: int):
    shape = tuple(sample_shape)
    layers.check_image_shape(shape, biggan.SUPPORTED_SIZES, "biggan")
    _check_biggan(options, shape[0])
    common = dict(sample_shape=shape, num_classes=options.num_classes,
                  attention_resolution=options.attention_resolution,
                  dtype=compute_dtype(options))
    return (
        biggan.BigGANGenerator(channels=options.g_channels,
                               shared_dim=options.label_embed_dim, **common),
        biggan.BigGANDiscriminator(channels=options.d_channels, **common,
                                   **_discriminator_options(options, aux_outputs)),
    )


def _stylegan2(options: "Stylegan2Options", sample_shape, aux_outputs: int):
    common = dict(sample_shape=tuple(sample_shape), num_classes=options.num_classes,
                  channel_base=options.channel_base, channel_max=options.channel_max,
                  conv_clamp=options.conv_clamp or None, dtype=compute_dtype(options))
    return (
        stylegan2.StyleGAN2Generator(
            z_dim=options.latent_dim, w_dim=options.w_dim,
            mapping_layers=options.mapping_layers,
            style_mixing_prob=options.style_mixing_prob,
            architecture=options.g_architecture, **common),
        # The reference's D maps labels through 8 layers whatever G's mapping
        # depth (its train.py passes D no mapping_kwargs).
        stylegan2.StyleGAN2Discriminator(
            architecture=options.d_architecture,
            mbstd_group_size=options.d_minibatch_stddev_group or None,
            mbstd_num_channels=1 if options.d_minibatch_stddev_group else 0,
            aux_outputs=aux_outputs, **common),
    )


def _progressive(options: "ProgressiveOptions", sample_shape, aux_outputs: int):
    if options.num_classes:
        raise ValueError("--config.model.name=progressive is unconditional: set "
                         "--config.model.num_classes=0, or "
                         "--config.model.name=stylegan2 for a conditional model.")
    common = dict(sample_shape=tuple(sample_shape), channel_base=options.channel_base,
                  channel_max=options.channel_max,
                  start_resolution=options.start_resolution,
                  dtype=compute_dtype(options))
    return (
        progressive.ProgressiveGenerator(**common),
        progressive.ProgressiveDiscriminator(
            minibatch_stddev_group=options.d_minibatch_stddev_group,
            aux_outputs=aux_outputs, **common),
    )


MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    "mlp": _mlp,
    "dcgan": _dcgan,
    "sngan": _sngan,
    "biggan": _biggan,
    "stylegan2": _stylegan2,
    "progressive": _progressive,
}
# The models whose generator normalises with BatchNorm (its running
# statistics live in `batch_stats` and belong to the training weights, not to
# the EMA weights sampled at evaluation: see gan_jax.evaluation.standing_stats).
# tests/test_models.py checks this against the built generators.
BATCH_NORM_GENERATORS = frozenset({"dcgan", "sngan", "biggan"})
# The generators that sample with the truncation trick (StyleGAN's
# w = w_avg + psi (w - w_avg)), through `truncation_psi` in their call.
TRUNCATABLE_GENERATORS = frozenset({"stylegan2"})


def check_truncation(model_name: str, truncation_psi: float, flag: str) -> None:
    """Raises ValueError, naming `flag`, for truncation a model lacks."""
    if truncation_psi != 1.0 and model_name not in TRUNCATABLE_GENERATORS:
        raise ValueError(
            f"{flag}={truncation_psi:g} asks for the truncation trick, which only "
            f"the {', '.join(sorted(TRUNCATABLE_GENERATORS))} generator has (in "
            f"w space); this run's model is {model_name!r}. Leave {flag} at 1.")
    if truncation_psi < 0:
        raise ValueError(f"{flag}={truncation_psi:g} must be >= 0 (1 = no "
                         f"truncation, 0 = every sample at w_avg), e.g. 0.7.")


# The square image sizes each image model's architecture can make.
SUPPORTED_IMAGE_SIZES = {"dcgan": dcgan.SUPPORTED_SIZES,
                         "sngan": sngan.SUPPORTED_SIZES,
                         "biggan": biggan.SUPPORTED_SIZES,
                         "stylegan2": stylegan2.SUPPORTED_SIZES,
                         "progressive": progressive.SUPPORTED_SIZES}



# The checks of a model's options that depend on the image size, run when
# the spec is built if the config fixes the size (else when the model is).
_SIZE_CHECKS: dict[str, Callable[["CommonOptions", int], None]] = {
    "biggan": _check_biggan,
    "progressive": lambda options, size: progressive.check_start_resolution(
        options.start_resolution, size),
}


def check_image_size(options: "CommonOptions", image_size: int) -> None:
    """Raises ValueError, naming the flag to set, for options of model
    `options.name` that cannot make `image_size`-pixel images."""
    check = _SIZE_CHECKS.get(options.name)
    if check is not None:
        check(options, image_size)


# The options of `config.model`, declared by model. The ConfigDict holds the
# union (flat `config.model.*` names, so any override works whatever the
# model); the spec's `model` section is the chosen model's block only.
@dataclasses.dataclass(frozen=True)
class CommonOptions(fields.Section):
    """Options every model has."""
    name: str = fields.field("mlp", "the architecture", fields.OneOf(
        tuple(sorted(MODELS)), "models"))
    latent_dim: int = fields.field(16, "size of z", fields.AT_LEAST_ONE)
    # Labels come with the data; 0 means unconditional.
    num_classes: int = fields.field(0, "classes of a conditional model, 0 = "
                                    "unconditional", fields.NON_NEGATIVE)
    # Concatenated with z.
    label_embed_dim: int = fields.field(50, "size of the generator's label "
                                        "embedding", fields.AT_LEAST_ONE)
    # concat: one-hot channels joined to the input; projection: Miyato &
    # Koyama 2018.
    d_conditioning: str = fields.field(
        "projection", "how the discriminator sees labels",
        fields.OneOf(layers.D_CONDITIONINGS, "conditionings"))
    # Discriminator: the minibatch standard-deviation feature (Karras et al.
    # 2018) over groups of `d_minibatch_stddev_group` samples (0 = off), and
    # minibatch discrimination (Salimans et al. 2016) with
    # `d_minibatch_kernels` kernels of size `d_minibatch_kernel_dim` (0 = off).
    d_minibatch_stddev_group: int = fields.field(
        0, "minibatch stddev group size, 0 = off", fields.NON_NEGATIVE)
    d_minibatch_kernels: int = fields.field(
        0, "minibatch discrimination kernels, 0 = off", fields.NON_NEGATIVE)
    d_minibatch_kernel_dim: int = fields.field(
        5, "size of each minibatch discrimination kernel", fields.AT_LEAST_ONE)
    # Parameters, optimizer state, losses and penalties stay float32; use
    # bfloat16 on GPUs and TPUs (on CPU it is slower).
    dtype: str = fields.field("float32", "the dtype the networks compute in",
                              fields.OneOf(tuple(COMPUTE_DTYPES), "dtypes"))


@dataclasses.dataclass(frozen=True)
class SpectralNormOption(fields.Section):
    # Zhang et al. 2019; mlp and dcgan (SNGAN's generator is the paper's).
    g_spectral_norm: bool = fields.field(
        False, "spectral normalisation on every generator layer")


@dataclasses.dataclass(frozen=True)
class MlpOptions(SpectralNormOption, CommonOptions):
    hidden_dim: int = fields.field(128, "width of both MLPs", fields.AT_LEAST_ONE)
    num_layers: int = fields.field(3, "depth of both MLPs", fields.AT_LEAST_ONE)
    mlp_activation: str = fields.field("relu", "hidden nonlinearity",
                                       fields.OneOf(mlp.ACTIVATIONS, "activations"))
    mlp_orthogonal_gain: float = fields.field(
        0.0, "gain of an orthogonal kernel init, 0 = LeCun normal", fields.NON_NEGATIVE)
    # BEGAN (Berthelot et al. 2017): the output is each sample's L1
    # reconstruction error; needs loss.name = began.
    d_autoencoder: bool = fields.field(False, "an auto-encoder discriminator")


@dataclasses.dataclass(frozen=True)
class ImageOptions(CommonOptions):
    # DCGAN's ngf / ndf; SNGAN's G / D width.
    g_channels: int = fields.field(64, "generator base width", fields.AT_LEAST_ONE)
    d_channels: int = fields.field(64, "discriminator base width", fields.AT_LEAST_ONE)


@dataclasses.dataclass(frozen=True)
class DcganOptions(SpectralNormOption, ImageOptions):
    # Gradient penalties need a critic without BatchNorm.
    d_norm: str = fields.field("batch", "discriminator normalisation",
                               fields.OneOf(dcgan.D_NORMS, "norms"))
    # False is pytorch/examples/dcgan, which has none.
    d_bias: bool = fields.field(True, "biases on D's layers not followed by BatchNorm")
    # How the 4x4 stride-2 (transposed) convolutions are computed
    # (gan_jax.models.strided_conv). All give the same numbers; auto picks the
    # fastest for the backend.
    upsample: str = fields.field("auto", "the generator's upsampling implementation",
                                 fields.OneOf(strided_conv.UPSAMPLE_IMPLEMENTATIONS,
                                              "implementations"))
    downsample: str = fields.field(
        "auto", "the discriminator's downsampling implementation",
        fields.OneOf(strided_conv.DOWNSAMPLE_IMPLEMENTATIONS, "implementations"))


@dataclasses.dataclass(frozen=True)
class SnganOptions(ImageOptions):
    pass


@dataclasses.dataclass(frozen=True)
class BigganOptions(ImageOptions):
    # BigGAN's shared class embedding is `label_embed_dim` wide (128 in the
    # paper); its widths are StudioGAN's g_conv_dim / d_conv_dim.
    # StudioGAN: 16 at 32x32, 64 at 128x128, in G and D alike.
    attention_resolution: int = fields.field(
        16, "side of the feature map that BigGAN's self-attention follows, "
        "0 = none", fields.NON_NEGATIVE)


@dataclasses.dataclass(frozen=True)
class ChannelRuleOptions(CommonOptions):
    # stylegan2-ada-pytorch's train.py: channel_base = fmaps * 32768
    # (cifar 32768; auto 16384 below 512 px), channel_max 512. Progressive
    # GAN's official code: min(8192 / 2^(log2(r) - 1), 512), channel_base 16384.
    channel_base: int = fields.field(32768, "StyleGAN2's and Progressive GAN's "
                                     "channels at resolution r are "
                                     "min(channel_base / r, channel_max)",
                                     fields.AT_LEAST_ONE)
    channel_max: int = fields.field(512, "StyleGAN2's and Progressive GAN's "
                                    "widest layer", fields.AT_LEAST_ONE)


@dataclasses.dataclass(frozen=True)
class Stylegan2Options(ChannelRuleOptions):
    # z's size is latent_dim (512 in every reference config). The
    # discriminator's minibatch stddev (its epilogue's, over groups of
    # d_minibatch_stddev_group, 0 = off) is the reference's layer.
    w_dim: int = fields.field(512, "size of StyleGAN2's style vectors w",
                              fields.AT_LEAST_ONE)
    mapping_layers: int = fields.field(8, "layers of StyleGAN2's mapping "
                                       "network (2 in its cifar and auto "
                                       "configs)", fields.AT_LEAST_ONE)
    conv_clamp: float = fields.field(256.0, "clamp of StyleGAN2's conv outputs, "
                                     "0 = none", fields.NON_NEGATIVE)
    # Karras et al. 2019, Sec. 3.1: 0.9 in the reference configs, 0 for cifar.
    style_mixing_prob: float = fields.field(
        0.0, "probability of style mixing in training", fields.UNIT_INTERVAL,
        example=0.9)
    g_architecture: str = fields.field(
        "skip", "StyleGAN2's generator architecture",
        fields.OneOf(stylegan2.ARCHITECTURES, "architectures"))
    # The reference's cifar config uses orig (no residual skips).
    d_architecture: str = fields.field(
        "resnet", "StyleGAN2's discriminator architecture",
        fields.OneOf(stylegan2.ARCHITECTURES, "architectures"))


@dataclasses.dataclass(frozen=True)
class ProgressiveOptions(ChannelRuleOptions):
    # Karras et al. 2018: stages 4x4, 8x8, ... up to the image size, each new
    # one faded in over `fade_steps` train steps, then trained for
    # `stable_steps` (the paper: 800k images each); the last stage trains on
    # to the end of the run. start_resolution = the image size: one stage,
    # the fixed-resolution network (gan_jax.game.growth).
    start_resolution: int = fields.field(
        4, "Progressive GAN's first stage's resolution (the image size: no "
        "growing)", fields.AT_LEAST_ONE, example=4)
    fade_steps: int = fields.field(
        1000, "Progressive GAN's train steps fading each new stage in",
        fields.NON_NEGATIVE)
    stable_steps: int = fields.field(
        1000, "Progressive GAN's train steps of each stage after its fade-in "
        "(and of the first stage)", fields.AT_LEAST_ONE)
    # The official code's reset_opt_for_new_lod (on by default there).
    stage_optimizer_reset: bool = fields.field(
        True, "Progressive GAN: Adam's moments reset where a fade-in starts "
        "and where it ends")


OPTIONS: dict[str, type[CommonOptions]] = {
    "mlp": MlpOptions, "dcgan": DcganOptions, "sngan": SnganOptions,
    "biggan": BigganOptions, "stylegan2": Stylegan2Options,
    "progressive": ProgressiveOptions}


def fill_options(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` (the `model` part) with every model's options at their defaults."""
    for options in OPTIONS.values():
        options.fill(config)
    return config


def read_options(config: ml_collections.ConfigDict, flag: str) -> CommonOptions:
    """The chosen model's options from `config` (the `model` part), checked,
    also across fields; `flag` is its path ("config.model").

    The checks across fields read the ConfigDict, which holds every model's
    options: an option the chosen model lacks (sngan's g_spectral_norm) is
    refused here, not silently dropped with the other models' options.
    """
    name = CommonOptions.read(config, flag).name
    _check_combinations(config)
    return OPTIONS[name].read(config, flag)


def _check_combinations(config: ml_collections.ConfigDict):
    """Raises ValueError, saying what to set, for options a model lacks."""
    if config.g_spectral_norm and config.name not in ("mlp", "dcgan"):
        # SNGAN's and StyleGAN2's generators are their papers'; BigGAN's is
        # spectrally normalised already.
        raise ValueError(f"--config.model.g_spectral_norm=True is implemented for "
                         f"the mlp and dcgan generators, not {config.name}'s. Set "
                         "--config.model.g_spectral_norm=False or "
                         "--config.model.name=dcgan (or mlp).")
    if config.name in ("stylegan2", "progressive") and config.d_minibatch_kernels:
        title = {"stylegan2": "StyleGAN2", "progressive": "Progressive GAN"}
        raise ValueError(f"{title[config.name]}'s discriminator has the minibatch "
                         "standard deviation (--config.model.d_minibatch_stddev_group), "
                         "not minibatch discrimination. Set "
                         "--config.model.d_minibatch_kernels=0.")
    if not config.d_autoencoder:
        return
    if config.name != "mlp":
        raise ValueError(f"--config.model.d_autoencoder=True (BEGAN's auto-encoder "
                         f"discriminator) exists only for model 'mlp', not "
                         f"{config.name!r}. Set "
                         f"--config.model.name=mlp or "
                         f"--config.model.d_autoencoder=False.")
    if (config.d_minibatch_stddev_group
            or config.d_minibatch_kernels):
        # Its output is a reconstruction error, with no final classifier
        # layer for the minibatch features to feed.
        raise ValueError("The auto-encoder discriminator "
                         "(--config.model.d_autoencoder=True) has no "
                         "minibatch layers. Set "
                         "--config.model.d_minibatch_stddev_group=0 and "
                         "--config.model.d_minibatch_kernels=0, or "
                         "--config.model.d_autoencoder=False.")


def create(options: CommonOptions, sample_shape: Sequence[int], *,
           aux_outputs: int = 0) -> tuple[nn.Module, nn.Module]:
    """Builds `(generator, discriminator)` for `options.name`.

    Args:
        options: The run's model options (`spec.model`, from `read_options`,
            which checked them).
        sample_shape: Shape of one sample, e.g. `(H, W, C)` for images.
        aux_outputs: > 0 gives the discriminator an auxiliary linear head
            "aux_head" on its sown "features"; its `(batch, aux_outputs)`
            output is sown as "aux_logits" (ACGAN class logits, InfoGAN's Q
            head). The discriminator still returns `(batch,)` logits.

    Raises:
        ValueError: For sizes the model cannot make, or an auxiliary head it
            cannot have; the message says which flag to set.
    """
    layers.check_discriminator_options(
        **_discriminator_options(options, aux_outputs))
    return MODELS[options.name](options, sample_shape, aux_outputs)


def frozen_discriminator_params(discriminator: nn.Module, num_blocks: int,
                                flag: str) -> tuple[str, ...]:
    """The top-level parameter names of `discriminator`'s first `num_blocks`
    blocks from the input: what FreezeD (Mo et al. 2020, "Freeze the
    Discriminator: a Simple Baseline for Fine-Tuning GANs") keeps fixed.

    Each discriminator declares its blocks in order (`blocks_from_input`);
    the layers after the last block (psi, the projection, the minibatch and
    auxiliary layers) are its head and always train.

    Raises:
        ValueError, naming `flag`: the discriminator declares no blocks, or
            has fewer than `num_blocks`.
    """
    if not num_blocks:
        return ()
    declared = getattr(discriminator, "blocks_from_input", None)
    if declared is None:
        raise ValueError(
            f"--{flag}={num_blocks}: the {type(discriminator).__name__} "
            "discriminator declares no blocks to freeze (FreezeD). Set "
            f"--{flag}=0, or use a model whose discriminator declares them "
            "(mlp without d_autoencoder, dcgan, sngan, biggan, stylegan2).")
    blocks = declared()
    if num_blocks > len(blocks):
        raise ValueError(
            f"--{flag}={num_blocks}: the {type(discriminator).__name__} of this "
            f"run has {len(blocks)} blocks before its head "
            f"({'; '.join(', '.join(block) for block in blocks)}). Set --{flag} "
            f"to at most {len(blocks)}, e.g. --{flag}={max(len(blocks) - 1, 1)}.")
    return tuple(name for block in blocks[:num_blocks] for name in block)
