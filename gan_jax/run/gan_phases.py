"""The compiled programs of a GAN run and the steps they run after.

Apart from the GAN task (`gan_jax.run.gan_task`) so that they can be built,
compiled and timed without its evaluation and data, which need TensorFlow
(`benchmarks/accelerator.py` times every phase on a host without it).
"""

import jax

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

    wrap = jax.vmap if vmapped else (lambda fn: fn)
    result = [Phase("train", wrap(train_step))]
    if spec.penalty.lazy_interval > 1:
        # A whole program every `lazy_interval` steps, none in between.
        result.append(Phase("regularizer", wrap(regularizer_step),
                            every=spec.penalty.lazy_interval, ends_step=False))
    # The tricks' lazy generator phases (StyleGAN2's path length); their
    # weights are constants of their programs.
    for trick, step_fn in experiment.generator_regularizers(spec):
        result.append(Phase(
            f"g_{trick.name}",
            wrap(lambda state, batch, key, numeric, step_fn=step_fn:
                 step_fn(state, batch, key)),
            every=trick.regularizer_interval(spec.tricks), ends_step=False))
    return tuple(result)
