"""The default image-to-image configs: each field declared once (type,
default, range, meaning) in gan_jax.image_to_image.spec, set here to the
paper's recipe for the task.

`base_config(task)` is what `configs/pix2pix_*.py`, `configs/cyclegan_*.py`
and `configs/srgan_*.py` start from: the paper's recipe for `task`, sized
down where the paper's networks would not train on a CPU in minutes (each
config says what it changed). `config.data` has the fields (and meanings) of
`gan_jax.defaults.base_config().data`, so every image source works here.
"""

import ml_collections

from gan_jax import defaults as gan_defaults
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.run import gan_spec

# Where the paper recipes (Isola et al. 2017; Zhu et al. 2017; Ledig et al.
# 2017) differ from the declared defaults (pix2pix's), by task.
_RECIPES = {
    "pix2pix": {},
    "cyclegan": {
        "task.pairing": "colourise", "model.g_downsamples": 2, "model.g_blocks": 9,
        "model.norm": "instance", "loss.name": "least_squares",
        "objective.discriminator_scale": 0.5, "optim.schedule": "linear_second_half"},
    "srgan": {
        "task.pairing": "downsample", "model.g_downsamples": 0, "model.g_blocks": 16,
        "optim.g_lr": 1e-4, "optim.d_lr": 1e-4, "optim.b1": 0.9},
}


def base_config(task: str) -> ml_collections.ConfigDict:
    if task not in _RECIPES:
        raise ValueError(f"Unknown image-to-image task {task!r}. Valid tasks: "
                         f"{', '.join(_RECIPES)}.")
    config = ml_collections.ConfigDict()
    config.task = translation_spec.Task.fill(ml_collections.ConfigDict())
    gan_spec.Run.fill(config)
    # The GAN data section, for images of a TFDS dataset held in memory.
    config.data = gan_defaults.base_config().data
    config.data.source = "tfds"
    config.data.name = "mnist"
    config.data.loader = "in_memory"
    config.data.batch_size = 32
    for name, section in translation_spec.SECTIONS.items():
        if name not in config:
            config[name] = section.fill(ml_collections.ConfigDict())
    # Shorter than a GAN run's loop.
    config.train.num_steps = 2_000
    config.train.log_every = 200
    config.train.eval_every = 500
    config.train.checkpoint_every = 500
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.task.name = task
    for field, value in _RECIPES[task].items():
        section, name = field.split(".")
        config[section][name] = value
    return config


def use_offline_mnist(config: ml_collections.ConfigDict) -> None:
    """The MNIST IDX files in `gan_jax.defaults.OFFLINE_MNIST_DIR` (their
    10,000 test images): the first 8,000 train, the last 2,000 are held out."""
    gan_defaults.use_offline_mnist(config)
    config.data.split = "test[:80%]"
    config.eval.split = "test[80%:]"


def make_tiny(config: ml_collections.ConfigDict) -> None:
    """A seconds-long smoke test of the same code."""
    config.data.batch_size = 4
    config.model.g_channels = config.model.d_channels = 4
    config.model.g_blocks = min(config.model.g_blocks, 1)
    config.model.d_dense_units = 8
    config.objective.pool_size = min(config.objective.pool_size, 3)
    config.objective.pretrain_steps = min(config.objective.pretrain_steps, 2)
    config.train.num_steps = 4
    config.train.log_every = config.train.eval_every = 2
    config.train.checkpoint_every = 2
    config.eval.num_examples = 16
    config.eval.batch_size = 8
    config.eval.strip_examples = 2
