"""The names of the data sources and loaders, without TensorFlow.

The run's spec (`gan_jax.run.gan_spec`) checks `config.data.source` and
`config.data.loader` against these, so the compute path (models, steps,
state) never imports TensorFlow; `gan_jax.data.input_pipeline` reads each
source and checks its table of readers against `SOURCES`.
"""

# toy: a 2-D mixture built locally; tfds: any TFDS dataset by name; idx:
# MNIST-format IDX files; folder: image files, one sub-folder per class;
# stacked_mnist: three digits as RGB.
SOURCES = ("toy", "tfds", "idx", "folder", "stacked_mnist")
# tf_data: a shuffle buffer over a tf.data stream; in_memory: the split held
# in host memory and permuted every epoch (gan_jax.data.in_memory).
LOADERS = ("tf_data", "in_memory")


def check_loader(name: str) -> None:
    if name not in LOADERS:
        raise ValueError(f"Unknown data loader {name!r}. Valid loaders: "
                         f"{', '.join(LOADERS)}. Set --config.data.loader.")
