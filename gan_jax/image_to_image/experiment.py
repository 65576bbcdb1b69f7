"""From a translation spec to what the loop runs: data, initial state,
frozen content features and the bound step functions (the spec is built and
checked by gan_jax.image_to_image.spec)."""

import dataclasses
import functools
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow as tf
import tensorflow_datasets as tfds

from gan_jax import losses
from gan_jax.data import input_pipeline
from gan_jax.game.state import copy_tree
from gan_jax.image_to_image import history_pool
from gan_jax.image_to_image import networks
from gan_jax.image_to_image import objectives
from gan_jax.image_to_image import pairings
from gan_jax.image_to_image import spec as translation_spec
from gan_jax.image_to_image import steps
from gan_jax.image_to_image.spec import TranslationSpec
from gan_jax.image_to_image.state import init_network
from gan_jax.image_to_image.state import TranslationState
from gan_jax.run import experiment as gan_experiment

def _images(spec: TranslationSpec, split: str) -> dict[str, tf.data.Dataset]:
    """`{"x": images}`, or for two_folders `{"x": domain A, "x_b": domain B}`."""
    source = input_pipeline.load(dataclasses.replace(spec.data, split=split))
    if spec.task.pairing != "two_folders":
        return {"x": source.dataset.map(lambda example: {"x": example["x"]})}
    if source.num_classes != 2:
        raise ValueError(
            f"The two_folders pairing needs a folder with exactly two "
            f"sub-folders, A and B (sorted by name), in {spec.data.path!r}; it "
            f"has {source.num_classes or 0}. Set --config.data.path.")
    return {name: source.dataset.filter(lambda e, label=label: e["label"] == label)
                                .map(lambda e: {"x": e["x"]})
            for name, label in (("x", 0), ("x_b", 1))}


def load_images(spec: TranslationSpec) -> dict[str, tf.data.Dataset]:
    """The training images: {"x"} and, unpaired from two sources, {"x_b"}
    (domain B)."""
    datasets = _images(spec, spec.data.split)
    if spec.task.pairing == "two_splits":
        datasets["x_b"] = _images(spec, spec.task.split_b)["x"]
    return datasets


def train_batches(spec: TranslationSpec, datasets,
                  start_step: int) -> Iterator[dict[str, np.ndarray]]:
    """Host batches `{"x": (1, B, H, W, C), ...}` from step `start_step` on;
    domain B is shuffled with its own seed, so A and B never pair up."""
    streams = {name: input_pipeline.seeded_streams(
                   dataset, spec.data, n_critic=1, seeds=[spec.seed + index],
                   start_step=start_step)[0]
               for index, (name, dataset) in enumerate(datasets.items())}
    while True:
        batches = {name: next(stream) for name, stream in streams.items()}
        yield {name: batch["x"] for name, batch in batches.items()}


def held_out_images(spec: TranslationSpec) -> dict[str, np.ndarray]:
    """The first `eval.num_examples` images of the held-out split(s)."""
    datasets = _images(spec, spec.eval.split)
    if spec.task.pairing == "two_splits":
        datasets["x_b"] = _images(spec, spec.eval.split_b)["x"]
    images = {}
    for name, dataset in datasets.items():
        examples = [example["x"] for example in
                    tfds.as_numpy(dataset.take(spec.eval.num_examples))]
        if not examples:
            domain = " of domain B" if name == "x_b" else ""
            raise ValueError(
                f"The held-out split {spec.eval.split!r} has no images{domain}, "
                "so there is nothing to evaluate on. Check --config.eval.split "
                "(and --config.eval.split_b).")
        images[name] = np.stack(examples)
    return images


def make_examples_fn(spec: TranslationSpec) -> Callable[[dict], dict]:
    return functools.partial(pairings.make_examples, spec.task.pairing,
                             upscale=spec.task.upscale,
                             direction=spec.task.direction)


def optimizer(spec: TranslationSpec,
              learning_rate: float) -> optax.GradientTransformation:
    steps_total = max(spec.train.num_steps, 1)
    schedule = spec.optim.schedule
    if schedule == "linear":
        learning_rate = optax.linear_schedule(learning_rate, 0.0, steps_total)
    elif schedule == "linear_second_half":
        half = steps_total // 2
        learning_rate = optax.join_schedules(
            [optax.constant_schedule(learning_rate),
             optax.linear_schedule(learning_rate, 0.0, steps_total - half)], [half])
    return optax.adam(learning_rate, b1=spec.optim.b1, b2=spec.optim.b2)


def create_state(spec: TranslationSpec, example_batch: dict,
                 key: jax.Array) -> TranslationState:
    """Every network of the task, initialised from the shapes of a pipeline
    batch `{"x": (1, B, H, W, C), ...}` (only its shapes are read)."""
    make_examples = make_examples_fn(spec)
    examples = jax.eval_shape(
        lambda batch: make_examples(jax.tree.map(lambda x: x[0], batch)),
        example_batch)
    paired = "source" in examples
    modules = networks.create(
        spec, target_channels=(examples["target"] if paired else examples["b"]).shape[-1])
    zeros = {name: jnp.zeros((1, *spec.shape[1:]), jnp.float32)
             for name, spec in examples.items()}
    inputs = {}
    if paired:
        inputs["generator"] = (zeros["source"],)
        inputs["discriminator"] = ((zeros["target"], zeros["source"])
                                   if spec.task.name == "pix2pix" else (zeros["target"],))
    else:
        inputs = {"g_ab": (zeros["a"],), "g_ba": (zeros["b"],),
                  "d_a": (zeros["a"],), "d_b": (zeros["b"],)}
    keys = jax.random.split(key, len(modules))
    nets = {}
    for (name, module), network_key in zip(sorted(modules.items()), keys):
        lr = spec.optim.g_lr if name.startswith("g") else spec.optim.d_lr
        nets[name] = init_network(module, network_key, inputs[name],
                                  optimizer(spec, lr))
    pools = {}
    if not paired and spec.objective.pool_size:
        pools = {domain: history_pool.init(spec.objective.pool_size,
                                           examples[domain].shape[1:])
                 for domain in ("a", "b")}
    return TranslationState(networks=nets, pools=copy_tree(pools),
                            step=jnp.zeros((), jnp.int32))


def content_features(spec: TranslationSpec) -> Callable[[jax.Array], jax.Array]:
    """SRGAN's frozen feature network phi (`spec.objective.content`)."""
    name, path = spec.objective.content, spec.objective.content_path
    if name == "pixels":
        return lambda images: images
    if name == "vgg19":
        from gan_jax.metrics.features import vgg19  # pylint: disable=g-import-not-at-top
        return vgg19.feature_fn(path, layer=spec.objective.content_layer)
    from gan_jax.metrics.features import mnist_classifier  # pylint: disable=g-import-not-at-top
    params = mnist_classifier.load(path).params

    def features(images):
        # The second conv block's activations: spatial features, as VGG54.
        _, captured = mnist_classifier.MNISTClassifier().apply(
            {"params": jax.lax.stop_gradient(params)}, images,
            capture_intermediates=True, mutable=["intermediates"])
        return jax.nn.relu(captured["intermediates"]["Conv_1"]["__call__"][0])
    return features


def phases(spec: TranslationSpec) -> dict[str, Callable]:
    """The task's pure steps by phase name: "train" and, for SRGAN with
    pre-training, "pretrain"."""
    loss = losses.get(spec.loss.name, **translation_spec.loss_options(spec.loss))
    make_examples = make_examples_fn(spec)
    objective = spec.objective
    task = spec.task.name
    if task == "cyclegan":
        return {"train": functools.partial(
            steps.cyclegan_step, loss=loss, make_examples=make_examples,
            cycle_weight=objective.cycle_weight,
            identity_weight=objective.identity_fraction * objective.cycle_weight,
            discriminator_scale=objective.discriminator_scale,
            use_pool=bool(objective.pool_size))}
    if task == "pix2pix":
        def generator_objective(real_logits, fake_logits, fake, target):
            return objectives.pix2pix_generator_objective(
                loss, real_logits, fake_logits, fake, target,
                l1_weight=objective.l1_weight)
        return {"train": functools.partial(
            steps.paired_step, loss=loss, make_examples=make_examples,
            generator_objective=generator_objective, conditional=True)}
    features = content_features(spec)

    def srgan_objective(real_logits, fake_logits, fake, target):
        return objectives.srgan_generator_objective(
            loss, real_logits, fake_logits, features(fake), features(target),
            adversarial_weight=objective.adversarial_weight)
    programs = {"train": functools.partial(
        steps.paired_step, loss=loss, make_examples=make_examples,
        generator_objective=srgan_objective, conditional=False)}
    if objective.pretrain_steps:
        programs["pretrain"] = functools.partial(steps.pretrain_step,
                                                 make_examples=make_examples)
    return programs
