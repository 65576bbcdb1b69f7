"""The ablation runner: grids, vmapped members equal separate runs, the table,
resuming a sweep, and the command line."""

import copy
import json
import logging
import math
import os
import pathlib
import re
import signal
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_jax import train
from gan_jax.run import checkpoint
from gan_jax.sweep import grid
from gan_jax.sweep import report
from gan_jax.sweep import runner
from gan_jax.sweep import spec as ablation_spec
import config_files  # tests/config_files.py
import idx_digits  # tests/idx_digits.py

REPO = pathlib.Path(__file__).resolve().parents[1]


def _config(name, variant="tiny"):
    return config_files.load(name, variant)


def _tiny_ablation(data_dir, **grid_axes):
    ablation = _config("ablation_ring8")
    ablation.experiment.data.data_dir = data_dir
    if grid_axes:
        ablation.grid = ml_collections.ConfigDict(grid_axes)
    return ablation


# --- Grids. ---


def test_settings_are_the_cross_product_in_written_order():
    ablation = _config("ablation_grid25", variant="")
    settings = grid.settings(ablation)
    assert len(settings) == 12 and grid.seeds(ablation) == (0, 1, 2, 3, 4)
    assert [s.name for s in settings[:3]] == [
        "loss=minimax,penalty=none", "loss=minimax,penalty=gp",
        "loss=non_saturating,penalty=none"]
    wgan_gp = settings[5]
    assert (wgan_gp.config.loss.name, wgan_gp.config.penalty.name,
            wgan_gp.config.penalty.weight) == ("wasserstein", "gp", 1.0)
    # The base config itself is untouched.
    assert ablation.experiment.loss.name == "non_saturating"


def test_overrides_parse_values_and_reject_unknown_fields():
    assert grid.parse_overrides("loss.name=hinge, penalty.weight=10, "
                                "eval.feature_path=None") == {
        "loss.name": "hinge", "penalty.weight": 10, "eval.feature_path": None}
    base = _config("ablation_ring8").experiment
    with pytest.raises(ValueError, match="Fields of optim: .*d_lr"):
        grid.apply_overrides(base, {"optim.lr": 1e-3})
    with pytest.raises(ValueError, match="'optimizer' is not a section"):
        grid.apply_overrides(base, {"optimizer.lr": 1e-3})
    with pytest.raises(ValueError, match="write field=value"):
        grid.parse_overrides("loss.name")


def test_invalid_setting_is_named_before_any_training():
    ablation = _tiny_ablation("unused", loss={"hinge_smooth": (
        "loss.name=hinge, loss.label_smoothing=0.1")})
    with pytest.raises(ValueError, match=r"Setting loss=hinge_smooth: Loss 'hinge'"):
        grid.settings(ablation)


# The variant a sweep config file needs at full size.
_FULL_SIZE = {"reproduce_toys": ("ring8", "grid25")}


@pytest.mark.parametrize("name, variant", sorted(
    (path.stem, variant) for pattern in ("ablation_*.py", "reproduce_*.py")
    for path in (REPO / "configs").glob(pattern)
    for variant in _FULL_SIZE.get(path.stem, ("",))))
def test_every_sweep_config_file_is_a_valid_sweep(name, variant):
    # Full size: every setting's experiment checked, no training.
    sweep = ablation_spec.build(_config(name, variant))
    assert sweep.settings and sweep.num_seeds >= 1


def test_the_toy_reproduction_is_the_quick_start_config_over_ten_seeds():
    for name in ("ring8", "grid25"):
        sweep = _config("reproduce_toys", name)
        assert sweep.num_seeds == 10 and sweep.first_seed == 0
        assert sweep.experiment.to_dict() == _config(name, "").to_dict()
    with pytest.raises(ValueError, match="needs one mixture: .*:ring8 or :grid25"):
        _config("reproduce_toys", "ring8,grid25")


def test_published_figures_are_numbers_and_follow_the_measured_rows():
    ablation = _tiny_ablation("unused")
    ablation.published = (("PacGAN2 (Lin et al. 2018)", {"modes_covered": 7.9}),)
    published = ablation_spec.build(ablation).published
    assert published == (("PacGAN2 (Lin et al. 2018)", {"modes_covered": 7.9}),)
    table = report.summarize([report.Row("a", {"loss": "a", "penalty": "none"},
                                         {"modes_covered": [8.0, 6.0]}, (0, 1))])
    lines = report.to_markdown(table, 2, published).splitlines()
    # Measured, a rule, then the published row; bold only among the measured.
    assert lines[-3:] == ["| a | none | **7 ± 1.4** |",
                          "| — | — | — |",
                          "| PacGAN2 (Lin et al. 2018) (published) |  | 7.9 |"]
    ablation.published = (("GAN", {"modes_covered": "6 or 7"}),)
    with pytest.raises(ValueError, match=r"config.published\['GAN'\].modes_covered="
                       r"'6 or 7' must be a number"):
        ablation_spec.build(ablation)


def test_numeric_settings_share_a_group_and_code_changes_split_them():
    ablation = _tiny_ablation("unused", lr={
        "a": "optim.g_lr=0.002, optim.d_lr=0.002",
        "b": "optim.g_lr=0.001, penalty.weight=1.0, loss.label_smoothing=0.1",
        "c": "optim.n_critic=2", "d": "loss.name=hinge"})
    settings = grid.settings(ablation)
    groups = grid.groups(settings, (0, 1))
    assert [[s.name for s in g.settings] for g in groups] == [
        ["lr=a", "lr=b"], ["lr=c"], ["lr=d"]]
    assert len({g.key for g in groups}) == 3
    # The key changes with the seeds: a checkpoint is never reused for others.
    assert grid.groups(settings, (0,))[0].key != groups[0].key


# --- The table. ---


def test_table_mean_std_best_and_divergence():
    rows = [report.Row("a", {"loss": "a"}, {"fid": [1.0, 2.0, 3.0, 4.0],
                                            "recall": [0.5, 0.7, 0.6, 0.8],
                                            "num_modes": [8.0] * 4}),
            report.Row("b", {"loss": "b"}, {"fid": [2.0, 2.0, 2.0, float("nan")],
                                            "recall": [0.9, 0.9, 0.9, 0.9]}),
            report.Row("c", {"loss": "c"}, {"fid": [3.0, 1.0, 2.0, 2.0],
                                            "recall": [0.1, 0.2, 0.3, 0.4]})]
    table = report.summarize(rows)
    assert table.metrics == ["fid", "recall"]  # Bookkeeping is not a column.
    fid_a = table.cells[0]["fid"]
    assert fid_a.mean == 2.5
    # Sample std: sqrt(sum((x - 2.5)^2) / (4 - 1)) = sqrt(5 / 3).
    assert math.isclose(fid_a.std, math.sqrt(5 / 3))
    assert math.isnan(table.cells[1]["fid"].mean)  # A diverged seed shows.
    # Lower FID is better (c: 2.0); higher recall (b: 0.9).
    assert [c["fid"].best for c in table.cells] == [False, False, True]
    assert [c["recall"].best for c in table.cells] == [False, True, False]
    assert report.mean_std([3.0]) == (3.0, 0.0)

    markdown = report.to_markdown(table, num_seeds=4)
    assert "| loss | fid ↓ | recall ↑ |" in markdown
    assert "| c | **2 ± 0.82** | 0.25 ± 0.13 |" in markdown
    csv_lines = report.to_csv(table).splitlines()
    assert csv_lines[0] == ("setting,loss,num_seeds,fid_mean,fid_std,"
                            "recall_mean,recall_std")
    assert csv_lines[1].startswith("a,a,4,2.5,1.29099")


def test_per_seed_table_names_the_worst_seed_in_each_direction():
    rows = [report.Row("a", {"loss": "a"}, {"fid": [1.0, 4.0, 3.0],
                                            "recall": [0.5, 0.7, 0.6],
                                            "num_modes": [8.0] * 3}, (3, 4, 5)),
            report.Row("b", {"loss": "b"}, {"fid": [2.0, float("nan"), 2.0],
                                            "recall": [0.9, 0.2, 0.9]}, (3, 4, 5))]
    markdown = report.to_markdown_per_seed(report.summarize(rows))
    assert "num_modes" not in markdown  # Bookkeeping has no direction.
    assert "| loss | seed 3 | seed 4 | seed 5 | worst |" in markdown
    # The worst FID is the highest, the worst recall the lowest; a diverged
    # seed makes the worst non-finite.
    fid, recall = markdown.split("recall ↑ per seed:")
    assert "| a | 1 | 4 | 3 | 4 |" in fid
    assert "| b | 2 | nan | 2 | nan |" in fid
    assert "| a | 0.5 | 0.7 | 0.6 | 0.5 |" in recall
    assert "| b | 0.9 | 0.2 | 0.9 | 0.2 |" in recall


# --- Training. ---


def _group_params(workdir):
    [group_dir] = (workdir / "groups").iterdir()
    with ocp.CheckpointManager(group_dir / "checkpoints") as manager:
        state = manager.restore(manager.latest_step(),
                                args=ocp.args.StandardRestore())
    return state, json.loads((group_dir / "group.json").read_text())


# One group of 2 settings x 2 seeds: the members differ in seed, learning
# rates, penalty weight and label smoothing.
_RECIPES = {"a": "optim.g_lr=0.002, optim.d_lr=0.002",
            "b": "optim.g_lr=0.001, optim.d_lr=0.0005, penalty.weight=1.0, "
                 "loss.label_smoothing=0.1"}


@pytest.fixture(scope="module")
def recipe_sweep(tmp_path_factory, toy_data_dir):
    """An uninterrupted sweep of the `_RECIPES` group, shared by the tests."""
    ablation = _tiny_ablation(toy_data_dir, recipe=_RECIPES)
    workdir = tmp_path_factory.mktemp("recipe_sweep")
    table = runner.run_sweep(ablation, workdir)
    return ablation, workdir, table


@pytest.mark.slow
def test_vmapped_members_equal_separate_runs(tmp_path, recipe_sweep):
    ablation, workdir, table = recipe_sweep
    stacked, group = _group_params(workdir)
    assert group == {"settings": ["recipe=a", "recipe=b"], "seeds": [0, 1]}
    assert [row.name for row in table.rows] == ["recipe=a", "recipe=b"]

    settings = grid.settings(ablation)
    # Two of the four members, so that both a seed and the numbers differ.
    for setting_index, seed in ((0, 1), (1, 0)):
        setting = settings[setting_index]
        results = json.loads((workdir / "settings" / setting.dirname /
                              "results.json").read_text())
        config = copy.deepcopy(setting.config)
        config.seed = seed
        separate = tmp_path / f"separate_{setting_index}_{seed}"
        final = train.train_and_evaluate(config, separate)
        with ocp.CheckpointManager(separate / "checkpoints") as manager:
            single = manager.restore(manager.latest_step(),
                                     args=ocp.args.StandardRestore())
        member = jax.tree.map(lambda leaf, k=2 * setting_index + seed: leaf[k],
                              stacked)
        for name in ("generator", "discriminator"):
            jax.tree.map(lambda a, b: np.testing.assert_allclose(
                a, b, rtol=1e-5, atol=1e-6), member[name]["params"],
                single[name]["params"])
        for name in ("modes_covered", "high_quality_fraction", "reverse_kl"):
            assert results["metrics"][name][seed] == pytest.approx(final[name],
                                                                   abs=1e-6)
        assert results["metrics"]["diverged"][seed] == 0.0


@pytest.mark.slow
def test_interrupted_group_resumes_bit_exactly(tmp_path, recipe_sweep, monkeypatch):
    ablation, straight_dir, _ = recipe_sweep
    real_save = checkpoint.save

    def save_then_die(manager, step, state, force=False):
        saved = real_save(manager, step, state, force=force)
        if step == 2:
            manager.wait_until_finished()
            raise KeyboardInterrupt("preempted")
        return saved
    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        runner.run_sweep(ablation, tmp_path)
    assert not list((tmp_path / "settings").glob("*/results.json"))
    monkeypatch.setattr(checkpoint, "save", real_save)
    runner.run_sweep(ablation, tmp_path)

    straight, _ = _group_params(straight_dir)
    resumed, _ = _group_params(tmp_path)
    jax.tree.map(np.testing.assert_array_equal, straight, resumed)
    for workdir in (straight_dir, tmp_path):
        assert (workdir / "results.md").exists()
    assert ((straight_dir / "results.csv").read_text()
            == (tmp_path / "results.csv").read_text())


@pytest.mark.slow
def test_interrupted_sweep_trains_only_unfinished_groups(tmp_path, toy_data_dir):
    ablation = _tiny_ablation(toy_data_dir, loss={
        "ns": "loss.name=non_saturating", "hinge": "loss.name=hinge"})
    ablation.num_seeds = 1
    calls = []

    def second_group_fails(group, seeds, workdir, label):
        calls.append([s.name for s in group.settings])
        if len(calls) == 2:
            raise RuntimeError("killed")
        runner.train_group(group, seeds, workdir, label)
    with pytest.raises(RuntimeError, match="killed"):
        runner.run_sweep(ablation, tmp_path, train_group_fn=second_group_fails)

    calls.clear()
    table = runner.run_sweep(ablation, tmp_path, train_group_fn=lambda *a: (
        calls.append([s.name for s in a[0].settings]), runner.train_group(*a)))
    assert calls == [["loss=hinge"]]
    assert [row.name for row in table.rows] == ["loss=ns", "loss=hinge"]

    # A changed config under the same workdir is refused, not mixed in.
    ablation.experiment.train.num_steps = 5
    with pytest.raises(ValueError, match="different config or seeds for setting "
                                         "loss=ns. Use a new --workdir"):
        runner.run_sweep(ablation, tmp_path)


@pytest.mark.slow
def test_command_line_prints_table_writes_report_and_skips_when_rerun(
        tmp_path, toy_data_dir, caplog):
    cmd = [sys.executable, "-m", "gan_jax.ablate",
           "--config=configs/ablation_ring8.py:tiny", f"--workdir={tmp_path}",
           f"--config.experiment.data.data_dir={toy_data_dir}"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                           timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-4000:]
    assert "| loss | r1 | modes_covered ↑ |" in first.stdout
    assert "4 settings x 2 seeds = 8 runs, in 2 compiled groups" in first.stderr
    for name in ("results.md", "results.csv", "curves.png", "train_curves.png",
                 "samples.png", "ablation.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    setting_dir = tmp_path / "settings" / "loss-hinge__r1-strong"
    assert (setting_dir / "samples_seed1.png").exists()
    assert list(setting_dir.glob("events.out.tfevents.*"))
    results = setting_dir / "results.json"
    written = results.stat().st_mtime_ns

    # Rerun (in-process: the command is `runner.run_sweep`, then the table).
    table_text = (tmp_path / "results.md").read_text()
    assert table_text in first.stdout
    ablation = _tiny_ablation(toy_data_dir)
    with caplog.at_level(logging.INFO):
        runner.run_sweep(ablation, tmp_path)
    assert caplog.text.count("finished earlier, skipped") == 2
    assert results.stat().st_mtime_ns == written
    assert (tmp_path / "results.md").read_text() == table_text


_LONG_SWEEP = {"num_steps": 600, "log_every": 100, "checkpoint_every": 100,
               "eval_every": 1000}


@pytest.mark.slow
def test_sigterm_saves_the_sweep_and_a_rerun_ends_as_an_uninterrupted_one(
        tmp_path, toy_data_dir):
    """SIGTERM during `gan_jax.ablate` saves the group in training at its
    step; the same command resumes it, and every setting's results equal an
    uninterrupted sweep's."""
    straight = _tiny_ablation(toy_data_dir)
    straight.experiment.train.update(_LONG_SWEEP)
    runner.run_sweep(straight, tmp_path / "straight")

    cmd = [sys.executable, "-m", "gan_jax.ablate",
           "--config=configs/ablation_ring8.py:tiny",
           f"--workdir={tmp_path / 'interrupted'}",
           f"--config.experiment.data.data_dir={toy_data_dir}",
           *(f"--config.experiment.train.{k}={v}" for k, v in _LONG_SWEEP.items())]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    process = subprocess.Popen(cmd, cwd=REPO, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Training from step 0" in line:
            process.send_signal(signal.SIGTERM)
            break
    _, rest = process.communicate(timeout=600)
    stderr = "".join(seen) + rest
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    found = re.search(r"Stopped by SIGTERM after step (\d+): saved a checkpoint "
                      r"at step \1 in .*checkpoints\. Run the same command again",
                      " ".join(stderr.split()))
    assert found and "Traceback" not in stderr, stderr[-3000:]
    step = int(found.group(1))
    assert 0 < step < _LONG_SWEEP["num_steps"]

    resumed = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                             timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from the checkpoint at step {step}." in resumed.stderr
    for setting in grid.settings(straight):
        paths = [tmp_path / run / "settings" / setting.dirname / "results.json"
                 for run in ("straight", "interrupted")]
        expected, got = (json.loads(path.read_text()) for path in paths)
        assert got["metrics"] == expected["metrics"], setting.name


@pytest.mark.slow
def test_image_sweep_on_idx_digits(tmp_path):
    """The image path: vmapped DCGANs (BatchNorm generator statistics and a
    layer-norm critic in the stacked state), image grids per setting."""
    ablation = _config("ablation_mnist")
    idx_digits.write(tmp_path / "idx")
    ablation.experiment.data.path = str(tmp_path / "idx")
    ablation.experiment.data.data_dir = str(tmp_path / "tfds")
    ablation.grid.loss = {"wgan_gp": ablation.grid.loss.wgan_gp}  # One compile.
    table = runner.run_sweep(ablation, tmp_path / "sweep")
    assert [row.name for row in table.rows] == ["loss=wgan_gp"]
    grid_png = tmp_path / "sweep" / "settings" / "loss-wgan_gp" / "samples_seed1.png"
    assert grid_png.stat().st_size > 0
    results = json.loads(grid_png.with_name("results.json").read_text())
    assert results["metrics"] == {"diverged": [0.0, 0.0]}  # Tiny: no metrics.
    assert (tmp_path / "sweep" / "samples.png").stat().st_size > 0
