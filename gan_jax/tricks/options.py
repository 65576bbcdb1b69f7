"""The tricks of one run, read once from the config and checked.

`TrickOptions` holds plain Python values, so the objectives that close over
them compile to a program without a trace of the tricks that are off. Each
field a trick declares is an attribute (`options.noise_std`), whatever its
config section.
"""

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.tricks import registry
from gan_jax.tricks.base import Context
from gan_jax.tricks.base import Trick


class TrickOptions:
    """Every declared field's value, the run's `Context` and the active
    tricks in composition order. Immutable and hashable."""

    __slots__ = ("_values", "context", "active")

    def __init__(self, values: dict, context: Context, active: tuple[Trick, ...]):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "context", context)
        object.__setattr__(self, "active", tuple(active))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"No trick declares a field {name!r}. Fields: "
                                 f"{', '.join(sorted(self._values))}.") from None

    def __setattr__(self, name, value):
        raise AttributeError("TrickOptions are immutable.")

    def _key(self):
        return (tuple(sorted(self._values.items())), self.context,
                tuple(t.name for t in self.active))

    def __eq__(self, other):
        return isinstance(other, TrickOptions) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def to_dict(self) -> dict:
        """Every declared field's value, by field name."""
        return dict(self._values)

    def __repr__(self):
        return f"TrickOptions(active={[t.name for t in self.active]})"

    def is_on(self, name: str) -> bool:
        registry.get(name)  # An unknown name is an error, not "off".
        return any(t.name == name for t in self.active)

    def with_hook(self, hook: str) -> tuple[Trick, ...]:
        """The active tricks that define `hook`, in composition order."""
        return tuple(t for t in self.active if getattr(t, hook) is not None)

    @property
    def aux_outputs(self) -> int:
        """Outputs of the discriminator's auxiliary head (0: no head)."""
        return sum(t.aux_outputs(self) for t in self.with_hook("aux_outputs"))

    def aux_logits(self, sown: dict, name: str) -> jax.Array:
        """Trick `name`'s slice of the auxiliary head's sown "aux_logits":
        the tricks' slices follow each other in composition order."""
        start = 0
        for trick in self.with_hook("aux_outputs"):
            size = trick.aux_outputs(self)
            if trick.name == name:
                return sown["aux_logits"][:, start:start + size]
            start += size
        raise KeyError(f"Trick {name!r} has no slice of the auxiliary head.")

    def captures(self, phase_pass: str) -> bool:
        """Whether D's pass `phase_pass` (`base.PASSES`) must sow its
        intermediates for an active trick."""
        return any(phase_pass in t.captures for t in self.active)

    @property
    def latent_categories(self) -> int:
        """One-hot code entries at the start of each latent (InfoGAN)."""
        return sum(t.latent_categories(self)
                   for t in self.with_hook("latent_categories"))

    def generator_draws(self) -> tuple[Trick, ...]:
        """The active tricks whose generator hooks draw randomness."""
        return tuple(t for t in self.with_hook("generator_draws")
                     if t.generator_draws(self))


def from_config(config: ml_collections.ConfigDict, flag: str = "config") -> TrickOptions:
    """The run's `TrickOptions`; a bad value or combination fails with the fix.

    `flag` is the config's path in messages ("config.experiment" in an
    ablation). Each field is read by `gan_jax.fields.read_field`, as every
    field of the spec is.
    """
    values = {f.name: f.read(config, flag) for f in registry.fields()}
    context = Context.from_config(config)
    candidates = TrickOptions(values, context, ())
    options = TrickOptions(values, context, tuple(
        t for t in registry.tricks() if t.is_active(candidates)))
    for trick in registry.tricks():
        if trick.check is not None:
            trick.check(options)
    return options


def initial_state(options: TrickOptions) -> dict:
    """The running statistics the active tricks keep in the state."""
    state = {}
    for trick in options.with_hook("init_state"):
        state.update(trick.init_state(options))
    return state


def update_state(options: TrickOptions, state: dict,
                 signals: dict[str, jax.Array]) -> tuple[dict, dict[str, jax.Array]]:
    """Moves the running statistics after a discriminator step.

    `signals` are that step's discriminator outputs: "real" and "fake" logits
    (energies for BEGAN). Returns the new statistics and metrics to log.
    """
    state, metrics = dict(state), {}
    for trick in options.with_hook("update_state"):
        changed, trick_metrics = trick.update_state(state, signals, options)
        state.update(changed)
        metrics.update(trick_metrics)
    return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
