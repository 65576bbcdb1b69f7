"""From an ablation config to settings, and settings to compiled groups.

An ablation config (`configs/ablation_*.py`) has three fields:

    experiment   a complete training config (the base of every setting)
    grid         axes; each axis maps level names to overrides of `experiment`,
                 written "field=value, field=value" (e.g.
                 "loss.name=wasserstein, penalty.name=gp, penalty.weight=10")
    num_seeds    seeds 0 .. num_seeds - 1 of every setting (`first_seed` shifts them)

The settings are the cross product of the axes, in the order they are written.
Settings whose configs differ only in `NUMERIC_FIELDS` share one compiled
program: their seeds and numbers are batched with `vmap` (see `members`);
the others (a different loss, penalty, model or batch size) are separate groups.
"""

import ast
import copy
import dataclasses
import hashlib
import itertools
import json

import ml_collections

from gan_jax.run import gan_spec

# Fields that enter the train step only as numbers (the learning rates live in
# the optimizer state, see `experiment.create_optimizer`), so settings that
# differ in them can share a program.
NUMERIC_FIELDS = ("optim.g_lr", "optim.d_lr", "penalty.weight",
                  "loss.label_smoothing")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One cell of the grid: its level on every axis, its full config (which
    results.json records and the groups are keyed by) and that config's
    checked spec (what its runs read)."""
    levels: tuple[tuple[str, str], ...]  # ((axis, level), ...)
    config: ml_collections.ConfigDict
    spec: gan_spec.GanSpec

    @property
    def name(self) -> str:
        return _name(self.levels)

    @property
    def dirname(self) -> str:
        return "__".join(f"{axis}-{level}" for axis, level in self.levels)

    def numeric(self) -> dict[str, float]:
        """The setting's values of `NUMERIC_FIELDS`, read from its spec."""
        values = {}
        for field in NUMERIC_FIELDS:
            section, name = field.split(".")
            values[field] = getattr(getattr(self.spec, section), name)
        return values


def _name(levels: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{axis}={level}" for axis, level in levels)


@dataclasses.dataclass(frozen=True)
class Group:
    """Settings that share one compiled program, and the key naming it."""
    settings: tuple[Setting, ...]
    key: str  # a hash of the shared config, the settings and the seeds


def _parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # A bare word such as hinge or none.


def parse_overrides(text: str) -> dict[str, object]:
    """"a.b=1, c.d=hinge" -> {"a.b": 1, "c.d": "hinge"}."""
    overrides = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise ValueError(f"Cannot read override {item!r} in {text!r}: write "
                             "field=value, e.g. loss.name=hinge.")
        overrides[field.strip()] = _parse_value(value.strip())
    return overrides


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: dict[str, object]) -> ml_collections.ConfigDict:
    """A copy of `config` with dotted fields replaced; unknown fields are errors."""
    config = copy.deepcopy(config)
    for field, value in overrides.items():
        *path, leaf = field.split(".")
        node = config
        for depth, part in enumerate(path):
            if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
                raise ValueError(f"Unknown config field {field!r}: "
                                 f"{'.'.join(path[:depth + 1])!r} is not a section. "
                                 f"Sections: {', '.join(sorted(_sections(config)))}.")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"Unknown config field {field!r}. Fields of "
                             f"{'.'.join(path) or 'the config'}: "
                             f"{', '.join(sorted(node.keys()))}.")
        try:
            node[leaf] = value
        except TypeError as error:
            raise ValueError(f"Cannot set {field}={value!r}: {error}") from None
    return config


def _sections(config: ml_collections.ConfigDict) -> list[str]:
    return [k for k, v in config.items() if isinstance(v, ml_collections.ConfigDict)]


def _axes(grid: ml_collections.ConfigDict) -> list[tuple[str, list[tuple[str, str]]]]:
    # to_json keeps the order the config file wrote; items() would sort.
    axes = json.loads(grid.to_json())
    if not axes:
        raise ValueError("The ablation config's grid is empty: add at least one "
                         "axis, e.g. config.grid.loss = {'hinge': 'loss.name=hinge'}.")
    result = []
    for axis, levels in axes.items():
        if not isinstance(levels, dict) or not levels:
            raise ValueError(f"grid.{axis} must map level names to overrides, e.g. "
                             "{'hinge': 'loss.name=hinge'}; got "
                             f"{levels!r}.")
        result.append((axis, list(levels.items())))
    return result


def seeds(ablation: ml_collections.ConfigDict) -> tuple[int, ...]:
    if ablation.num_seeds < 1:
        raise ValueError(f"num_seeds={ablation.num_seeds} must be at least 1.")
    first = ablation.first_seed
    return tuple(range(first, first + ablation.num_seeds))


def settings(ablation: ml_collections.ConfigDict) -> list[Setting]:
    """Every setting of the grid with its config and checked spec, in grid
    order; a setting whose config does not build fails naming it."""
    axes = _axes(ablation.grid)
    result = []
    for combination in itertools.product(*(levels for _, levels in axes)):
        levels = tuple((axis, level) for (axis, _), (level, _) in
                       zip(axes, combination))
        overrides = {}
        for _, text in combination:
            overrides.update(parse_overrides(text))
        config = apply_overrides(ablation.experiment, overrides)
        try:
            spec = gan_spec.build(config, "config.experiment")
        except ValueError as error:
            raise ValueError(f"Setting {_name(levels)}: {error}") from None
        result.append(Setting(levels, config, spec))
    return result


def _program_key(config: ml_collections.ConfigDict) -> str:
    """The config with the numeric fields blanked: equal keys, equal programs."""
    shared = apply_overrides(config, {"seed": 0})
    for field in NUMERIC_FIELDS:
        *path, leaf = field.split(".")
        node = shared
        for part in path:
            node = node[part]
        node[leaf] = 0.0
    return shared.to_json(sort_keys=True)


def groups(all_settings: list[Setting], seed_list: tuple[int, ...]) -> list[Group]:
    """Settings grouped by compiled program, in order of first appearance."""
    by_key: dict[str, list[Setting]] = {}
    for setting in all_settings:
        by_key.setdefault(_program_key(setting.config), []).append(setting)
    result = []
    for program, members in by_key.items():
        digest = hashlib.sha256(json.dumps(
            [program, [s.config.to_json(sort_keys=True) for s in members],
             list(seed_list)]).encode()).hexdigest()[:12]
        result.append(Group(tuple(members), digest))
    return result
