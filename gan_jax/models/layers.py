"""Pieces shared by the GANs: initialisers, label handling, projection, and the
optional stabilisation layers.

Conditioning follows Mirza & Osindero 2014 ("Conditional Generative
Adversarial Nets") for the generator and the label-concatenating
discriminator, and Miyato & Koyama 2018 ("cGANs with Projection
Discriminator") for the projection discriminator.

The discriminator options (all off by default) sit between the penultimate
features, which every discriminator sows as "features", and its last layer:
the minibatch standard deviation (Karras et al. 2018), then minibatch
discrimination (Salimans et al. 2016), so that the sown features stay
per-sample. An auxiliary linear head (ACGAN's class logits, InfoGAN's Q) reads
the same sown features and sows its output as "aux_logits".
"""

from collections.abc import Sequence
import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import strided_conv

D_CONDITIONINGS = ("concat", "projection")

# Radford et al. 2016, Sec. 4: "All weights were initialized from a zero-centered
# Normal distribution with standard deviation 0.02."
dcgan_kernel_init = nn.initializers.normal(stddev=0.02)


def dcgan_bn_scale_init(key, shape, dtype=jnp.float32):
    """BatchNorm scale ~ N(1, 0.02), as in the DCGAN reference code."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def glorot_uniform(gain: float = 1.0) -> nn.initializers.Initializer:
    """Chainer's `GlorotUniform(gain)`, the initialiser of the SNGAN code.

    The gain multiplies the bound, so it enters the variance squared.
    """
    return nn.initializers.variance_scaling(gain**2, "fan_avg", "uniform")


def check_image_shape(sample_shape: Sequence[int], supported_sizes: Sequence[int],
                model_name: str) -> tuple[int, int, int]:
    """Validates a square `(H, W, C)` sample shape against `supported_sizes`."""
    shape = tuple(int(d) for d in sample_shape)
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"{model_name} needs square (H, W, C) images, got sample "
                         f"shape {shape}. For 2-D points (the toy mixtures) use "
                         "--config.model.name=mlp; for images of other shapes "
                         "set --config.data.image_size (and "
                         "--config.data.center_crop=True).")
    if shape[0] not in supported_sizes:
        raise ValueError(f"{model_name} does not support {shape[0]}x{shape[0]} "
                         f"images. Supported sizes: "
                         f"{', '.join(str(s) for s in supported_sizes)}; set "
                         "--config.data.image_size to one of them.")
    return shape


def check_conditioning(conditioning: str):
    """Raises ValueError, listing the valid ones, for an unknown conditioning."""
    if conditioning not in D_CONDITIONINGS:
        raise ValueError(f"Unknown discriminator conditioning {conditioning!r}. "
                         f"Valid: {', '.join(D_CONDITIONINGS)}. Set "
                         f"--config.model.d_conditioning.")


def class_labels(labels, num_classes: int):
    """Labels as int32 `(batch,)` for a conditional model, None otherwise.

    Unconditional models ignore labels, so one initialisation call (which
    always passes labels) serves both kinds.
    """
    if num_classes == 0:
        return None
    if labels is None:
        raise ValueError(f"This model is conditional (num_classes={num_classes}) "
                         "and needs `labels`; set num_classes=0 for an "
                         "unconditional model.")
    return jnp.asarray(labels, jnp.int32).reshape(-1)


def concat_label_maps(x, labels, num_classes: int):
    """Joins one-hot label maps `(B, H, W, num_classes)` to the channels of `x`."""
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)
    maps = jnp.broadcast_to(one_hot[:, None, None, :],
                            (*x.shape[:-1], num_classes))
    return jnp.concatenate([x, maps], axis=-1)


class LatentLabelEmbedding(nn.Module):
    """`concat(z, embed(y))`: the conditional generator input of Mirza & Osindero.

    The embedding keeps Flax's default unit-scale init so that the label
    part of the input starts on the same scale as z ~ N(0, I).
    """

    num_classes: int
    embed_dim: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, labels):
        embedded = nn.Embed(self.num_classes, self.embed_dim, dtype=self.dtype,
                            name="label_embedding")(labels)
        return jnp.concatenate([jnp.asarray(z, self.dtype), embedded], axis=-1)


class ProjectionHead(nn.Module):
    """The class term `<embed(y), h>` of the projection discriminator.

    Miyato & Koyama 2018, eq. (3): logit = psi(h) + <embed(y), h>; the caller
    adds psi(h). With `spectral_norm` the embedding matrix is spectrally
    normalised, as in the paper's SNGAN discriminators.
    """

    num_classes: int
    embedding_init: nn.initializers.Initializer
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, h, labels, train: bool = False):
        embed = nn.Embed(self.num_classes, h.shape[-1], dtype=self.dtype,
                         embedding_init=self.embedding_init,
                         name="class_embedding")
        if self.spectral_norm:
            embedded = nn.SpectralNorm(embed)(labels, update_stats=train)
        else:
            embedded = embed(labels)
        return jnp.sum(embedded * h, axis=-1)


def spectral_norm(layer: nn.Module, x, train: bool):
    """Applies `layer` with its kernel divided by its top singular value.

    Miyato et al. 2018, "Spectral Normalization for GANs": one power iteration
    per call, whose vector `u` (and the estimate `sigma`) lives in the
    `batch_stats` collection and only moves in training mode.
    """
    return nn.SpectralNorm(layer)(x, update_stats=train)


def maybe_spectral_norm(layer: nn.Module, x, *, train: bool, enabled: bool):
    """`spectral_norm(layer, x, train)` when `enabled`, else plain `layer(x)`.

    With `enabled=False` no wrapper module is created, so the variables are
    exactly those of the bare layer. With it, the parameters keep their paths
    and shapes (the wrapper reads the layer's variables through
    `map_variables`) and the power-iteration state appears under
    `batch_stats/SpectralNorm_k`; Flax stores the kernel its init call
    normalised, so initial kernels differ from the bare layer's by a scale.
    """
    if enabled:
        return spectral_norm(layer, x, train)
    return layer(x)


def _check_size(value, flag: str, minimum: int):
    # bool is an Integral; `True` as a size is almost certainly a typo.
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < minimum):
        off = " (0 = off)" if minimum == 0 else ""
        raise ValueError(f"{flag} must be an integer >= {minimum}{off}, got "
                         f"{value!r}. Set --config.model.{flag}.")


def check_discriminator_options(*, aux_outputs: int = 0,
                                minibatch_stddev_group: int = 0,
                                minibatch_kernels: int = 0,
                                minibatch_kernel_dim: int = 5):
    """Raises ValueError, naming the config field to set, for bad sizes."""
    if (isinstance(aux_outputs, bool) or not isinstance(aux_outputs, numbers.Integral)
            or aux_outputs < 0):
        raise ValueError(f"aux_outputs must be an integer >= 0 (0 = no auxiliary "
                         f"head), got {aux_outputs!r}; it is the number of class "
                         f"logits (ACGAN) or latent-code outputs (InfoGAN) passed "
                         f"to models.create.")
    _check_size(minibatch_stddev_group, "d_minibatch_stddev_group", 0)
    _check_size(minibatch_kernels, "d_minibatch_kernels", 0)
    if minibatch_kernels:
        _check_size(minibatch_kernel_dim, "d_minibatch_kernel_dim", 1)


def aux_head(module: nn.Module, features, num_outputs: int, *, train: bool,
             kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init,
             spectral_norm: bool = False, dtype: jnp.dtype = jnp.float32):
    """Sows `Dense(num_outputs)(features)` as `module`'s "aux_logits".

    The auxiliary classifier of ACGAN (Odena et al. 2017, "Conditional Image
    Synthesis with Auxiliary Classifier GANs": class logits log Q(c | x)) or
    the Q head of InfoGAN (Chen et al. 2016), sharing every layer of the
    discriminator but the last. Must be called from inside `module`'s compact
    method; with `num_outputs == 0` it creates nothing, so the discriminator's
    variables are unchanged.
    """
    if num_outputs == 0:
        return
    layer = nn.Dense(num_outputs, kernel_init=kernel_init, dtype=dtype,
                     name="aux_head")
    logits = maybe_spectral_norm(layer, features, train=train,
                                 enabled=spectral_norm)
    # float32 like the main logits, so the auxiliary loss is computed precisely.
    module.sow("intermediates", "aux_logits", logits.astype(jnp.float32))


class MinibatchStdDev(nn.Module):
    """Appends the minibatch standard deviation as one extra feature/channel.

    Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
    Stability, and Variation", Sec. 3: with G = min(group_size, batch) and the
    batch split into batch / G groups,

        s_g = mean over features f of sqrt(Var_{i in g}[x_{i, f}] + 1e-8),

    the (biased) variance taken over the G samples of group g, separately for
    every feature (every pixel and channel of an NHWC map). Sample i gets s_g of
    its own group as an extra last-axis entry: one extra column for `(B, F)`
    input, a constant one-channel map for `(B, H, W, C)`. As in the official
    code (which reshapes the batch to `(G, batch / G, ...)`), sample i belongs
    to group i mod (batch / G), so each group takes one sample from every
    contiguous block of batch / G samples.

    The statistic is computed in float32 and cast back to the input dtype.
    """

    group_size: int
    epsilon: float = 1e-8

    def __call__(self, x):
        if self.group_size < 1:
            raise ValueError(f"MinibatchStdDev needs group_size >= 1, got "
                             f"{self.group_size}. Set "
                             f"--config.model.d_minibatch_stddev_group (0 = off).")
        batch = x.shape[0]
        group = min(self.group_size, batch)
        if batch % group:
            raise ValueError(
                f"The minibatch standard deviation splits the batch into groups "
                f"of {group}, but the batch size {batch} is not divisible by it. "
                f"Set --config.model.d_minibatch_stddev_group to a divisor of "
                f"every batch size the discriminator sees (or 0 to turn it off).")
        grouped = jnp.asarray(x, jnp.float32).reshape((group, batch // group, -1))
        std = jnp.sqrt(jnp.var(grouped, axis=0) + self.epsilon)  # (M, features)
        std = jnp.mean(std, axis=-1)  # One scalar per group, shape (M,).
        # Sample i = g * M + m lies in group m = i mod M.
        per_sample = jnp.tile(std, group).reshape((batch,) + (1,) * (x.ndim - 1))
        column = jnp.broadcast_to(per_sample, (*x.shape[:-1], 1)).astype(x.dtype)
        return jnp.concatenate([x, column], axis=-1)


# The initialiser of the paper's code (improved-gan, nn.py: MinibatchLayer).
minibatch_kernel_init = nn.initializers.normal(stddev=0.05)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination: `(B, A)` -> `(B, A + num_kernels)`.

    Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 3.2:
    the features f(x_i) in R^A are multiplied by a tensor T in
    R^{A x num_kernels x kernel_dim} (stored as the `(A, num_kernels *
    kernel_dim)` matrix "kernel", so spectral normalisation can treat it like
    a Dense kernel) to give M_i in R^{num_kernels x kernel_dim}; then

        c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_L1),
        o(x_i)_b = sum_{j != i} c_b(x_i, x_j),

    and the layer returns `concat(f(x_i), o(x_i))`. The sum leaves out j = i,
    as the paper's code does (it adds 1e6 to the diagonal distances); keeping
    it would only add the constant 1. That code's bias and weight-norm
    parameterisation of T are left out. The L1 distances and exponentials
    are computed in float32.
    """

    num_kernels: int
    kernel_dim: int = 5
    kernel_init: nn.initializers.Initializer = minibatch_kernel_init
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, features):
        features = jnp.asarray(features, self.dtype)
        batch, width = features.shape
        kernel = self.param("kernel", self.kernel_init,
                            (width, self.num_kernels * self.kernel_dim), jnp.float32)
        m = jnp.dot(features, jnp.asarray(kernel, self.dtype))
        m = m.astype(jnp.float32).reshape((batch, self.num_kernels, self.kernel_dim))
        l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # (B, B, kernels)
        others = 1.0 - jnp.eye(batch, dtype=jnp.float32)
        o = jnp.sum(jnp.exp(-l1) * others[:, :, None], axis=1)
        return jnp.concatenate([features, o.astype(self.dtype)], axis=-1)


def minibatch_features(h, *, stddev_group: int, kernels: int, kernel_dim: int,
                       train: bool, spectral_norm: bool = False,
                       dtype: jnp.dtype = jnp.float32):
    """The optional minibatch layers on flat features `(B, A)`, in order:
    `MinibatchStdDev` (one extra column), then `MinibatchDiscrimination` (which
    sees that column too), each skipped when its size is 0.

    Call from inside a compact method; the layers are named "minibatch_stddev"
    and "minibatch_discrimination". `spectral_norm` normalises T, for
    discriminators whose every linear map is spectrally normalised.
    """
    if stddev_group:
        h = MinibatchStdDev(stddev_group, name="minibatch_stddev")(h)
    if kernels:
        layer = MinibatchDiscrimination(kernels, kernel_dim, dtype=dtype,
                                        name="minibatch_discrimination")
        h = maybe_spectral_norm(layer, h, train=train, enabled=spectral_norm)
    return h


class DoublingConvTranspose(nn.Module):
    """A 4x4 stride-2 transposed convolution that doubles the resolution:
    PyTorch's `ConvTranspose2d(k=4, s=2, p=1)`, Flax's `ConvTranspose` with
    padding (2, 2) and the same `kernel` parameter.

    `implementation` picks how it is computed (`strided_conv`); all give the
    same numbers, and `auto` the fastest for the backend.
    """

    features: int
    use_bias: bool = False
    kernel_init: nn.initializers.Initializer = dcgan_kernel_init
    implementation: str = "auto"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        strided_conv.resolve_upsample(self.implementation)  # Fails before init on a typo.
        kernel = self.param("kernel", self.kernel_init,
                            (4, 4, x.shape[-1], self.features), jnp.float32)
        x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
        y = strided_conv.doubling_conv_transpose(x, kernel, self.implementation)
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,),
                              jnp.float32)
            y = y + jnp.asarray(bias, self.dtype)
        return y
