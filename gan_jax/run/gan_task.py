"""The GAN task: an unconditional or conditional GAN on points or images.

Its phases are the train step (`n_critic` discriminator updates and one
generator update, `gan_jax.game.steps.train_step`) and, with
`penalty.lazy_interval > 1`, the lazy regulariser after every
`lazy_interval`-th step (Karras et al. 2020), built by
`gan_jax.run.gan_phases`. An evaluation measures and draws the EMA generator
(`gan_jax.evaluation.evaluator`); an image run ends with interpolation strips
and a GIF of its sample grids.
"""

from etils import epath
import jax
import ml_collections

from gan_jax import defaults
from gan_jax import fields
from gan_jax.data import input_pipeline
from gan_jax.evaluation import evaluator
from gan_jax.evaluation import visualize
from gan_jax.run import experiment
from gan_jax.run import gan_data
from gan_jax.run import gan_phases
from gan_jax.run import gan_spec
from gan_jax.run import init_from_run
from gan_jax.run import run_dir
from gan_jax.run import task as task_lib


def state_parts(state) -> dict:
    """A `GANState`'s parts by the names a divergence message uses."""
    return {
        "generator parameters": state.generator.params,
        "generator optimizer state": state.generator.opt_state,
        "generator BatchNorm statistics": state.generator.batch_stats,
        "discriminator parameters": state.discriminator.params,
        "discriminator optimizer state": state.discriminator.opt_state,
        "discriminator BatchNorm statistics": state.discriminator.batch_stats,
        "EMA generator parameters": state.ema_params,
        "trick statistics": state.tricks,
    }


def template_state(spec: gan_spec.GanSpec, data_spec: run_dir.DataSpec):
    """A state of the structure, shapes and dtypes a checkpoint of a run of
    `spec` on data of `data_spec` restores into."""
    return experiment.create_state(spec, data_spec.sample_shape, jax.random.key(0))


def state_layout(config: ml_collections.ConfigDict, data_spec: run_dir.DataSpec):
    """The state's leaves (path, shape, dtype), for the resume check.

    `config` is a recorded config (the saved one or the current one), so its
    spec is built here. Paths, not the treedef: the state also holds static
    fields (the optimizer functions), which differ between any two builds.
    """
    spec = gan_spec.build(config, check_devices=False)
    abstract = jax.eval_shape(lambda: template_state(spec, data_spec))
    return [(jax.tree_util.keystr(path), leaf.shape, leaf.dtype)
            for path, leaf in jax.tree_util.tree_flatten_with_path(abstract)[0]]


_NOT_READ = object()


class GANTask(task_lib.Task):
    """One GAN run in `workdir` (see the module docstring).

    `config` is kept only to record it (config.json) and to check a resume
    against the saved one; everything else reads `spec`.
    """

    state_parts = staticmethod(state_parts)
    state_layout = staticmethod(state_layout)
    default_config = staticmethod(defaults.base_config)

    def __init__(self, config: ml_collections.ConfigDict, workdir: epath.PathLike):
        self.config = config
        self.workdir = epath.Path(workdir)
        self._reference = _NOT_READ
        self._init_source = None  # The run fine-tuning starts from (check_workdir).

    def build_spec(self) -> None:
        fields.refuse_unknown_fields(self.config, defaults.base_config(), "config",
                                     retired=defaults.RETIRED_FIELDS)
        spec = self.spec = gan_spec.build(self.config)
        self.phases = gan_phases.phases(spec)
        self.describe_data = (f"{spec.data.name!r} ({spec.data.source}, split "
                              f"{spec.data.split!r})")

    def prepare(self) -> None:
        spec = self.spec
        keys = experiment.run_keys(spec.seed)
        self._init_key, self._train_key, self._eval_key = keys
        self._dataset, self._sample_shape = gan_data.load_dataset(spec)
        self.example_batch = gan_data.example_batch(
            self._dataset, spec.data.batch_size, spec.optim.n_critic)

    def check_workdir(self) -> None:
        super().check_workdir()
        # A run with checkpoints of its own resumes from them: what it
        # started from is not read again (and may be gone).
        init = self.spec.init
        if init.from_workdir is not None and not run_dir.has_checkpoints(self.workdir):
            self._init_source = init_from_run.open_source(init, self.workdir)
            init_from_run.check_shapes(self._init_source,
                                       jax.eval_shape(self.create_state),
                                       self.config, init)

    def create_state(self):
        return experiment.create_state(self.spec, self._sample_shape,
                                       self._init_key)

    def initialize(self, fresh):
        if self._init_source is None:
            return fresh
        return init_from_run.initialize(fresh, self._init_source, self.spec.init)

    def write_run_files(self, start_step: int) -> None:
        super().write_run_files(start_step)
        if self._init_source is not None:
            run_dir.write_init_record(
                self.workdir, self._init_source.record(self.spec.init))

    def adopt(self, restored, fresh):
        # The config's learning rates apply, not the ones saved.
        return experiment.adopt_hyperparameters(restored, fresh)

    def data_spec(self) -> run_dir.DataSpec:
        return run_dir.DataSpec(self._sample_shape,
                                self.spec.model.num_classes or None)

    def host_batches(self, start_step: int):
        [batches] = input_pipeline.seeded_streams(
            self._dataset, self.spec.data, n_critic=self.spec.optim.n_critic,
            seeds=[self.spec.seed], start_step=start_step)
        return batches

    def train_key(self):
        return self._train_key

    def numeric(self):
        return experiment.numeric_hyperparameters(self.spec)

    def _image_reference(self):
        """The real images' features, read at the first evaluation; None for
        points, or when the metrics are off (warned about once)."""
        if self._reference is _NOT_READ:
            spec = self.spec
            self._reference = (evaluator.prepare_reference(
                spec, gan_data.reference_dataset(spec, self._dataset))
                if spec.data.source != "toy" else None)
        return self._reference

    def evaluate(self, state, step: int, *, final: bool) -> evaluator.Evaluation:
        return evaluator.evaluate(state, self._eval_key, self.spec, step,
                                  self._image_reference())

    def finish(self, state, step, writer, diverged_members):
        scalars = super().finish(state, step, writer, diverged_members)
        if self.spec.data.source != "toy":
            self._write_final_pictures(writer, state, step)
        return scalars

    def _write_final_pictures(self, writer, state, step: int) -> None:
        """The interpolation strips and a GIF of the grids over training.

        The GIF is assembled from the PNG files on disk, so a resumed run's
        animation includes the grids written before the interruption.
        """
        key, spec = self._eval_key, self.spec
        strips = evaluator.interpolation_strips(
            evaluator.evaluation_state(state, key, spec), key, spec)
        writer.write_images(step, {"eval/interpolation": strips[None]})
        if jax.process_index() == 0:
            visualize.save_png(strips, self.samples_dir /
                               f"interpolation_{step:07d}.png")
            frames = [visualize.read_png(path)
                      for path in sorted(self.samples_dir.glob("samples_*.png"))]
            if frames:
                visualize.save_gif(frames, self.samples_dir / "progress.gif")
