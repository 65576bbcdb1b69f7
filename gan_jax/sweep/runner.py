"""Runs a sweep: each group of settings trains as one vmapped program, resumably.

    <workdir>/ablation.json               the ablation config
    <workdir>/groups/<key>/               a training group: group.json (its
                                          settings and seeds), data_spec.json,
                                          checkpoints/ of the stacked states,
                                          history.json
    <workdir>/settings/<setting>/         a finished setting: results.json
                                          (per-seed final metrics), history.json,
                                          samples_seed<S>.png, TensorBoard events
    <workdir>/results.md, results.csv     the table (also printed)
    <workdir>/curves.png                  evaluation metrics vs step
    <workdir>/train_curves.png            training losses and gradient norms
    <workdir>/samples.png                 each setting's final samples (first seed)

A setting is finished when its `results.json` exists for the same config and
seeds; a rerun skips it. An interrupted group resumes from its newest
checkpoint. A diverged seed does not stop the sweep: it is recorded
(`diverged` = 1) and its metrics are whatever its samples score.
"""

import json
import os
import time

from absl import logging
from clu import metric_writers
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tensorflow as tf

from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import visualize
from gan_jax.run import gan_data
from gan_jax.run import gan_phases
from gan_jax.run import gan_spec
from gan_jax.run import gan_task
from gan_jax.run import loop
from gan_jax.run import run_dir
from gan_jax.run import task as task_lib
from gan_jax.sweep import grid
from gan_jax.sweep import members as members_lib
from gan_jax.sweep import report
from gan_jax.sweep import spec as ablation_spec

ABLATION_FILE = "ablation.json"
GROUPS_DIR = "groups"
GROUP_FILE = "group.json"
SETTINGS_DIR = "settings"
RESULTS_FILE = "results.json"
HISTORY_FILE = "history.json"
TRAIN_CURVE_PREFIX = "train/"

History = dict[int, dict[str, list[float]]]  # step -> metric -> per-member values


def _setting_dir(workdir: epath.Path, setting: grid.Setting) -> epath.Path:
    return workdir / SETTINGS_DIR / setting.dirname


def _read_json(path: epath.Path):
    return json.loads(path.read_text())


def _write_json(path: epath.Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / (path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    tmp.replace(path)  # Atomic: a reader never sees half a file.


def is_finished(workdir: epath.Path, setting: grid.Setting,
                seeds: tuple[int, ...]) -> bool:
    """Whether `setting` has results for these seeds and this exact config."""
    path = _setting_dir(workdir, setting) / RESULTS_FILE
    if not path.exists():
        return False
    saved = _read_json(path)
    if saved["config"] != setting.config.to_json(sort_keys=True) or \
            saved["seeds"] != list(seeds):
        raise ValueError(
            f"{path} holds results of a different config or seeds for setting "
            f"{setting.name}. Use a new --workdir for a changed sweep, or delete "
            f"{path.parent} to rerun that setting.")
    return True


def _member_batches(dataset: tf.data.Dataset, spec: gan_spec.GanSpec,
                    seeds: tuple[int, ...], start_step: int):
    """`(K, n_critic, batch, ...)` host batches: member k gets the stream that
    a separate run with seed `seeds[k]` reads."""
    distinct = sorted(set(seeds))
    streams = input_pipeline.seeded_streams(
        dataset, spec.data, n_critic=spec.optim.n_critic, seeds=distinct,
        start_step=start_step)
    index = np.array([distinct.index(seed) for seed in seeds])
    for per_seed in zip(*streams):
        yield {name: np.stack([batch[name] for batch in per_seed])[index]
               for name in per_seed[0]}


def _by_setting(history: History, group: grid.Group, num_seeds: int
                ) -> dict[str, History]:
    """Splits per-member history into per-setting, per-seed history."""
    result = {}
    for i, setting in enumerate(group.settings):
        members = slice(i * num_seeds, (i + 1) * num_seeds)
        result[setting.name] = {step: {m: values[members] for m, values in metrics.items()}
                                for step, metrics in history.items()}
    return result


def _load_history(path: epath.Path, up_to: int) -> History:
    if not path.exists():
        return {}
    return {int(step): metrics for step, metrics in _read_json(path).items()
            if int(step) <= up_to}


def _record(history: History, step: int, values: dict[str, np.ndarray]) -> None:
    entry = history.setdefault(step, {})
    for name, per_member in values.items():
        entry[name] = [float(v) for v in np.asarray(per_member)]


def _write_setting_means(writers, group: grid.Group, num_seeds: int, step: int,
                         values: dict[str, np.ndarray], prefix: str) -> None:
    for i, setting in enumerate(group.settings):
        members = slice(i * num_seeds, (i + 1) * num_seeds)
        writers[setting.name].write_scalars(step, {
            prefix + name: float(np.mean(np.asarray(v)[members]))
            for name, v in values.items()})


def _evaluate_members(states, members: members_lib.Members,
                      specs: list[gan_spec.GanSpec], step: int, reference, *,
                      draw: bool) -> list[evaluator.Evaluation]:
    """Each member's evaluation, as its separate run would make it; a member
    with non-finite parameters gets no image metrics (its samples are NaN)."""
    keys = members_lib.eval_keys(members)
    finite = np.asarray(members_lib.finite_members(states))
    return [evaluator.evaluate(members_lib.member_state(states, k), keys[k],
                               specs[k], step, reference if finite[k] else None,
                               draw=draw)
            for k in range(len(members.seeds))]


def _stack_scalars(evaluations: list[evaluator.Evaluation]) -> dict[str, np.ndarray]:
    """metric -> (K,) values; NaN where a member has no value."""
    names = list(dict.fromkeys(n for e in evaluations for n in e.scalars))
    return {n: np.array([e.scalars.get(n, np.nan) for e in evaluations])
            for n in names}


def _write_results(workdir: epath.Path, group: grid.Group, seeds: tuple[int, ...],
                   evaluations: list[evaluator.Evaluation],
                   scalars: dict[str, np.ndarray], history: History,
                   wall_seconds: float) -> None:
    num_seeds = len(seeds)
    per_setting_history = _by_setting(history, group, num_seeds)
    for i, setting in enumerate(group.settings):
        members = slice(i * num_seeds, (i + 1) * num_seeds)
        setting_dir = _setting_dir(workdir, setting)
        for seed, evaluation in zip(seeds, evaluations[members]):
            for name, image in evaluation.images.items():
                visualize.save_png(image, setting_dir / f"{name}_seed{seed}.png")
        _write_json(setting_dir / HISTORY_FILE, per_setting_history[setting.name])
        # Written last: its existence marks the setting finished.
        _write_json(setting_dir / RESULTS_FILE, {
            "setting": setting.name, "levels": dict(setting.levels),
            "seeds": list(seeds), "config": setting.config.to_json(sort_keys=True),
            "metrics": {n: [float(v) for v in values[members]]
                        for n, values in scalars.items()},
            "group_wall_seconds": wall_seconds})


class _GroupTask(task_lib.Task):
    """A group's (setting, seed) members as one task on the one loop: the GAN
    task's phases under `vmap`, states stacked on a member axis.

    A diverged member does not stop the sweep: the loop's guard records it
    (`diverged_members`) and the others train on.
    """

    batch_axis = 2  # (K, n_critic, batch, ...)
    max_checkpoints = 1
    state_parts = staticmethod(gan_task.state_parts)

    def __init__(self, group: grid.Group, seeds: tuple[int, ...],
                 workdir: epath.Path, label: str):
        self.group, self.seeds, self.workdir = group, seeds, workdir
        # The settings' specs differ only in the members' numbers, which the
        # phases take as (traced) arguments: the first setting's spec serves
        # the whole group. results.json records each setting's config.
        self.spec = spec = group.settings[0].spec
        self.log_label = f"{label}: "
        self.describe_data = f"{spec.data.name!r} ({spec.data.source})"
        self._member_specs = [s.spec for s in group.settings for _ in seeds]
        self._members = members_lib.create(
            [seed for _ in group.settings for seed in seeds],
            [s.numeric() for s in group.settings for _ in seeds])
        self.members = len(self._members.seeds)
        self.phases = gan_phases.phases(spec, vmapped=True)
        self._group_dir = workdir / GROUPS_DIR / group.key
        self._is_writer = jax.process_index() == 0

    @property
    def checkpoint_root(self) -> epath.Path:
        return self._group_dir

    def build_spec(self) -> None:
        """The sweep's spec built and checked every setting's, before any run."""

    def check_workdir(self) -> None:
        """Nothing to check: a group's directory is named by a hash of its
        shared config, settings and seeds (`grid.Group.key`), so a
        checkpoint found there is this group's."""

    def prepare(self) -> None:
        spec = self.spec
        self._dataset, self._sample_shape = gan_data.load_dataset(spec)
        self.example_batch = gan_data.example_batch(
            self._dataset, spec.data.batch_size, spec.optim.n_critic,
            leading=(self.members,))
        self._reference = (evaluator.prepare_reference(
            spec, gan_data.reference_dataset(spec, self._dataset))
            if spec.data.source != "toy" else None)

    def create_state(self):
        return members_lib.create_states(self.spec, self._sample_shape,
                                         self._members)

    def write_run_files(self, start_step: int) -> None:
        _write_json(self._group_dir / GROUP_FILE, {
            "settings": [s.name for s in self.group.settings],
            "seeds": list(self.seeds)})
        # What sampling a member needs without the data (gan_jax.ensemble).
        run_dir.write_data_spec(self._group_dir, run_dir.DataSpec(
            self._sample_shape, self.spec.model.num_classes or None))

    def start(self, start_step: int) -> None:
        self._history = _load_history(self._group_dir / HISTORY_FILE, start_step)
        self._diverged = np.zeros(self.members, bool)
        for step_values in self._history.values():
            for name, values in step_values.items():
                if name.startswith(TRAIN_CURVE_PREFIX):
                    self._diverged |= ~np.isfinite(values)
        self._rate = (start_step, time.time())
        self._start = time.time()

    def host_batches(self, start_step: int):
        return _member_batches(self._dataset, self.spec, self._members.seeds,
                               start_step)

    def train_key(self):
        return members_lib.train_keys(self._members)

    def numeric(self):
        return {f: jnp.asarray(v) for f, v in self._members.numeric.items()}

    def create_writer(self):
        # TensorBoard: one run per setting (the progress line is the log).
        self._writers = {
            s.name: (metric_writers.SummaryWriter(os.fspath(_setting_dir(self.workdir, s)))
                     if self._is_writer else metric_writers.MultiWriter([]))
            for s in self.group.settings}
        return metric_writers.MultiWriter([])

    def write_train_metrics(self, writer, step, means, diverged_members) -> None:
        del writer
        means = {n: np.asarray(v) for n, v in means.items() if np.ndim(v)}
        self._diverged |= ~np.all([np.isfinite(v) for v in means.values()], axis=0)
        if diverged_members is not None:
            self._diverged |= diverged_members
        _record(self._history, step,
                {TRAIN_CURVE_PREFIX + n: v for n, v in means.items()})
        _write_setting_means(self._writers, self.group, len(self.seeds), step,
                             means, "train/")
        last_step, last_time = self._rate
        rate = (step - last_step) / max(time.time() - last_time, 1e-9)
        logging.info("%sstep %d/%d, %.1f steps/s (%.0f member-steps/s), mean "
                     "d_loss %.4g, g_loss %.4g, diverged %d/%d", self.log_label,
                     step, self.spec.train.num_steps, rate, rate * self.members,
                     np.nanmean(means["d_loss"]), np.nanmean(means["g_loss"]),
                     self._diverged.sum(), self.members)
        self._rate = (step, time.time())

    def evaluate(self, state, step: int, *, final: bool):
        return _evaluate_members(state, self._members, self._member_specs, step,
                                 self._reference, draw=final)

    def write_evaluation(self, writer, evaluation, step: int) -> None:
        del writer
        scalars = _stack_scalars(evaluation)
        _record(self._history, step, scalars)
        _write_setting_means(self._writers, self.group, len(self.seeds), step,
                             scalars, "eval/")
        self._rate = (step, time.time())  # Evaluation is not training.

    def after_save(self, step: int) -> None:
        if self._is_writer:
            _write_json(self._group_dir / HISTORY_FILE, self._history)

    def finish(self, state, step, writer, diverged_members):
        evaluations = self.evaluate(state, step, final=True)
        self.write_evaluation(writer, evaluations, step)
        for setting_writer in self._writers.values():
            setting_writer.close()
        if diverged_members is not None:
            self._diverged |= diverged_members
        self._diverged |= ~np.asarray(members_lib.finite_members(state))
        scalars = _stack_scalars(evaluations)
        scalars["diverged"] = self._diverged.astype(np.float64)
        if self._is_writer:
            _write_results(self.workdir, self.group, self.seeds, evaluations,
                           scalars, self._history, time.time() - self._start)
        return None


def train_group(group: grid.Group, seeds: tuple[int, ...], workdir: epath.Path,
                label: str) -> None:
    """Trains every (setting, seed) of `group` as one vmapped program and
    writes each setting's results. Resumes from the group's checkpoint;
    SIGTERM/SIGINT saves one and raises `preemption.TrainingInterrupted`."""
    loop.run(_GroupTask(group, seeds, workdir, label))


def _report(workdir: epath.Path, all_settings: list[grid.Setting],
            num_seeds: int, *, write: bool,
            published: tuple[tuple[str, dict[str, float]], ...] = ()) -> report.Table:
    rows, histories, train_histories, images = [], {}, {}, {}
    for setting in all_settings:
        setting_dir = _setting_dir(workdir, setting)
        saved = _read_json(setting_dir / RESULTS_FILE)
        rows.append(report.Row(setting.name, dict(setting.levels), saved["metrics"],
                               tuple(saved["seeds"])))
        history = {int(s): m for s, m in _read_json(setting_dir / HISTORY_FILE).items()}
        histories[setting.name] = {s: {n: v for n, v in m.items()
                                       if not n.startswith(TRAIN_CURVE_PREFIX)}
                                   for s, m in history.items()}
        train_histories[setting.name] = {
            s: {n[len(TRAIN_CURVE_PREFIX):]: v for n, v in m.items()
                if n.startswith(TRAIN_CURVE_PREFIX)} for s, m in history.items()}
        first_samples = setting_dir / f"samples_seed{saved['seeds'][0]}.png"
        if first_samples.exists():
            images[setting.name] = visualize.read_png(first_samples)
    table = report.summarize(rows)
    if not write:
        return table
    (workdir / "results.md").write_text(report.to_markdown(table, num_seeds, published) + "\n"
                                        + report.to_markdown_per_seed(table))
    (workdir / "results.csv").write_text(report.to_csv(table))
    report.plot_curves(histories, workdir / "curves.png")
    report.plot_curves(train_histories, workdir / "train_curves.png")
    report.plot_samples(images, workdir / "samples.png")
    return table


def run_sweep(ablation: ml_collections.ConfigDict, workdir: epath.PathLike,
              train_group_fn=train_group) -> report.Table:
    """Trains every unfinished setting of `ablation` and writes the report.

    Returns:
      The results table (also in `<workdir>/results.md` and `results.csv`).
    """
    spec = ablation_spec.build(ablation)  # Every setting checked, before any work.
    seeds, all_settings = spec.seeds, list(spec.settings)
    all_groups = grid.groups(all_settings, seeds)
    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if jax.process_index() == 0:
        (workdir / ABLATION_FILE).write_text(ablation.to_json_best_effort(indent=2) + "\n")
    logging.info("%d settings x %d seeds = %d runs, in %d compiled groups.",
                 len(all_settings), len(seeds), len(all_settings) * len(seeds),
                 len(all_groups))
    for i, group in enumerate(all_groups):
        names = ", ".join(s.name for s in group.settings)
        label = f"group {i + 1}/{len(all_groups)} [{names}]"
        if all(is_finished(workdir, s, seeds) for s in group.settings):
            logging.info("%s: finished earlier, skipped.", label)
            continue
        start = time.time()
        train_group_fn(group, seeds, workdir, label)
        logging.info("%s: done in %.0f s.", label, time.time() - start)
    return _report(workdir, all_settings, len(seeds),
                   write=jax.process_index() == 0, published=spec.published)
