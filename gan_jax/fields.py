"""How a config field is declared, and how a declared value is read.

Every config field of the library is one `Declared`: a name, a type, a
default and a `Declaration` (one-line meaning, a `Check` such as a `Range`
or `OneOf`, an example value, and an optional `parse` into the value the
code reads). It is written in one of two shapes, for two kinds of owner:

- a section of a spec is a frozen dataclass deriving from `Section`, each
  field declared with `field(default, doc, check)` (the type is the
  annotation);
- a stabilisation trick declares its fields as a tuple beside its hooks
  (`gan_jax.tricks.base.Field`, the type is the default's), which it hands
  to this module as a `Declared`.

Either way a value is read by `read_field(declared, value, flag)`, the one
place that converts it, checks it and refuses it with one paragraph naming
the flag, the problem, a valid value and the meaning, e.g.

    --config.optim.g_lr=-1.0 must be > 0, e.g. 0.002 (the generator's Adam
    learning rate).

Cross-field checks raise their own ValueError, in the same form: the
flags to set, with `--`, and a valid value.

This module knows nothing of GANs: it is imported by the modules that
declare fields (gan_jax.models, gan_jax.run.gan_spec, gan_jax.tricks, ...),
so it imports none.
"""

import dataclasses
import difflib
import math
import typing
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections
from ml_collections import config_dict

# The dataclass metadata keys of a declared field and of a nested section.
_SPEC = "gan_jax.fields"
_SECTION = "gan_jax.fields.section"


class Check:
    """A constraint on one field's value beyond its type."""

    def problem(self, value: Any, flag: str) -> str | None:
        """None if `value` is valid, else the sentence saying so."""
        raise NotImplementedError

    def describe(self) -> str:
        """The valid values in a few words, for listings ("" if none fit)."""
        return ""


@dataclasses.dataclass(frozen=True)
class Range(Check):
    """A finite number within bounds; `open` bounds exclude themselves."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """">= 0", "> 0", "in [0, 1)", ...: the bound's symbol says whether
        it is open, the same way for one bound and for two."""
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return "finite"

    def __contains__(self, value) -> bool:
        # Every comparison with NaN is False, and infinities are refused
        # even by an unbounded side: no range holds a non-finite value.
        above = self.low is None or (value > self.low if self.low_open
                                     else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open
                                      else value <= self.high)
        return bool(above and below and math.isfinite(value))

    def problem(self, value, flag):
        if not math.isfinite(value):
            return f"--{flag}={value!r} must be a finite number {self.describe()}"
        if value not in self:
            return f"--{flag}={value!r} must be {self.describe()}"
        return None


# The ranges most fields have.
POSITIVE = Range(low=0, low_open=True)  # Learning rates, scales.
NON_NEGATIVE = Range(low=0)  # Weights (0 = off), counts that may be 0.
AT_LEAST_ONE = Range(low=1)  # Intervals, batch sizes, multiplicities.
UNIT_INTERVAL = Range(low=0, high=1, high_open=True)  # Betas, decays.
PROBABILITY = Range(low=0, high=1)


@dataclasses.dataclass(frozen=True)
class OneOf(Check):
    """A name from a registry; `noun` says what the names are ("losses")."""
    names: Sequence[str]
    noun: str = ""

    def problem(self, value, flag):
        if value in self.names:
            return None
        return (f"Unknown --{flag}={value!r}. Valid{' ' + self.noun if self.noun else ''}"
                f": {', '.join(self.names)}. Set --{flag} to one of them")

    def describe(self):
        return f"one of {', '.join(self.names)}"


@dataclasses.dataclass(frozen=True)
class EachOf(Check):
    """A sequence of names, each from a registry."""
    names: Sequence[str]
    noun: str = ""

    def problem(self, value, flag):
        unknown = [name for name in value if name not in self.names]
        if not unknown:
            return None
        return (f"--{flag} names unknown {self.noun or 'entries'} "
                f"{', '.join(map(repr, unknown))}. Valid {self.noun or 'entries'}: "
                f"{', '.join(self.names)}. Set --{flag} to a list of them")

    def describe(self):
        return f"each of {', '.join(self.names)}"


@dataclasses.dataclass(frozen=True)
class Satisfies(Check):
    """Any other rule: `rule(value)` is None when valid, else what it must be."""
    rule: Callable[[Any], str | None]

    def problem(self, value, flag):
        must = self.rule(value)
        return None if must is None else f"--{flag}={value!r} must be {must}"


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What a field is, beside its name and type (the dataclass has those)."""
    doc: str
    check: Check | None = None
    # A valid value for error messages; None shows the default.
    example: Any = None
    # Turns the checked config value into the value the code reads (e.g. a
    # comma-separated string into a tuple of names); None keeps it.
    parse: Callable[[Any], Any] | None = None


def field(default: Any = dataclasses.MISSING, doc: str = "", check: Check | None = None,
          *, example: Any = None, default_factory: Callable[[], Any] | None = None):
    """Declares one config field: its default, one-line meaning and range."""
    metadata = {_SPEC: Declaration(doc, check, example)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section():
    """A nested section of the spec: built by the spec's builder (it may be
    another owner's, such as the tricks' options), not read field by field."""
    return dataclasses.field(kw_only=True, metadata={_SECTION: True})


@dataclasses.dataclass(frozen=True)
class Declared:
    """One declared field, whoever owns it: what `read_field` reads."""
    name: str
    type: Any  # int, float, bool, str, X | None or tuple[str, ...].
    declaration: Declaration
    default: Any  # Resolved (a factory called).

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.type)

    @property
    def base_type(self) -> type:
        """The type without `| None`; `tuple` for tuple[str, ...]."""
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        inner = args[0] if self.optional else self.type
        return typing.get_origin(inner) or inner


def _type_name(declared: Declared) -> str:
    if declared.base_type is tuple:
        args = [a for a in typing.get_args(declared.type) if a is not type(None)]
        inner = typing.get_args(args[0] if declared.optional else declared.type)
        return "a list of integers" if inner[:1] == (int,) else "a list of names"
    return {int: "an integer", float: "a number", bool: "True or False",
            str: "a string"}[declared.base_type]


class Section:
    """Base of the spec's sections: frozen dataclasses of declared fields."""

    @classmethod
    def declared(cls) -> list[Declared]:
        hints = typing.get_type_hints(cls)
        result = []
        for f in dataclasses.fields(cls):
            if f.metadata.get(_SECTION):
                continue
            declaration = f.metadata.get(_SPEC)
            if declaration is None:
                raise TypeError(f"{cls.__name__}.{f.name} is not declared with "
                                "gan_jax.fields.field (type, default, doc, "
                                "range) nor as a fields.section().")
            default = f.default  # MISSING for a field every config must set.
            if f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            result.append(Declared(f.name, hints[f.name], declaration, default))
        return result

    @classmethod
    def read(cls, config: ml_collections.ConfigDict, flag: str, **fixed):
        """The section of `config` (at flag path `flag`, e.g. "config.optim"),
        every field checked; `fixed` gives fields not read from `config`."""
        values = dict(fixed)
        for declared in cls.declared():
            if declared.name not in values:
                values[declared.name] = read_field(
                    declared, config[declared.name], f"{flag}.{declared.name}")
        return cls(**values)

    @classmethod
    def fill(cls, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
        """Adds every declared field to `config` with its default (typed
        placeholders for optional fields, so overrides are type-checked)."""
        for declared in cls.declared():
            if declared.name in config:
                continue  # Declared by a section read earlier (a shared base).
            if declared.optional and declared.default is None:
                config[declared.name] = config_dict.placeholder(declared.base_type)
            else:
                config[declared.name] = declared.default
        return config

    def to_dict(self) -> dict[str, Any]:
        """The section as plain values (sections nested as dicts)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _plain(value):
    if isinstance(value, Section):
        return value.to_dict()
    if hasattr(value, "to_dict"):  # The tricks' options.
        return {k: _plain(v) for k, v in value.to_dict().items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _example(declared: Declared) -> Any:
    return (declared.declaration.example if declared.declaration.example is not None
            else declared.default)


def fail(flag_problem: str, declared: Declared | None = None) -> typing.NoReturn:
    """Raises the one-paragraph error: the problem, a valid value, the meaning."""
    message = flag_problem
    if declared is not None:
        if not isinstance(declared.declaration.check, (OneOf, EachOf)):
            message += f", e.g. {_example(declared)!r}"
        if declared.declaration.doc:
            message += f" ({declared.declaration.doc.rstrip('.')})"
    raise ValueError(message + ".")


def read_field(declared: Declared, value: Any, flag: str) -> Any:
    """`value` converted to the declared type, checked and parsed; or the
    one-paragraph ValueError naming `flag` (its path, "config.optim.g_lr")."""
    if value is None:
        if declared.optional:
            return None
        fail(f"--{flag} must be set", declared)
    want = declared.base_type
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif want is tuple and isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        fail(f"--{flag}={value!r} must be {_type_name(declared)}", declared)
    check = declared.declaration.check
    problem = check.problem(value, flag) if check is not None else None
    if problem is not None:
        fail(problem, declared)
    parse = declared.declaration.parse
    return value if parse is None else parse(value)


def unknown_field_message(flag: str, names: Sequence[str], *,
                          retired: dict[str, str] | None = None) -> str | None:
    """One paragraph for a field at `flag` ("config.tricks.ada_spedd") that is
    not among its section's `names`: the close one, or what replaced a
    retired field (`retired` maps a path suffix such as "tricks.ada_speed" to
    what to set instead). None when the last part of `flag` is in `names`."""
    where, _, name = flag.rpartition(".")
    if name in names:
        return None
    for path, instead in (retired or {}).items():
        if flag.endswith(path):
            return f"--{flag} is a retired field: {instead}."
    names = sorted(names)
    close = difflib.get_close_matches(name, names, n=1)
    return (f"--{flag}: {where} has no field {name!r}. Its fields: "
            f"{', '.join(names)}. Set one of them, e.g. "
            f"--{where}.{close[0] if close else names[0]}=...")


def refuse_unknown_fields(config: ml_collections.ConfigDict,
                          reference: ml_collections.ConfigDict, flag: str, *,
                          retired: dict[str, str] | None = None) -> None:
    """Raises ValueError (`unknown_field_message`) for the first field of
    `config` that `reference` (the default config of its kind) lacks: a typo
    or a retired field in a config file would otherwise be ignored."""
    for name in config.keys():
        message = unknown_field_message(f"{flag}.{name}", list(reference.keys()),
                                        retired=retired)
        if message:
            raise ValueError(message)
        if (isinstance(config[name], ml_collections.ConfigDict)
                and isinstance(reference[name], ml_collections.ConfigDict)):
            refuse_unknown_fields(config[name], reference[name], f"{flag}.{name}",
                                  retired=retired)
