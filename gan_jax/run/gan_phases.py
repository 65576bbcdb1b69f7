"""The compiled programs of a GAN run and the steps they run after.

Apart from the GAN task (`gan_jax.run.gan_task`) so that they can be built,
compiled and timed without its evaluation and data, which need TensorFlow
(`benchmarks/accelerator.py` times every phase on a host without it).
"""

import dataclasses

import jax

from gan_jax.game import growth
from gan_jax.run import experiment
from gan_jax.run import gan_spec
from gan_jax.run.phase import Phase


def phases(spec: gan_spec.GanSpec, *, vmapped: bool = False) -> tuple[Phase, ...]:
    """The GAN's phases; `vmapped`: over members stacked on axis 0 (each
    with its own key and numbers).

    The penalty weight and label smoothing are arguments of the compiled
    programs (`numeric`), so the objectives are built inside each trace.
    """

    def train_step(state, batch, key, numeric):
        return experiment.make_train_step(
            spec, penalty_weight=numeric["penalty.weight"],
            label_smoothing=numeric["loss.label_smoothing"])(state, batch, key)

    def regularizer_step(state, batch, key, numeric):
        return experiment.make_regularizer_step(
            spec, penalty_weight=numeric["penalty.weight"])(state, batch, key)

    result = [Phase("train", train_step)]
    if spec.penalty.lazy_interval > 1:
        # A whole program every `lazy_interval` steps, none in between.
        result.append(Phase("regularizer", regularizer_step,
                            every=spec.penalty.lazy_interval, ends_step=False))
    # The tricks' lazy generator phases (StyleGAN2's path length); their
    # weights are constants of their programs.
    for trick, step_fn in experiment.generator_regularizers(spec):
        result.append(Phase(
            f"g_{trick.name}",
            lambda state, batch, key, numeric, step_fn=step_fn:
                step_fn(state, batch, key),
            every=trick.regularizer_interval(spec.tricks), ends_step=False))
    if spec.model.name == "progressive":
        result = _stage_phases(spec, result)
    wrap = jax.vmap if vmapped else (lambda fn: fn)
    return tuple(dataclasses.replace(phase, step_fn=wrap(phase.step_fn))
                 for phase in result)


def _stage_phases(spec: gan_spec.GanSpec, phases: list[Phase]) -> list[Phase]:
    """Each phase once per stage of progressive growing (`gan_jax.game.growth`),
    limited to the stage's steps, named `<phase>_<r>x<r>`. A stage that would
    start after the run's last step is left out: nothing compiles for it."""
    all_stages = growth.stages(spec.model, spec.data.image_size)
    result = []
    for index, stage in enumerate(all_stages):
        if index and stage.first_step > spec.train.num_steps:
            break
        for phase in phases:
            result.append(dataclasses.replace(
                phase, name=f"{phase.name}_{stage.resolution}x{stage.resolution}",
                step_fn=growth.stage_step(
                    phase.step_fn, stage, first=index == 0, ends_step=phase.ends_step,
                    reset_optimizers=spec.model.stage_optimizer_reset),
                first_step=stage.first_step, last_step=stage.last_step))
    return result
