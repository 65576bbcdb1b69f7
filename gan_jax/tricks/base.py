"""What a stabilisation trick declares: its config fields and its hooks.

A trick module ends with `TRICKS = (Trick(...), ...)`; `gan_jax.tricks.registry`
finds it, `gan_jax.defaults` writes its fields into the config, and
`gan_jax.game.objectives` and `gan_jax.game.steps` call its hooks. Its
fields are `gan_jax.fields` declarations in a plugin's shape (`Field`),
read and checked as every other config field is. Every hook is
optional (None: the trick does not act there) and is called only while the
trick is active, so a trick that is off leaves no operation in the traced
program.

Hooks receive `options` (`gan_jax.tricks.options.TrickOptions`: every
field's value as an attribute, the run's `Context`, the active tricks) and,
inside the objectives, a view of the phase (`DiscriminatorView`,
`GeneratorView`). Tricks compose in the order of `Trick.order`: that is the
order of the input transforms and of the sum of the loss terms, so a new
trick takes an unused number and leaves the others' arithmetic, and their
bits, unchanged.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import ml_collections

from gan_jax import fields


@dataclasses.dataclass(frozen=True)
class Field:
    """One config field a trick owns, `config.<section>.<name>`.

    The plugin's shape of a `gan_jax.fields` declaration: a trick declares
    its fields as a tuple beside its hooks rather than as a `fields.Section`
    dataclass, and its type is its default's (bool, int, float or str).
    `check` is any `fields.Check` (mostly a `fields.Range`), `parse` turns
    the checked value into the one the hooks read (e.g. an augmentation
    policy into a tuple of op names). `declared` is the same declaration a
    section's field has, and `read` goes through `fields.read_field`, so a
    trick's bad value is refused in the words of any other field's.
    """
    name: str
    default: bool | int | float | str
    doc: str
    check: fields.Check | None = None
    parse: Callable[[Any], Any] | None = None
    section: str = "tricks"
    # A valid value for error messages; None shows the default.
    example: Any = None

    @property
    def declared(self) -> fields.Declared:
        return fields.Declared(
            self.name, type(self.default),
            fields.Declaration(self.doc, self.check, self.example, self.parse),
            self.default)

    def path(self, root: str = "config") -> str:
        """Its flag without the dashes, e.g. "config.tricks.noise_std"."""
        return f"{root}.{self.section}.{self.name}"

    def read(self, config: ml_collections.ConfigDict, root: str = "config"):
        """The field's value in `config` (whose flag path is `root`),
        converted, checked and parsed."""
        return fields.read_field(self.declared, config[self.section][self.name],
                                 self.path(root))


class Context(NamedTuple):
    """The settings outside the tricks' own fields that their checks and
    hooks depend on, read once from the config."""
    loss_name: str
    label_smoothing: float
    num_classes: int
    latent_dim: int
    batch_size: int
    d_autoencoder: bool
    generator_reuses_fakes: bool
    model_name: str

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "Context":
        return cls(
            loss_name=config.loss.name,
            label_smoothing=float(config.loss.label_smoothing),
            num_classes=int(config.model.num_classes),
            latent_dim=int(config.model.latent_dim),
            batch_size=int(config.data.batch_size),
            d_autoencoder=bool(config.model.d_autoencoder),
            generator_reuses_fakes=bool(config.train.generator_reuses_fakes),
            model_name=str(config.model.name))


class DiscriminatorView(NamedTuple):
    """What the discriminator objective hands to a trick's hooks.

    `real_in`, `fake_in` are what D saw (after the tricks' input transforms);
    `prepare(x, side, per_sample_only=False)` repeats those transforms with
    the key of side "real" or "fake", and `regroup(x)` their batch-level
    part (packing); `critic(x)` is D with this step's statistics, for extra
    forward passes;
    `inputs` holds what the tricks' `discriminator_inputs` hooks added.
    """
    real: Any
    fake: Any
    real_in: Any
    fake_in: Any
    real_logits: Any
    fake_logits: Any
    real_sown: dict
    fake_sown: dict
    labels: Any
    key: Any
    step: Any
    tricks_state: dict
    critic: Callable
    prepare: Callable
    regroup: Callable
    inputs: dict


class GeneratorView(NamedTuple):
    """What the generator objective hands to a trick's hooks.

    `loss` is the adversarial loss after the tricks' `adversarial_loss`
    hooks; the logits and sown intermediates are filled in after D's passes
    (None before). `latents` and `generate(z)` are None when the objective is
    taken as a function of the fakes alone (`generator_on_fakes`).
    """
    real: Any
    fake: Any
    real_in: Any
    fake_in: Any
    labels: Any
    key: Any
    step: Any
    tricks_state: dict
    loss: Any
    d_state: Any
    inputs: dict
    latents: Any = None
    generate: Callable | None = None
    real_logits: Any = None
    fake_logits: Any = None
    real_sown: dict | None = None
    fake_sown: dict | None = None


class GeneratorRegularizerInputs(NamedTuple):
    """What a generator regulariser phase hands to its trick: the phase's
    `key`, the minibatch's `labels` (None if unconditional), its
    `batch_size` and the run's `latent_dim`."""
    key: Any
    labels: Any
    batch_size: int
    latent_dim: int


# The discriminator passes whose sown intermediates a trick may read.
PASSES = ("d_real", "d_fake", "g_real", "g_fake")


@dataclasses.dataclass(frozen=True)
class Trick:
    """A stabilisation trick, as `gan_jax.game.objectives` and
    `gan_jax.game.steps` use it.

    Declaration:
      name: registry key; title: how messages name it; order: its place in
        the composition (see the module docstring); fields: its config block.
      is_active(options): whether this run uses it.
      check(options): refuses bad combinations with the fix; called for
        every registered trick, active or not (so that a trick can refuse
        settings that only make sense with it on).
    Model and steps:
      aux_outputs(options): outputs it needs on D's auxiliary head (its
        slice follows those of the tricks before it).
      captures: the passes (`PASSES`) whose sown intermediates it reads.
      latent_categories(options): one-hot code entries at the start of z.
      discriminator_inputs(latents, latent_key, generate, options) and
        generator_inputs(latents, options): extra inputs of the objectives.
      generator_draws(options): whether its generator hooks draw randomness.
      reruns_generator(options): whether `generator_pass_terms` applies.
    Running state (in `GANState.tricks`, checkpointed):
      init_state(options) -> entries; update_state(tricks_state, signals,
        options) -> (changed entries, metrics), after every D step.
    Objectives:
      prepare_sample(x, key, step, tricks_state, options): transforms each
        D input sample; prepare_batch(x, options): regroups D's inputs.
      adversarial_loss(loss, tricks_state, options): replaces the GAN loss.
      discriminator_adversarial(view, options): added to D's adversarial term.
      discriminator_terms(view, options) -> {name: (weight, value)}.
      discriminator_metrics(view, options) -> {name: value}.
      generator_params(view, options): the D parameters G is scored by.
      generator_adversarial(view, options, current) -> (value, metrics):
        replaces G's adversarial term (`current` is None: the loss's own).
      generator_terms(view, options) -> {name: (weight, value)}.
      generator_pass_terms(view, options): terms that run G again, summed last.
      generator_weight_terms(g_params, options) -> {name: (weight, value)}:
        terms of G's parameters alone (BigGAN's orthogonal regularisation),
        whose gradient is added to the generator step's, however that step
        scores its samples.
    A generator regulariser of its own phase (StyleGAN2's path length),
    run after every `regularizer_interval(options)`-th train step:
      generator_regularizer(g_params, g_state, inputs, tricks_state,
        options) -> (loss, (changed entries of the running state, metrics)),
        `inputs` a `GeneratorRegularizerInputs`.
    """
    name: str
    title: str
    order: int
    fields: tuple[Field, ...]
    is_active: Callable
    check: Callable | None = None
    aux_outputs: Callable | None = None
    captures: tuple[str, ...] = ()
    latent_categories: Callable | None = None
    discriminator_inputs: Callable | None = None
    generator_inputs: Callable | None = None
    generator_draws: Callable | None = None
    reruns_generator: Callable | None = None
    init_state: Callable | None = None
    update_state: Callable | None = None
    prepare_sample: Callable | None = None
    prepare_batch: Callable | None = None
    adversarial_loss: Callable | None = None
    discriminator_adversarial: Callable | None = None
    discriminator_terms: Callable | None = None
    discriminator_metrics: Callable | None = None
    generator_params: Callable | None = None
    generator_adversarial: Callable | None = None
    generator_terms: Callable | None = None
    generator_pass_terms: Callable | None = None
    generator_weight_terms: Callable | None = None
    generator_regularizer: Callable | None = None
    regularizer_interval: Callable | None = None

    def __post_init__(self):
        unknown = set(self.captures) - set(PASSES)
        if unknown:
            raise ValueError(f"Trick {self.name!r} captures unknown passes "
                             f"{sorted(unknown)}; valid: {', '.join(PASSES)}.")


def require(condition: bool, message: str) -> None:
    """A check's refusal: `message` says what to set."""
    if not condition:
        raise ValueError(message)
