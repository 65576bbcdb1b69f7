"""GAN ensembles: the mixture's proportions, its routing of latents to
members, weights and compatibility errors, sweep members restored, and the
command lines."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import train
from gan_jax import trained_ensemble
from gan_jax.data import toy_mixtures
from gan_jax.evaluation import ensemble
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import sampling
from gan_jax.metrics import mode_coverage
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.run import run_dir
from gan_jax.sweep import runner
import config_files  # tests/config_files.py
import idx_digits  # tests/idx_digits.py
import small_toy  # tests/small_toy.py

REPO = pathlib.Path(__file__).resolve().parents[1]


# --- Proportions. ---


@pytest.mark.parametrize("num, weights, expected", [
    # Quotas 3.5, 2.1, 1.4: floors 3, 2, 1 and the one left to the largest
    # remainder (0.5).
    (7, (0.5, 0.3, 0.2), (4, 2, 1)),
    # Equal remainders 1/3: the one left goes to the lowest index.
    (10, (1, 1, 1), (4, 3, 3)),
    # Unnormalised weights; exact quotas need no remainder.
    (2500, (2, 6, 2), (500, 1500, 500)),
    # A member of weight 0 draws nothing, even with samples left over.
    (5, (0, 1, 1), (0, 3, 2)),
])
def test_component_counts_by_hand(num, weights, expected):
    np.testing.assert_array_equal(
        ensemble.component_counts(num, np.asarray(weights, float)), expected)


def test_component_counts_sum_to_n_and_stay_within_one_of_each_quota():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = rng.integers(1, 8)
        weights = rng.random(k) * (rng.random(k) > 0.2)
        if weights.sum() == 0:
            continue
        num = int(rng.integers(0, 5000))
        counts = ensemble.component_counts(num, weights)
        quotas = num * weights / weights.sum()
        assert counts.sum() == num
        assert np.all(np.abs(counts - quotas) < 1)
        assert np.all(counts[weights == 0] == 0)


def test_member_indices_are_grouped_in_member_order():
    indices = ensemble.member_indices(7, np.array([0.5, 0.3, 0.2]))
    np.testing.assert_array_equal(indices, [0, 0, 0, 0, 1, 1, 2])


# --- Drawing. ---


def _toy_states(count):
    spec = gan_spec.build(small_toy.config())
    states = [experiment.create_state(spec, (2,), jax.random.key(seed))
              for seed in range(count)]
    return spec, states


def _draw(generator, spec, num, batch_size, key=7):
    return sampling.generate(generator, jax.random.key(key), num,
                             latent_dim=spec.model.latent_dim,
                             batch_size=batch_size)


def test_mixture_sends_each_latent_of_the_stream_to_its_member():
    spec, states = _toy_states(3)
    weights = np.array([1.0, 2.0, 3.0])
    mixture = ensemble.create(states, [spec] * 3, weights)
    num, batch_size = 50, 16  # Batches straddle members; the last is padded.
    drawn = _draw(mixture, spec, num, batch_size)
    alone = [_draw(state, spec, num, batch_size) for state in states]
    members = ensemble.member_indices(num, mixture.weights)
    np.testing.assert_array_equal(np.bincount(members),
                                  ensemble.component_counts(num, weights))
    for k in range(3):
        rows = members == k
        np.testing.assert_array_equal(drawn[rows], alone[k][rows])
        # The members differ, so a row drawn by the wrong one would show.
        assert not np.allclose(drawn[rows], alone[(k + 1) % 3][rows])


def test_an_ensemble_of_one_draws_exactly_that_generator():
    spec, [state] = _toy_states(1)
    for weights in (None, [5.0]):
        mixture = ensemble.create([state], [spec], weights)
        np.testing.assert_array_equal(_draw(mixture, spec, 37, 16),
                                      _draw(state, spec, 37, 16))
    inputs = sampling.grid_inputs(jax.random.key(1), spec.model.latent_dim, 0)
    np.testing.assert_array_equal(
        sampling.draw(ensemble.create([state], [spec]), inputs.latents),
        np.asarray(sampling.generate_from(state, inputs.latents)))


def test_toy_evaluation_of_a_mixture_counts_its_samples_as_one_generator():
    spec, states = _toy_states(2)
    mixture = ensemble.create(states, [spec] * 2, [1, 3])
    key = jax.random.key(3)
    measured = evaluator.evaluate(mixture, key, spec, 0, draw=False)
    # A toy evaluation draws its points with the key itself.
    samples = _draw(mixture, spec, spec.eval.num_samples,
                    min(spec.eval.batch_size, spec.eval.num_samples), key=3)
    expected = mode_coverage.mixture_mode_metrics(
        samples, toy_mixtures.mixture_modes(spec.data.name),
        toy_mixtures.mixture_std(spec.data.name))
    assert measured.scalars == expected
    assert measured.labels["generator"] == "ema"


# --- Errors. ---


@pytest.mark.parametrize("weights, message", [
    ([1.0, 2.0], r"--ensemble_weights has 2 weight\(s\) for 3 ensemble member"),
    ([1.0, -1.0, 1.0], r"--ensemble_weights=1,-1,1 holds a negative"),
    ([1.0, float("nan"), 1.0], r"--ensemble_weights=1,nan,1 holds a negative or "
                               r"non-finite"),
    ([0.0, 0.0, 0.0], r"--ensemble_weights=0,0,0 sums to 0"),
])
def test_invalid_weights_are_refused_naming_the_flag(weights, message):
    with pytest.raises(ValueError, match=message):
        ensemble.check_weights(weights, 3)


def test_uniform_weights_by_default_and_normalised_otherwise():
    np.testing.assert_array_equal(ensemble.check_weights(None, 4), [0.25] * 4)
    np.testing.assert_allclose(ensemble.check_weights([1, 3], 2), [0.25, 0.75])


def test_weights_that_are_not_numbers_are_refused_naming_the_flag():
    with pytest.raises(ValueError, match=r"--ensemble_weights=1,x is not a list "
                       r"of numbers"):
        trained_ensemble.parse_weights(["1", "x"])
    assert trained_ensemble.parse_weights(None) is None


def _member(source, *, latent_dim=4, sample_shape=(2,), num_classes=0):
    spec = gan_spec.build(small_toy.config(**{"model.latent_dim": latent_dim}))
    run = train.TrainedRun(spec, None, 1, run_dir.DataSpec(sample_shape,
                                                           num_classes or None),
                           image_to_image=False)
    return trained_ensemble.Member(run, source)


@pytest.mark.parametrize("other, trait", [
    ({"latent_dim": 8}, r"latent size \(config.model.latent_dim\) \(a: 4; b: 8\)"),
    ({"sample_shape": (3,)}, r"sample shape \(data_spec.json\) \(a: \(2,\); "
                             r"b: \(3,\)\)"),
])
def test_members_that_draw_different_samples_are_refused_naming_the_flag(
        other, trait):
    with pytest.raises(ValueError, match=r"--workdir: the ensemble's members "
                       r"differ in their " + trait):
        trained_ensemble.check_compatible([_member("a"), _member("b", **other)])
    trained_ensemble.check_compatible([_member("a"), _member("b")])


def test_a_directory_that_is_no_generator_is_refused_naming_the_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--workdir=.* is not a trained "
                       r"generator: a run directory holds config.json"):
        trained_ensemble.open_members([str(tmp_path)])
    assert not list(tmp_path.iterdir())


# --- Sweep members and the command lines (end to end, tiny). ---


@pytest.fixture(scope="module")
def toy_sweep(tmp_path_factory, toy_data_dir):
    """ring8 :tiny, 2 seeds of one setting, trained by gan_jax.ablate's code."""
    ablation = config_files.load("ablation_ring8", "tiny")
    ablation.experiment.data.data_dir = toy_data_dir
    ablation.grid = {"loss": {"hinge": "loss.name=hinge"}}
    workdir = tmp_path_factory.mktemp("sweep")
    runner.run_sweep(ablation, workdir)
    [setting_dir] = (workdir / runner.SETTINGS_DIR).iterdir()
    return workdir, setting_dir


@pytest.mark.slow
def test_sweep_members_are_restored_as_the_sweep_measured_them(toy_sweep):
    workdir, setting_dir = toy_sweep
    results = json.loads((setting_dir / runner.RESULTS_FILE).read_text())
    members = trained_ensemble.open_members([str(workdir)])
    assert len(members) == len(results["seeds"]) == 2
    for column, (member, seed) in enumerate(zip(members, results["seeds"])):
        evaluation = evaluator.evaluate(
            member.run.state, experiment.run_keys(seed).eval, member.run.spec,
            member.run.step, draw=False)
        for name, value in evaluation.scalars.items():
            assert value == results["metrics"][name][column], name
    [second] = trained_ensemble.open_members([f"{setting_dir}@1"])
    assert second.source == members[1].source
    jax.tree.map(np.testing.assert_array_equal, second.run.state.ema_params,
                 members[1].run.state.ema_params)
    with pytest.raises(ValueError, match=r"trained seeds 0, 1; e.g. "):
        trained_ensemble.open_members([f"{setting_dir}@5"])


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True,
                          text=True, cwd=REPO, check=False)


@pytest.mark.slow
def test_evaluate_command_measures_a_sweep_as_one_mixture(toy_sweep, tmp_path):
    workdir, setting_dir = toy_sweep
    refused = _run("gan_jax.evaluate", f"--workdir={workdir}",
                   f"--out={tmp_path / 'bad'}", "--ensemble_weights=1,-1")
    assert refused.returncode == 1
    assert "--ensemble_weights=1,-1 holds a negative" in refused.stderr
    no_out = _run("gan_jax.evaluate", f"--workdir={setting_dir}@0")
    assert no_out.returncode == 1 and "--out=DIR is needed" in no_out.stderr
    assert not (tmp_path / "bad").exists()

    out = tmp_path / "eval"
    done = _run("gan_jax.evaluate", f"--workdir={workdir}", f"--out={out}",
                "--ensemble_weights=1,3", "--num_samples=40")
    assert done.returncode == 0, done.stderr[-3000:]
    [report] = out.glob("evaluation_*.json")
    measured = json.loads(report.read_text())
    assert [m["weight"] for m in measured["ensemble"]] == [0.25, 0.75]
    assert measured["num_generated"] == 40
    assert {"modes_covered", "high_quality_fraction", "reverse_kl"} <= set(measured)
    assert report.with_suffix(".png").exists()


@pytest.mark.slow
def test_members_beside_mixture_benchmark_prints_the_evaluations(toy_sweep,
                                                                 tmp_path):
    _, setting_dir = toy_sweep
    result = subprocess.run(
        [sys.executable, "benchmarks/ensemble_vs_members.py",
         f"--workdir={setting_dir}@0,{setting_dir}@1", f"--out={tmp_path}",
         "--num_samples=40"], capture_output=True, text=True, cwd=REPO,
        check=False, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:]
            for line in result.stdout.splitlines() if line.startswith("| ")}
    assert [c.split(" (")[0] for c in rows[""]] == ["member 0", "member 1",
                                                     "mixture of 2"]
    for column, folder in enumerate(("member_0", "member_1", "mixture")):
        [report] = (tmp_path / folder).glob("evaluation_*.json")
        measured = json.loads(report.read_text())
        for metric in ("modes_covered", "reverse_kl"):
            assert rows[metric][column].strip(" |") == f"{measured[metric]:.4g}"


@pytest.mark.slow
def test_sample_command_writes_which_member_drew_each_image(tmp_path):
    idx_dir, workdir = tmp_path / "idx", tmp_path / "run"
    idx_digits.write(idx_dir)
    config = config_files.load("dcgan_mnist", "tiny,offline")
    config.data.path, config.data.data_dir = str(idx_dir), str(tmp_path / "tfds")
    train.train_and_evaluate(config, workdir)
    alone, mixed = tmp_path / "alone", tmp_path / "mixed"
    for out, extra in ((alone, ()), (mixed, (f"--workdir={workdir},{workdir}",
                                             "--ensemble_weights=1,3"))):
        sampled = _run("gan_jax.sample", *(extra or (f"--workdir={workdir}",)),
                       "--num=8", f"--out={out}")
        assert sampled.returncode == 0, sampled.stderr[-3000:]
    with (mixed / "members.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["member"] for row in rows] == ["0"] * 2 + ["1"] * 6
    # Both members are the same generator: the mixture draws its images.
    for name in [row["file"] for row in rows]:
        assert (mixed / name).read_bytes() == (alone / name).read_bytes()
    assert not (alone / "members.csv").exists()
