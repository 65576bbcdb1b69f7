"""A GAN run's training data: the dataset its spec names, and one batch's shapes.

The only part of a GAN run that reads data, and so the only one that needs
TensorFlow (`gan_jax.data.input_pipeline`); the state, the steps and their
phases (`gan_jax.run.experiment`, `gan_jax.run.gan_phases`) do not.
"""

import dataclasses

import jax
import tensorflow as tf

from gan_jax.data import input_pipeline
from gan_jax.run import gan_spec


def _check_labels(spec: gan_spec.GanSpec, source: input_pipeline.Source) -> None:
    wanted = spec.model.num_classes
    if wanted and source.num_classes is None:
        raise ValueError(
            f"config.model.num_classes={wanted} asks for a conditional model, but "
            f"the dataset {spec.data.name!r} ({spec.data.source}) has no class "
            "labels. Set --config.model.num_classes=0 or use a labelled dataset.")
    if wanted and wanted != source.num_classes:
        raise ValueError(
            f"config.model.num_classes={wanted} does not match the "
            f"{source.num_classes} classes of the dataset {spec.data.name!r}. Set "
            f"--config.model.num_classes={source.num_classes}.")


def load_dataset(spec: gan_spec.GanSpec) -> tuple[tf.data.Dataset, tuple[int, ...]]:
    """This process's training examples and the shape of one sample.

    Labels are kept only for conditional models, and must then match
    `spec.model.num_classes`.
    """
    source = input_pipeline.load(spec.data)
    _check_labels(spec, source)
    dataset = source.dataset
    if not spec.model.num_classes and "label" in dataset.element_spec:
        dataset = dataset.map(lambda example: {"x": example["x"]})
    return dataset, input_pipeline.sample_shape(dataset)


def reference_dataset(spec: gan_spec.GanSpec,
                      training: tf.data.Dataset | None = None) -> tf.data.Dataset:
    """The examples whose first `eval.num_samples` images the metrics compare
    with: the training examples (`training` when already loaded), or with
    `eval.split` those of that split (of `data.classes` when set;
    `data.max_examples` limits only training)."""
    if spec.eval.split is None:
        return training if training is not None else input_pipeline.load(
            spec.data).dataset
    return input_pipeline.load(dataclasses.replace(
        spec.data, split=spec.eval.split, max_examples=None)).dataset


def example_batch(dataset, batch_size: int, n_critic: int, leading=()):
    """Shapes and dtypes of one train-step batch, from the element spec."""
    return {name: jax.ShapeDtypeStruct((*leading, n_critic, batch_size, *spec.shape),
                                       spec.dtype.as_numpy_dtype)
            for name, spec in dataset.element_spec.items()}
