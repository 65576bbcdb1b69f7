"""The image-to-image task: pix2pix, CycleGAN and SRGAN on the one loop.

Its phases are the task's adversarial step and, for SRGAN with
`objective.pretrain_steps`, the generator-only MSE pre-training over the
first steps (logged as `pretrain/...`). An evaluation runs the generators on
the held-out split: the task's measures (`gan_jax.image_to_image.measures`)
and a strip of inputs, outputs and targets; the untrained networks are
measured at step 0, where "falls" starts from.
"""

import functools

from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax import defaults as gan_defaults
from gan_jax import fields
from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.image_to_image import defaults
from gan_jax.image_to_image import experiment
from gan_jax.image_to_image import measures
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.image_to_image.spec import TranslationSpec
from gan_jax.run import experiment as gan_experiment
from gan_jax.run.phase import Phase
from gan_jax.run import run_dir
from gan_jax.run import task as task_lib


def state_parts(state) -> dict:
    """A `TranslationState`'s parts by the names a divergence message uses."""
    parts = {}
    for name, network in sorted(state.networks.items()):
        parts[f"{name} parameters"] = network.params
        parts[f"{name} optimizer state"] = network.opt_state
        parts[f"{name} BatchNorm statistics"] = network.batch_stats
    parts["history pools"] = state.pools
    return parts


_TWO_SOURCE_PAIRINGS = ("two_splits", "two_folders")


def example_batch_of(spec: TranslationSpec, data_spec: run_dir.DataSpec) -> dict:
    """A pipeline batch's shapes from the run's data spec."""
    names = ("x", "x_b") if spec.task.pairing in _TWO_SOURCE_PAIRINGS else ("x",)
    return {name: jax.ShapeDtypeStruct(
                (1, spec.data.batch_size, *data_spec.sample_shape), jnp.float32)
            for name in names}


def template_state(spec: TranslationSpec, data_spec: run_dir.DataSpec):
    """A state of the structure, shapes and dtypes a checkpoint of a run of
    `spec` on images of `data_spec` restores into."""
    return experiment.create_state(spec, example_batch_of(spec, data_spec),
                                   jax.random.key(0))


def state_layout(config: ml_collections.ConfigDict, data_spec: run_dir.DataSpec):
    """The state's leaves (path, shape, dtype), for the resume check;
    `config` is a recorded config (saved or current), so its spec is built
    here."""
    spec = translation_spec.build(config)
    abstract = jax.eval_shape(lambda: template_state(spec, data_spec))
    return [(jax.tree_util.keystr(path), leaf.shape, leaf.dtype)
            for path, leaf in jax.tree_util.tree_flatten_with_path(abstract)[0]]


def _ignore_numeric(step_fn):
    def step(state, batch, key, numeric):
        del numeric
        return step_fn(state, batch, key)
    return step


def phases(spec: TranslationSpec) -> tuple[Phase, ...]:
    by_name = experiment.phases(spec)
    pretrain_steps = spec.objective.pretrain_steps
    result = []
    if "pretrain" in by_name:
        result.append(Phase("pretrain", _ignore_numeric(by_name["pretrain"]),
                                 last_step=pretrain_steps, log_prefix="pretrain/"))
    result.append(Phase("train", _ignore_numeric(by_name["train"]),
                             first_step=pretrain_steps + 1))
    return tuple(result)


class HeldOutEvaluator:
    """The held-out measures, computed batch by batch with one jitted program."""

    def __init__(self, spec: TranslationSpec):
        self._images = experiment.held_out_images(spec)
        self._batch_size = spec.eval.batch_size
        self._strip_examples = spec.eval.strip_examples
        self._pair_halves = spec.task.pairing == "colourise"
        self._two_domains = spec.task.name == "cyclegan"
        make_examples = experiment.make_examples_fn(spec)
        measure = functools.partial(
            measures.measure, task=spec.task.name,
            pairing=spec.task.pairing, upscale=spec.task.upscale)
        self._measure = jax.jit(lambda state, batch: measure(
            state, make_examples(batch)))

    def __call__(self, state) -> evaluator.Evaluation:
        values, strips = {}, []
        for start in range(0, len(self._images["x"]), self._batch_size):
            batch = {name: images[start:start + self._batch_size]
                     for name, images in self._images.items()}
            if self._pair_halves:
                # Both halves show the same digits: B is A's ground truth.
                batch = {"x": np.concatenate([batch["x"], batch["x"]])}
            measured, rows = jax.device_get(self._measure(state, batch))
            for name, per_image in measured.items():
                values.setdefault(name, []).append(per_image)
            strips.append(rows)
        scalars = {name: float(np.mean(np.concatenate(parts)))
                   for name, parts in values.items()}
        rows, k = strips[0], self._strip_examples
        if self._two_domains:  # A's rows, then B's.
            half = len(rows) // 2
            rows = np.concatenate([rows[:min(k, half)], rows[half:half + k]])
        strip = measures.strip(rows if self._two_domains else rows[:k])
        return evaluator.Evaluation(scalars=scalars, images={"strip": strip})


def example_batch(spec: TranslationSpec, datasets) -> dict:
    return {name: jax.ShapeDtypeStruct(
                (1, spec.data.batch_size, *input_pipeline.sample_shape(dataset)),
                jnp.float32)
            for name, dataset in datasets.items()}


class TranslationTask(task_lib.Task):
    """One pix2pix, CycleGAN or SRGAN run in `workdir`.

    `config` is kept only to record it (config.json) and to check a resume
    against the saved one; everything else reads `spec`.
    """

    evaluates_at_start = True
    state_parts = staticmethod(state_parts)
    state_layout = staticmethod(state_layout)

    def __init__(self, config: ml_collections.ConfigDict, workdir: epath.PathLike):
        self.config = config
        self.workdir = epath.Path(workdir)
        self._evaluate = None

    def build_spec(self) -> None:
        fields.refuse_unknown_fields(
            self.config, defaults.base_config(self.config.task.name), "config",
            retired=gan_defaults.RETIRED_FIELDS)
        spec = self.spec = translation_spec.build(self.config)
        self.phases = phases(spec)
        self.describe_data = (f"{spec.data.name!r} ({spec.data.source}, split "
                              f"{spec.data.split!r})")

    def prepare(self) -> None:
        spec = self.spec
        self._init_key, self._train_key, _ = gan_experiment.run_keys(spec.seed)
        self._datasets = experiment.load_images(spec)
        self.example_batch = example_batch(spec, self._datasets)

    def default_config(self) -> ml_collections.ConfigDict:
        return defaults.base_config(self.spec.task.name)

    def create_state(self):
        return experiment.create_state(self.spec, self.example_batch,
                                       self._init_key)

    def data_spec(self) -> run_dir.DataSpec:
        return run_dir.DataSpec(tuple(self.example_batch["x"].shape[2:]), None)

    def host_batches(self, start_step: int):
        return experiment.train_batches(self.spec, self._datasets, start_step)

    def train_key(self):
        return self._train_key

    def evaluate(self, state, step: int, *, final: bool) -> evaluator.Evaluation:
        if self._evaluate is None:
            self._evaluate = HeldOutEvaluator(self.spec)
        return self._evaluate(state)
