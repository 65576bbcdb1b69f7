"""The registered stabilisation tricks, by name.

Every module of `gan_jax.tricks` that ends with `TRICKS = (Trick(...), ...)`
is registered when this module is imported: adding a trick is adding its
module (and its test, and its README row); nothing here or in the
objectives names it.
"""

import contextlib
import importlib
import pkgutil

import ml_collections

from gan_jax import tricks as tricks_package
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick

_REGISTRY: dict[str, Trick] = {}
# The package's modules that are machinery, not tricks.
_MACHINERY = ("base", "options", "registry")


def register(trick: Trick) -> Trick:
    """Adds `trick`; its name and field names must be new."""
    if trick.name in _REGISTRY:
        raise ValueError(f"A trick named {trick.name!r} is already registered.")
    taken = {(f.section, f.name): t.name for t in _REGISTRY.values() for f in t.fields}
    for field in trick.fields:
        owner = taken.get((field.section, field.name))
        if owner:
            raise ValueError(f"Trick {trick.name!r} declares --{field.path()}, "
                             f"which trick {owner!r} already declares.")
    _REGISTRY[trick.name] = trick
    return trick


@contextlib.contextmanager
def registered(trick: Trick):
    """`trick` registered for the duration of a `with` block (tests, notebooks)."""
    register(trick)
    try:
        yield trick
    finally:
        del _REGISTRY[trick.name]


def _discover() -> None:
    for module in pkgutil.iter_modules(tricks_package.__path__):
        if module.name in _MACHINERY:
            continue
        declared = getattr(importlib.import_module(
            f"{tricks_package.__name__}.{module.name}"), "TRICKS", ())
        for trick in declared:
            register(trick)


def get(name: str) -> Trick:
    """The trick registered as `name`; an unknown name lists the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"Unknown trick {name!r}. Registered tricks: "
                       f"{', '.join(sorted(_REGISTRY))}.") from None


def names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def tricks() -> tuple[Trick, ...]:
    """Every registered trick, in composition order (`Trick.order`, then name)."""
    return tuple(sorted(_REGISTRY.values(), key=lambda t: (t.order, t.name)))


def fields(section: str | None = None) -> tuple[Field, ...]:
    """The declared fields (of `section` only, when given), in trick order."""
    return tuple(f for t in tricks() for f in t.fields
                 if section is None or f.section == section)


def add_fields(config: ml_collections.ConfigDict, section: str) -> None:
    """Writes the default of every field the tricks declare in
    `config.<section>` (creating the section if needed)."""
    if section not in config:
        config[section] = ml_collections.ConfigDict()
    for field in fields(section):
        config[section][field.name] = field.default


def describe() -> str:
    """One line per field: flag, default, valid range and doc."""
    lines = []
    for trick in tricks():
        lines.append(f"{trick.name} ({trick.title}):")
        for f in trick.fields:
            valid = f.check.describe() if f.check is not None else ""
            flag = f"--{f.path()}={f.default!r}"
            lines.append(f"  {flag} {valid}: {f.doc}" if valid else f"  {flag}: {f.doc}")
    return "\n".join(lines)


_discover()


if __name__ == "__main__":
    print(describe())
