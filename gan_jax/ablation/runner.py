"""Runs a sweep: each group of settings trains as one vmapped program, resumably.

    <workdir>/ablation.json               the ablation config
    <workdir>/groups/<key>/               a training group: group.json (its
                                          settings and seeds), checkpoints/ of
                                          the stacked states, history.json
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

from gan_jax import checkpoint
from gan_jax import compile_options
from gan_jax import evaluator
from gan_jax import experiment
from gan_jax import parallel
from gan_jax import visualize
from gan_jax.ablation import grid
from gan_jax.ablation import members as members_lib
from gan_jax.ablation import report
from gan_jax.data import input_pipeline
from gan_jax.spec import ablation as ablation_spec

ABLATION_FILE = "ablation.json"
RESULTS_FILE = "results.json"
HISTORY_FILE = "history.json"
TRAIN_CURVE_PREFIX = "train/"

History = dict[int, dict[str, list[float]]]  # step -> metric -> per-member values


def _setting_dir(workdir: epath.Path, setting: grid.Setting) -> epath.Path:
    return workdir / "settings" / setting.dirname


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


def _member_batches(dataset: tf.data.Dataset, config: ml_collections.ConfigDict,
                    seeds: tuple[int, ...], start_step: int):
    """`(K, n_critic, batch, ...)` host batches: member k gets the stream that
    a separate run with seed `seeds[k]` reads."""
    distinct = sorted(set(seeds))
    streams = input_pipeline.seeded_streams(
        dataset, config.data, n_critic=config.optim.n_critic, seeds=distinct,
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


def _evaluate_members(states, members: members_lib.Members, configs, step: int,
                      reference, *, draw: bool) -> list[evaluator.Evaluation]:
    """Each member's evaluation, as its separate run would make it; a member
    with non-finite parameters gets no image metrics (its samples are NaN)."""
    keys = members_lib.eval_keys(members)
    finite = np.asarray(members_lib.finite_members(states))
    return [evaluator.evaluate(members_lib.member_state(states, k), keys[k],
                               configs[k], step, reference if finite[k] else None,
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


def train_group(group: grid.Group, seeds: tuple[int, ...], workdir: epath.Path,
                label: str) -> None:
    """Trains every (setting, seed) of `group` as one vmapped program and
    writes each setting's results."""
    config = group.settings[0].config
    num_seeds = len(seeds)
    member_configs = [s.config for s in group.settings for _ in seeds]
    members = members_lib.create([seed for _ in group.settings for seed in seeds],
                                 [s.numeric() for s in group.settings for _ in seeds])
    group_dir = workdir / "groups" / group.key
    group_dir.mkdir(parents=True, exist_ok=True)
    is_writer = jax.process_index() == 0
    if is_writer:
        _write_json(group_dir / "group.json", {
            "settings": [s.name for s in group.settings], "seeds": list(seeds)})

    dataset, sample_shape = experiment.load_dataset(config)
    mesh = parallel.create_mesh()
    replicated = parallel.replicated(mesh)
    batch_sharding = parallel.batch_sharding(mesh, batch_axis=2)
    states = jax.device_put(members_lib.create_states(config, sample_shape, members),
                            replicated)
    manager = checkpoint.create_manager(group_dir, save_every=config.train.checkpoint_every,
                                        max_to_keep=1)
    states, start_step = checkpoint.restore_latest(manager, states)
    history = _load_history(group_dir / HISTORY_FILE, start_step)
    num_steps = config.train.num_steps
    if start_step:
        logging.info("%s: resuming from the checkpoint at step %d.", label, start_step)

    batches = input_pipeline.prefetch_to_device(
        _member_batches(dataset, config, members.seeds, start_step), batch_sharding)
    reference = (evaluator.prepare_reference(config, dataset)
                 if config.data.source != "toy" else None)
    # Jitted so that the metric shapes (eval_shape) and the compiled program
    # share one trace (JAX reuses a jitted function's trace for the same shapes).
    step_fn = jax.jit(members_lib.make_train_step(config))
    keys = jax.device_put(members_lib.train_keys(members), replicated)
    numeric = jax.device_put({f: jnp.asarray(v) for f, v in members.numeric.items()},
                             replicated)

    def step_and_accumulate(states, sums, batch, keys, numeric):
        states, metrics = step_fn(states, batch, keys, numeric)
        return states, jax.tree.map(jnp.add, sums, metrics)

    compiled = jax.jit(step_and_accumulate,
                       in_shardings=(replicated, replicated, batch_sharding,
                                     replicated, replicated),
                       out_shardings=(replicated, replicated), donate_argnums=(0, 1),
                       compiler_options=compile_options.for_training())
    regularizer_fn = members_lib.make_regularizer_step(config)
    compiled_regularizer = None
    if regularizer_fn is not None:
        compiled_regularizer = jax.jit(
            regularizer_fn, in_shardings=(replicated, batch_sharding, replicated,
                                          replicated),
            out_shardings=(replicated, replicated), donate_argnums=(0,),
            compiler_options=compile_options.for_training())
    batch_shape = (len(members.seeds), config.optim.n_critic, config.data.batch_size)
    example = {name: jax.ShapeDtypeStruct((*batch_shape, *spec.shape),
                                          spec.dtype.as_numpy_dtype)
               for name, spec in dataset.element_spec.items()}
    metric_shapes = jax.eval_shape(step_fn, states, example, keys, numeric)[1]
    zeros = lambda: jax.device_put(  # noqa: E731
        jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes), replicated)

    # TensorBoard only (the progress line is the log): one run per setting.
    writers = {s.name: (metric_writers.SummaryWriter(os.fspath(_setting_dir(workdir, s)))
                        if is_writer else metric_writers.MultiWriter([]))
               for s in group.settings}
    sums, window_start = zeros(), start_step
    rate_step, rate_time = start_step, time.time()
    diverged = np.zeros(len(members.seeds), bool)
    for step_values in history.values():
        for name, values in step_values.items():
            if name.startswith(TRAIN_CURVE_PREFIX):
                diverged |= ~np.isfinite(values)
    group_start = time.time()
    for step in range(start_step + 1, num_steps + 1):
        batch = next(batches)
        states, sums = compiled(states, sums, batch, keys, numeric)
        if (compiled_regularizer is not None
                and step % config.penalty.lazy_interval == 0):
            states, _ = compiled_regularizer(states, batch, keys, numeric)
        if step == start_step + 1:
            jax.block_until_ready(sums)
            logging.info("%s: compiled and ran the first step in %.1f s.", label,
                         time.time() - rate_time)
            rate_step, rate_time = step, time.time()
        last = step == num_steps
        if step % config.train.log_every == 0 or last:
            means = {n: np.asarray(v) / (step - window_start) for n, v in sums.items()}
            diverged |= ~np.all([np.isfinite(v) for v in means.values()], axis=0)
            _record(history, step, {TRAIN_CURVE_PREFIX + n: v for n, v in means.items()})
            _write_setting_means(writers, group, num_seeds, step, means, "train/")
            rate = (step - rate_step) / max(time.time() - rate_time, 1e-9)
            logging.info("%s: step %d/%d, %.1f steps/s (%.0f member-steps/s), "
                         "mean d_loss %.4g, g_loss %.4g, diverged %d/%d", label, step,
                         num_steps, rate, rate * len(members.seeds),
                         np.nanmean(means["d_loss"]), np.nanmean(means["g_loss"]),
                         diverged.sum(), len(diverged))
            sums, window_start = zeros(), step
            rate_step, rate_time = step, time.time()
        if step % config.train.eval_every == 0 and not last:
            scalars = _stack_scalars(_evaluate_members(
                states, members, member_configs, step, reference, draw=False))
            _record(history, step, scalars)
            _write_setting_means(writers, group, num_seeds, step, scalars, "eval/")
            rate_step, rate_time = step, time.time()  # Evaluation is not training.
        if step % config.train.checkpoint_every == 0 or last:
            if checkpoint.save(manager, step, states, force=last) and is_writer:
                _write_json(group_dir / HISTORY_FILE, history)
    manager.wait_until_finished()

    final_step = max(start_step, num_steps)
    evaluations = _evaluate_members(states, members, member_configs, final_step,
                                    reference, draw=True)
    scalars = _stack_scalars(evaluations)
    _record(history, final_step, scalars)
    _write_setting_means(writers, group, num_seeds, final_step, scalars, "eval/")
    for writer in writers.values():
        writer.close()
    diverged |= ~np.asarray(members_lib.finite_members(states))
    scalars["diverged"] = diverged.astype(np.float64)
    if is_writer:
        _write_results(workdir, group, seeds, evaluations, scalars, history,
                       time.time() - group_start)


def _report(workdir: epath.Path, all_settings: list[grid.Setting],
            num_seeds: int, *, write: bool) -> report.Table:
    rows, histories, train_histories, images = [], {}, {}, {}
    for setting in all_settings:
        setting_dir = _setting_dir(workdir, setting)
        saved = _read_json(setting_dir / RESULTS_FILE)
        rows.append(report.Row(setting.name, dict(setting.levels), saved["metrics"]))
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
    (workdir / "results.md").write_text(report.to_markdown(table, num_seeds))
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
    experiment.use_compilation_cache(ablation.experiment)
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
                   write=jax.process_index() == 0)
