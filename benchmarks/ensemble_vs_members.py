"""An ensemble's mixture beside each of its members: the README's ensemble tables.

    PYTHONPATH=. python benchmarks/ensemble_vs_members.py --out=runs/ens_eval
        --workdir=runs/ens/settings/recipe-default@0,...,recipe-default@4

Measures every `--workdir` entry alone and then all of them as one mixture
(weighted by `--ensemble_weights`), each with `gan_jax.evaluate`'s code
(`measure.evaluate`) on the same seed and number of samples, writes each
evaluation under `--out` (member_<i>/, mixture/) and prints one markdown
table: a row per metric, a column per member and one for the mixture.
"""

import time

from absl import app
from absl import flags

from gan_jax import cli
from gan_jax import measure
from gan_jax import trained_ensemble

_WORKDIR, _ENSEMBLE_WEIGHTS = trained_ensemble.define_flags(
    "each measured alone, then as one ensemble; one entry per member "
    "(e.g. SWEEP/settings/NAME@S)")
_OUT = flags.DEFINE_string("out", None, "Directory for the evaluations.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "Samples per "
                                    "evaluation (default: the runs' own).")
_FEATURES = flags.DEFINE_string("features", None, "As gan_jax.evaluate's.")
_FEATURE_PATH = flags.DEFINE_string("feature_path", None, "As gan_jax.evaluate's.")
_METRICS = flags.DEFINE_list(
    "metrics", ["modes_covered", "high_quality_fraction", "reverse_kl",
                "stacked_modes_covered", "stacked_reverse_kl"],
    "Rows of the table (those the evaluations report).")
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    del argv
    cli.quiet_library_logs()
    with cli.user_errors_as_messages("ensemble_vs_members"):
        weights = trained_ensemble.parse_weights(_ENSEMBLE_WEIGHTS.value)
        columns, reports = [], []
        for index, entry in enumerate([[w] for w in _WORKDIR.value]
                                      + [_WORKDIR.value]):
            alone = len(entry) == 1
            name = f"member {index}" if alone else f"mixture of {len(entry)}"
            start = time.time()
            reports.append(measure.evaluate(entry, measure.Request(
                num_samples=_NUM_SAMPLES.value, features=_FEATURES.value,
                feature_path=_FEATURE_PATH.value,
                ensemble_weights=None if alone else weights and tuple(weights),
                out=f"{_OUT.value}/{'member_%d' % index if alone else 'mixture'}")))
            columns.append(f"{name} ({time.time() - start:.0f} s)")
    rows = [metric for metric in _METRICS.value if metric in reports[-1]]
    print("| | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for metric in rows:
        print(f"| {metric} | " + " | ".join(
            f"{report[metric]:.4g}" for report in reports) + " |")


if __name__ == "__main__":
    app.run(main)
