"""K seeds trained together under `vmap` against the same K seeds one after another.

    PYTHONPATH=. python benchmarks/vmap_seeds.py --config=configs/ablation_grid25.py \
        --ks=1,4,16 --steps=400 --repeats=3

Uses the first setting of the ablation config (`--setting` picks another).
Both ways run the same train step for the same number of steps per seed on the
same batches, which are loaded onto the device before timing, so the figures
are the training programs' alone; compile time and state initialisation are
excluded (compile time is printed separately). Prints the median over `--repeats` of each timing and the
speed-up (sequential time / vmapped time).
"""

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags
import numpy as np

from gan_jax.data import input_pipeline
from gan_jax.run import compile_options
from gan_jax.run import experiment
from gan_jax.run import gan_data
from gan_jax.run import gan_phases
from gan_jax.sweep import grid
from gan_jax.sweep import members as members_lib
import timing

config_flags.DEFINE_config_file("config", "configs/ablation_grid25.py",
                                "An ablation config.", lock_config=True)
_KS = flags.DEFINE_list("ks", ["1", "4", "16"], "Numbers of seeds to compare.")
_STEPS = flags.DEFINE_integer("steps", 400, "Train steps per seed.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repeats (median reported).")
_SETTING = flags.DEFINE_integer("setting", 0, "Index of the grid setting to use.")


def _host_batches(dataset, spec, seeds, steps):
    streams = input_pipeline.seeded_streams(
        dataset, spec.data, n_critic=spec.optim.n_critic, seeds=seeds)
    return [[next(stream) for _ in range(steps)] for stream in streams]


def _vmapped(states, setting, per_seed, seeds, steps):
    members = members_lib.create(seeds, [setting.numeric()] * len(seeds))
    batches = [jax.device_put({name: np.stack([per_seed[k][i][name]
                                               for k in range(len(seeds))])
                               for name in per_seed[0][i]}) for i in range(steps)]
    keys = members_lib.train_keys(members)
    numeric = {f: jnp.asarray(v) for f, v in members.numeric.items()}
    step = jax.jit(gan_phases.phases(setting.spec, vmapped=True)[0].step_fn,
                   donate_argnums=0,
                   compiler_options=compile_options.for_training())

    def make_states():
        return jax.tree.map(jnp.copy, states)

    def run(states):
        for batch in batches:
            states, _ = step(states, batch, keys, numeric)
        return states
    compile_s = timing.compile_timed(step, make_states(), batches[0], keys,
                                     numeric).seconds
    return compile_s, timing.median_seconds(make_states, run, _REPEATS.value)


def _sequential(states, spec, per_seed, seeds, steps):
    batches = [[jax.device_put(b) for b in stream[:steps]] for stream in per_seed]
    step = jax.jit(experiment.make_train_step(spec), donate_argnums=0,
                   compiler_options=compile_options.for_training())
    keys = [experiment.run_keys(seed).train for seed in seeds]

    def make_states():
        return [jax.tree.map(jnp.copy, members_lib.member_state(states, k))
                for k in range(len(seeds))]

    def run(states):
        for state, key, seed_batches in zip(states, keys, batches):
            for batch in seed_batches:
                state, _ = step(state, batch, key)
            jax.block_until_ready(state)  # One run after another.
        return state
    compile_s = timing.compile_timed(step, make_states()[0], batches[0][0],
                                     keys[0]).seconds
    return compile_s, timing.median_seconds(make_states, run, _REPEATS.value)


def main(argv):
    del argv
    ablation = flags.FLAGS.config
    setting = grid.settings(ablation)[_SETTING.value]
    spec, steps = setting.spec, _STEPS.value
    dataset, sample_shape = gan_data.load_dataset(spec)
    print(f"Setting {setting.name}: {spec.data.name}, model {spec.model.name}, "
          f"batch {spec.data.batch_size}, n_critic {spec.optim.n_critic}; "
          f"{steps} steps per seed; {jax.device_count()} {jax.devices()[0].platform} "
          f"device(s); median of {_REPEATS.value}.")
    print("| K | vmapped s | sequential s | speed-up | vmapped member-steps/s | "
          "sequential member-steps/s | compile s (vmapped / single) |")
    print("|---|---|---|---|---|---|---|")
    for k in map(int, _KS.value):
        seeds = list(range(k))
        per_seed = _host_batches(dataset, spec, seeds, steps)
        # Every state below is a copy of these (member k's initial state is
        # what `create_state` gives seed k): fresh objects from `create_state`
        # would carry a new optimizer object, a new pytree structure and so a
        # recompilation inside the timed loop.
        states = members_lib.create_states(
            spec, sample_shape, members_lib.create(seeds, [setting.numeric()] * k))
        v_compile, v = _vmapped(states, setting, per_seed, seeds, steps)
        s_compile, s = _sequential(states, spec, per_seed, seeds, steps)
        print(f"| {k} | {v:.2f} | {s:.2f} | {s / v:.2f}x | {k * steps / v:.0f} | "
              f"{k * steps / s:.0f} | {v_compile:.1f} / {s_compile:.1f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
