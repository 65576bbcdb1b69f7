"""Multi-layer perceptrons for low-dimensional data such as the 2-D mixtures.

The toy-benchmark networks of the Unrolled GAN / VEEGAN / PacGAN papers: a few
fully-connected ReLU layers on each side. Options (all off by default, and
then the networks are exactly the plain ones): spectral normalisation of the
generator, the minibatch layers and an auxiliary head in the discriminator
(see `layers`), and BEGAN's auto-encoder discriminator.
"""

from collections.abc import Sequence
import math

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models import layers

# Hidden nonlinearities of the MLPs. "relu" is ReLU in the generator and
# leaky ReLU (slope 0.2) in the discriminator; "tanh" is tanh on both sides,
# the networks of Metz et al.'s 2-D experiments (the authors' notebook).
ACTIVATIONS = ("relu", "tanh")


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown MLP activation {name!r}. Valid: "
                         f"{', '.join(ACTIVATIONS)}. Set --config.model.mlp_activation.")


def _kernel_init(orthogonal_gain: float):
    # 0 keeps Flax's default (LeCun normal) so the plain networks stay exact.
    if orthogonal_gain:
        return nn.initializers.orthogonal(scale=orthogonal_gain)
    return nn.linear.default_kernel_init


class MLPGenerator(nn.Module):
    """Maps latents `(batch, latent_dim)` to samples `(batch, *sample_shape)`.

    Attributes:
        sample_shape: Shape of one sample.
        hidden_dim: Width of the hidden layers.
        num_layers: Number of hidden layers.
        activation: One of `ACTIVATIONS`.
        orthogonal_gain: > 0 initialises every kernel orthogonally with this
            gain (Metz et al. use 1.4); 0 keeps Flax's LeCun normal.
        spectral_norm: Spectrally normalise every Dense layer (Zhang et al.
            2019, "Self-Attention GANs", Sec. 4.1: W / sigma(W), one power
            iteration per call, its state in `batch_stats`, moving only with
            train=True).
        dtype: Computation dtype; parameters stay float32.
    """

    sample_shape: Sequence[int]
    hidden_dim: int = 128
    num_layers: int = 3
    activation: str = "relu"
    orthogonal_gain: float = 0.0
    spectral_norm: bool = False
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        check_activation(self.activation)

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        del labels  # Unconditional.

        def dense(features, h):
            # `train` only moves the power iteration; nothing else differs.
            return layers.maybe_spectral_norm(
                nn.Dense(features, kernel_init=_kernel_init(self.orthogonal_gain),
                         dtype=self.dtype),
                h, train=train, enabled=self.spectral_norm)

        hidden = nn.relu if self.activation == "relu" else jnp.tanh
        x = jnp.asarray(z, self.dtype)
        for _ in range(self.num_layers):
            x = hidden(dense(self.hidden_dim, x))
        x = dense(math.prod(self.sample_shape), x)
        # Samples leave the network in float32 whatever the compute dtype.
        return x.reshape((x.shape[0], *self.sample_shape)).astype(jnp.float32)


class MLPDiscriminator(nn.Module):
    """Maps samples `(batch, ...)` to one raw logit per sample, shape `(batch,)`.

    Sows the last hidden layer's activations as "features" (the input itself
    when `num_layers == 0`).

    Attributes:
        hidden_dim: Width of the hidden layers.
        num_layers: Number of hidden layers.
        activation: One of `ACTIVATIONS` ("relu" means leaky ReLU here).
        orthogonal_gain: As for `MLPGenerator`.
        aux_outputs: > 0 adds a linear head "aux_head" on the features whose
            `(batch, aux_outputs)` output is sown as "aux_logits".
        minibatch_stddev_group: > 0 appends the minibatch standard deviation
            (Karras et al. 2018) over groups of this size to the features
            before the final Dense layer.
        minibatch_kernels: > 0 appends minibatch discrimination (Salimans et
            al. 2016) with this many kernels of size `minibatch_kernel_dim`
            before the final Dense layer (after the standard deviation).
        minibatch_kernel_dim: See `minibatch_kernels`.
        dtype: Computation dtype; parameters stay float32.
    """

    hidden_dim: int = 128
    num_layers: int = 3
    activation: str = "relu"
    orthogonal_gain: float = 0.0
    aux_outputs: int = 0
    minibatch_stddev_group: int = 0
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        check_activation(self.activation)
        layers.check_discriminator_options(
            aux_outputs=self.aux_outputs,
            minibatch_stddev_group=self.minibatch_stddev_group,
            minibatch_kernels=self.minibatch_kernels,
            minibatch_kernel_dim=self.minibatch_kernel_dim)

    def blocks_from_input(self) -> tuple[tuple[str, ...], ...]:
        """Each hidden Dense layer, from the input (FreezeD's blocks); the
        minibatch layers and the output layer are the head."""
        return tuple((f"Dense_{i}",) for i in range(self.num_layers))

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        del labels
        init = _kernel_init(self.orthogonal_gain)
        x = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
        for _ in range(self.num_layers):
            x = nn.Dense(self.hidden_dim, kernel_init=init, dtype=self.dtype)(x)
            x = nn.leaky_relu(x, 0.2) if self.activation == "relu" else jnp.tanh(x)
        # Sown before the minibatch layers, so that they stay per-sample.
        self.sow("intermediates", "features", x)
        layers.aux_head(self, x, self.aux_outputs, train=train, dtype=self.dtype)
        h = layers.minibatch_features(
            x, stddev_group=self.minibatch_stddev_group,
            kernels=self.minibatch_kernels, kernel_dim=self.minibatch_kernel_dim,
            train=train, dtype=self.dtype)
        return nn.Dense(1, kernel_init=init, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


class MLPAutoencoderDiscriminator(nn.Module):
    """BEGAN's auto-encoder discriminator as MLPs: samples `(batch, ...)` ->
    energies `(batch,)`, float32.

    Berthelot et al. 2017, "BEGAN: Boundary Equilibrium Generative Adversarial
    Networks", Sec. 3: the discriminator is an auto-encoder and its output is
    the per-sample L1 reconstruction error (their eq. 1 with eta = 1), here
    averaged over features:

        energy(x) = mean_f |x_f - decoder(encoder(x))_f|.

    Encoder: `num_layers` ELU layers of `hidden_dim` (the paper's
    nonlinearity) and a linear layer to the code h in R^code_dim; decoder: the
    mirror image, `num_layers` ELU layers and a linear layer back to the
    flattened input size, with no output nonlinearity, as in the paper. The
    code is sown as "features" (and feeds `aux_outputs`' head). The energy is
    not a logit: it needs BEGAN's loss (`loss.name = began`).

    Attributes:
        hidden_dim: Width of the hidden layers.
        num_layers: Number of hidden layers in the encoder and in the decoder.
        code_dim: Size of the bottleneck code (the paper's N_h = N_z).
        aux_outputs: > 0 adds a linear head "aux_head" on the code, sown as
            "aux_logits".
        dtype: Computation dtype; parameters stay float32.
    """

    hidden_dim: int = 128
    num_layers: int = 3
    code_dim: int = 16
    aux_outputs: int = 0
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        layers.check_discriminator_options(aux_outputs=self.aux_outputs)
        if self.code_dim < 1:
            raise ValueError(f"The auto-encoder discriminator's code size is "
                             f"latent_dim, which must be >= 1, got {self.code_dim}. "
                             f"Set --config.model.latent_dim.")

    @nn.compact
    def __call__(self, x, labels=None, train: bool = False):
        del labels
        inputs = jnp.asarray(x, self.dtype).reshape((x.shape[0], -1))
        h = inputs
        for i in range(self.num_layers):
            h = nn.elu(nn.Dense(self.hidden_dim, dtype=self.dtype,
                                name=f"encoder_{i}")(h))
        code = nn.Dense(self.code_dim, dtype=self.dtype, name="code")(h)
        self.sow("intermediates", "features", code)
        layers.aux_head(self, code, self.aux_outputs, train=train, dtype=self.dtype)
        h = code
        for i in range(self.num_layers):
            h = nn.elu(nn.Dense(self.hidden_dim, dtype=self.dtype,
                                name=f"decoder_{i}")(h))
        reconstruction = nn.Dense(inputs.shape[-1], dtype=self.dtype,
                                  name="reconstruction")(h)
        # float32 whatever the compute dtype: BEGAN's equilibrium term
        # compares small differences of these energies.
        error = jnp.abs(inputs.astype(jnp.float32) - reconstruction.astype(jnp.float32))
        return jnp.mean(error, axis=-1)
