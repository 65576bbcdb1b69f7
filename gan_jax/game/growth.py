"""Progressive growing (Karras et al. 2018, ICLR): the stage schedule and what
each stage's compiled programs see.

A run of `model.name=progressive` trains in stages of resolution
`start_resolution`, 2 `start_resolution`, ..., the image size. Stage 0 runs
`stable_steps` train steps; every later stage fades its new block in over
`fade_steps` steps, then trains `stable_steps` more; the last stage runs on
to the end of the run. Each stage is a range of train steps of the loop's
phases (`Phase.first_step` / `last_step`), its resolution a constant of its
programs, so each stage compiles once; the fade-in weight is computed inside
the program from the state's step counter t (completed train steps), so it
needs no recompilation:

    alpha(t) = clip((t - t_k) / fade_steps, 0, 1),

t_k the steps completed when stage k begins (alpha = 0 at its first step, as
the official code's level of detail is an integer there; 1 with
fade_steps = 0 and in stage 0). A checkpoint holds only the step, so a run
resumed anywhere, in the middle of a fade-in too, continues the same stage
with the same alpha.

The stage and alpha reach the networks through the state's `apply_fn`s
(`at_stage`): every objective, penalty and trick calls the networks through
them, so none of them knows about growing. Real images are shown to D as the
official code's `process_reals` shows them: their r x r box-filtered version,
during a fade-in blended with the r/2 one upsampled,
(1 - alpha) * up2(down2(x_r)) + alpha * x_r, then repeated up to the full size
(the networks' input and output size never changes, see
`gan_jax.models.progressive`).

With `model.stage_optimizer_reset` (the official code's `reset_opt_for_new_lod`,
on by default there and here) both players' Adam moments and bias-correction
count restart where a fade-in starts and where it ends (where the official
level of detail's floor or ceiling changes), so the new layers' first updates
have Adam's usual size (about the learning rate) instead of a ~1/sqrt(1 - b2)
times larger one from a second-moment estimate that starts at 0 long after
the bias correction has died out. The learning-rate schedule's count is kept.

An evaluation at step t draws the stage and alpha the next train step would
train (`evaluation_view`): derived from the step and the config's schedule,
not stored, so the state's layout is the fixed-resolution run's and no saved
number can disagree with the schedule. At a stage's last step that is the
next stage at alpha = 0, whose output is exactly the finished stage's.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp

from gan_jax.game.state import GANState
from gan_jax.models import progressive


@dataclasses.dataclass(frozen=True)
class Stage:
    """One resolution's range of loop steps (1-based, inclusive; `last_step`
    None: to the end) and its fade-in."""
    resolution: int
    first_step: int
    last_step: int | None
    fade_steps: int

    def alpha(self, completed_steps):
        """`alpha(t)` of the module docstring, float32 (t may be traced)."""
        if self.fade_steps == 0:
            return jnp.float32(1.0)
        t = jnp.asarray(completed_steps, jnp.float32)
        return jnp.clip((t - (self.first_step - 1)) / self.fade_steps, 0.0, 1.0)

    def holds(self, step: int) -> bool:
        return self.first_step <= step and (self.last_step is None
                                            or step <= self.last_step)


def stages(model_options, image_size: int | None) -> tuple[Stage, ...]:
    """The stages of `model_options` (`spec.model`, a progressive model's) for
    `image_size`-pixel images (`spec.data.image_size`: the run's programs are
    built before its data is read, so it must be set)."""
    if image_size is None:
        raise ValueError("--config.model.name=progressive grows to the image "
                         "size, which must be set: set --config.data.image_size, "
                         "e.g. --config.data.image_size=32.")
    resolutions = progressive.stage_resolutions(model_options.start_resolution,
                                                image_size)
    stable, fade = model_options.stable_steps, model_options.fade_steps
    result, first = [], 1
    for index, resolution in enumerate(resolutions):
        length = stable + (fade if index else 0)
        last = None if index == len(resolutions) - 1 else first + length - 1
        result.append(Stage(resolution, first, last, fade if index else 0))
        first += length
    return tuple(result)


def stage_at(all_stages: tuple[Stage, ...], step: int) -> Stage:
    """The stage that trains loop step `step` (>= 1)."""
    return next(stage for stage in all_stages if stage.holds(max(step, 1)))


def _staged(network, resolution: int, alpha):
    module = network.apply_fn.__self__.clone(resolution=resolution)
    # At alpha = 1 (a Python float) the bound method, equal for equal modules,
    # so programs jitted on the state (sampling) are reused between evaluations.
    if isinstance(alpha, float) and alpha == 1.0:
        return network.replace(apply_fn=module.apply)
    return network.replace(apply_fn=functools.partial(module.apply, alpha=alpha))


def at_stage(state: GANState, resolution: int, alpha) -> GANState:
    """`state` whose networks run at stage `resolution` with fade-in `alpha`
    (the state's own networks are the full-size ones `models.create` built)."""
    return state.replace(generator=_staged(state.generator, resolution, alpha),
                         discriminator=_staged(state.discriminator, resolution, alpha))


def _with_networks_of(state: GANState, original: GANState) -> GANState:
    return state.replace(
        generator=state.generator.replace(apply_fn=original.generator.apply_fn),
        discriminator=state.discriminator.replace(
            apply_fn=original.discriminator.apply_fn))


def stage_reals(x, stage: Stage, alpha, *, fades: bool):
    """Real images `(..., H, W, C)` as stage `stage` shows them (module
    docstring); `fades`: the stage has a previous one to blend with."""
    size = x.shape[-3]
    if stage.resolution == size and not fades:
        return x
    flat = x.reshape(-1, *x.shape[-3:])
    at_stage_size = progressive.downsample_box(flat, size // stage.resolution)
    if fades:
        previous = progressive.upsample_nearest(
            progressive.downsample_box(at_stage_size, 2), 2)
        at_stage_size = progressive.blend(previous, at_stage_size, alpha)
    return progressive.upsample_nearest(
        at_stage_size, size // stage.resolution).reshape(x.shape)


def _reset_adam(network, reset):
    """`network` with its Adam state (moments and count) restarted where
    `reset`; the injected hyperparameters and the schedule's count are kept
    (`gan_jax.run.experiment.create_optimizer`'s `inject_hyperparams`)."""
    fresh = network.tx.init(network.params).inner_state
    inner = jax.tree.map(lambda new, old: jnp.where(reset, new, old), fresh,
                         network.opt_state.inner_state)
    return network.replace(opt_state=network.opt_state._replace(inner_state=inner))


def reset_at_stage_changes(state: GANState, stage: Stage) -> GANState:
    """`state` with both optimizers restarted when its step counter is where
    `stage`'s fade-in starts or ends (module docstring)."""
    t = state.step
    reset = t == stage.first_step - 1
    if stage.fade_steps:
        reset = reset | (t == stage.first_step - 1 + stage.fade_steps)
    return state.replace(generator=_reset_adam(state.generator, reset),
                         discriminator=_reset_adam(state.discriminator, reset))


def stage_step(step_fn, stage: Stage, *, first: bool, ends_step: bool,
               reset_optimizers: bool = False):
    """`step_fn(state, batch, key, numeric)` of a phase, run at `stage`: the
    networks and real images of the stage, alpha from `state.step`; the
    returned state has the networks of the input state again (one structure
    for every program). A phase that ends the train step also logs
    "stage_resolution" and "stage_alpha" and, with `reset_optimizers` (not in
    the first stage), first restarts the optimizers at the stage's changes."""
    def run(state, batch, key, numeric):
        alpha = stage.alpha(state.step)
        if reset_optimizers and ends_step and not first:
            state = reset_at_stage_changes(state, stage)
        staged = at_stage(state, stage.resolution, alpha)
        batch = dict(batch, x=stage_reals(batch["x"], stage, alpha,
                                          fades=not first))
        new_state, metrics = step_fn(staged, batch, key, numeric)
        if ends_step:
            metrics = dict(metrics, stage_resolution=jnp.float32(stage.resolution),
                           stage_alpha=alpha)
        return _with_networks_of(new_state, state), metrics
    return run


def evaluation_view(state: GANState, model_options, image_size: int) -> GANState:
    """`state` with the networks of the stage and alpha the next train step
    trains (module docstring); `state.step` must be concrete."""
    all_stages = stages(model_options, image_size)
    completed = int(jax.device_get(state.step))
    stage = stage_at(all_stages, completed + 1)
    return at_stage(state, stage.resolution, float(stage.alpha(completed)))
