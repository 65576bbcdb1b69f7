"""Runs an ablation sweep: `python -m gan_jax.ablate --config=configs/ablation_ring8.py --workdir=DIR`.

Every setting of the config's grid trains for every seed; the seeds (and the
settings that differ only in numbers) of one compiled program train together
under `jax.vmap`. Prints the results table and writes it, with plots, to
`--workdir`. Running the same command again skips finished settings and
resumes an interrupted one: SIGTERM or SIGINT saves the group in training
at its current step (exit status 143 or 130), as `gan_jax.main` does. Any field can be overridden, e.g.
`--config.num_seeds=3` or `--config.experiment.train.num_steps=2000`.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from gan_jax import cli
from gan_jax import parallel
from gan_jax.sweep import runner

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the sweep's runs, "
                               "results table and plots.")
config_flags.DEFINE_config_file(
    "config", None, "Path to an ablation config, e.g. configs/ablation_ring8.py "
    "(append ':tiny' for a quick smoke test).", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    cli.quiet_library_logs()
    parallel.initialize(flags.FLAGS.config.experiment.distributed)
    table_path = f"{_WORKDIR.value}/results.md"
    with cli.user_errors_as_messages("gan_jax.ablate"):
        runner.run_sweep(flags.FLAGS.config, _WORKDIR.value)
    with open(table_path, encoding="utf-8") as f:
        print(f.read())
    print(f"Table: {table_path} (and results.csv); plots: curves.png, "
          "train_curves.png, samples.png in the same directory.")


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags_refusing_unknown_overrides(
        "gan_jax.ablate"))
