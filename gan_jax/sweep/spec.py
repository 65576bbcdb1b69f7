"""The spec of an ablation sweep (`gan_jax.defaults.ablation_config`): its
seeds, the experiment every setting starts from, and every setting of the
grid, each setting's experiment checked before the sweep does any work."""

import dataclasses

import ml_collections

from gan_jax import defaults
from gan_jax import fields
from gan_jax.fields import field
from gan_jax.run import gan_spec
from gan_jax.sweep import grid


@dataclasses.dataclass(frozen=True)
class Sweep(fields.Section):
    # No default: every ablation config file says how many it runs.
    num_seeds: int = field(doc="seeds of every setting", check=fields.AT_LEAST_ONE,
                           example=3)
    # Seeds first_seed .. first_seed + num_seeds - 1.
    first_seed: int = field(0, "the first seed")


@dataclasses.dataclass(frozen=True)
class AblationSpec(Sweep):
    """A sweep, checked. Built by `build`, never by hand."""
    experiment: gan_spec.GanSpec = fields.section()
    # The grid's cells in grid order, each with its full (checked) config.
    settings: tuple[grid.Setting, ...] = fields.section()
    # Published figures printed beside the measured rows, for comparison:
    # the config's optional `published`, ((row label, {metric: value}), ...)
    # (pairs, not a mapping: a ConfigDict key cannot hold the dots of
    # "et al.").
    published: tuple[tuple[str, dict[str, float]], ...] = fields.section()

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.first_seed, self.first_seed + self.num_seeds))


def build(config: ml_collections.ConfigDict) -> AblationSpec:
    """The checked spec of the ablation `config`; a bad value in the
    experiment or in any setting of the grid fails with one paragraph naming
    the flag (and the setting)."""
    fields.refuse_unknown_fields(config.experiment, defaults.base_config(),
                                 "config.experiment",
                                 retired=defaults.RETIRED_FIELDS)
    spec = AblationSpec.read(
        config, "config",
        experiment=gan_spec.build(config.experiment, "config.experiment"),
        settings=tuple(grid.settings(config)),
        published=_published(config))
    for setting in spec.settings:
        if setting.spec.init.from_workdir is not None:
            raise ValueError(
                f"Setting {setting.name}: config.experiment.init.from_workdir="
                f"{setting.spec.init.from_workdir!r}: an ablation starts every "
                "member fresh; fine-tune one run at a time with python -m "
                "gan_jax.main --config.init.from_workdir=DIR, or leave it unset.")
    return spec


def _published(config: ml_collections.ConfigDict
               ) -> tuple[tuple[str, dict[str, float]], ...]:
    rows = []
    for label, figures in config.get("published") or ():
        values = {}
        for metric, value in dict(figures).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(
                    f"config.published[{label!r}].{metric}={value!r} must be a "
                    "number (a published figure), e.g. 6.3.")
            values[metric] = float(value)
        rows.append((label, values))
    return tuple(rows)
