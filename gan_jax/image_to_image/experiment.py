"""From a translation config to what the loop runs: data, initial state,
frozen content features and the bound step functions (the config is checked
by gan_jax.image_to_image.spec)."""

import functools
from collections.abc import Callable, Iterator

from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
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
from gan_jax.image_to_image import steps
from gan_jax.image_to_image.state import init_network
from gan_jax.image_to_image.state import TranslationState
from gan_jax.run import experiment as gan_experiment

SCHEDULES = ("constant", "linear", "linear_second_half")
NORMS = ("batch", "instance")
CONTENT_NETWORKS = ("pixels", "mnist_classifier", "vgg19")


def check_content_path(objective) -> None:
    if objective.content == "pixels" or epath.Path(objective.content_path).exists():
        return
    if objective.content == "mnist_classifier":
        raise FileNotFoundError(
            f"No MNIST classifier at {objective.content_path!r} "
            "(--config.objective.content_path). Train one first (a few minutes "
            "on a CPU): python -m gan_jax.train_classifier "
            f"--out={objective.content_path} --offline")
    raise FileNotFoundError(
        f"No VGG19 weights file at {objective.content_path!r} "
        "(--config.objective.content_path). Download "
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 (README, \"SRGAN "
        "with VGG19 features\") and pass its path.")


def loss_options(config) -> dict:
    options = {"label_smoothing": config.loss.label_smoothing}
    return {k: v for k, v in options.items()
            if k in losses.accepted_options(config.loss.name)}


def _images(config: ml_collections.ConfigDict, split: str) -> dict[str, tf.data.Dataset]:
    """`{"x": images}`, or for two_folders `{"x": domain A, "x_b": domain B}`."""
    data = config.data.copy_and_resolve_references()
    data.split = split
    source = input_pipeline.load(data)
    if config.task.pairing != "two_folders":
        return {"x": source.dataset.map(lambda example: {"x": example["x"]})}
    if source.num_classes != 2:
        raise ValueError(
            f"The two_folders pairing needs a folder with exactly two "
            f"sub-folders, A and B (sorted by name), in {config.data.path!r}; it "
            f"has {source.num_classes or 0}. Set --config.data.path.")
    return {name: source.dataset.filter(lambda e, label=label: e["label"] == label)
                                .map(lambda e: {"x": e["x"]})
            for name, label in (("x", 0), ("x_b", 1))}


def load_images(config: ml_collections.ConfigDict) -> dict[str, tf.data.Dataset]:
    """The training images: {"x"} and, unpaired from two sources, {"x_b"}
    (domain B)."""
    datasets = _images(config, config.data.split)
    if config.task.pairing == "two_splits":
        datasets["x_b"] = _images(config, config.task.split_b)["x"]
    return datasets


def train_batches(config, datasets, start_step: int) -> Iterator[dict[str, np.ndarray]]:
    """Host batches `{"x": (1, B, H, W, C), ...}` from step `start_step` on;
    domain B is shuffled with its own seed, so A and B never pair up."""
    streams = {name: input_pipeline.seeded_streams(
                   dataset, config.data, n_critic=1, seeds=[config.seed + index],
                   start_step=start_step)[0]
               for index, (name, dataset) in enumerate(datasets.items())}
    while True:
        batches = {name: next(stream) for name, stream in streams.items()}
        yield {name: batch["x"] for name, batch in batches.items()}


def held_out_images(config) -> dict[str, np.ndarray]:
    """The first `eval.num_examples` images of the held-out split(s)."""
    datasets = _images(config, config.eval.split)
    if config.task.pairing == "two_splits":
        datasets["x_b"] = _images(config, config.eval.split_b)["x"]
    images = {}
    for name, dataset in datasets.items():
        examples = [example["x"] for example in
                    tfds.as_numpy(dataset.take(config.eval.num_examples))]
        if not examples:
            domain = " of domain B" if name == "x_b" else ""
            raise ValueError(
                f"The held-out split {config.eval.split!r} has no images{domain}, "
                "so there is nothing to evaluate on. Check --config.eval.split "
                "(and --config.eval.split_b).")
        images[name] = np.stack(examples)
    return images


def make_examples_fn(config) -> Callable[[dict], dict]:
    return functools.partial(pairings.make_examples, config.task.pairing,
                             upscale=config.task.upscale,
                             direction=config.task.direction)


def optimizer(config, learning_rate: float) -> optax.GradientTransformation:
    steps_total = max(config.train.num_steps, 1)
    schedule = config.optim.schedule
    if schedule == "linear":
        learning_rate = optax.linear_schedule(learning_rate, 0.0, steps_total)
    elif schedule == "linear_second_half":
        half = steps_total // 2
        learning_rate = optax.join_schedules(
            [optax.constant_schedule(learning_rate),
             optax.linear_schedule(learning_rate, 0.0, steps_total - half)], [half])
    return optax.adam(learning_rate, b1=config.optim.b1, b2=config.optim.b2)


def create_state(config, example_batch: dict, key: jax.Array) -> TranslationState:
    """Every network of the task, initialised from the shapes of a pipeline
    batch `{"x": (1, B, H, W, C), ...}` (only its shapes are read)."""
    make_examples = make_examples_fn(config)
    examples = jax.eval_shape(
        lambda batch: make_examples(jax.tree.map(lambda x: x[0], batch)),
        example_batch)
    paired = "source" in examples
    modules = networks.create(
        config, target_channels=(examples["target"] if paired else examples["b"]).shape[-1])
    zeros = {name: jnp.zeros((1, *spec.shape[1:]), jnp.float32)
             for name, spec in examples.items()}
    inputs = {}
    if paired:
        inputs["generator"] = (zeros["source"],)
        inputs["discriminator"] = ((zeros["target"], zeros["source"])
                                   if config.task.name == "pix2pix" else (zeros["target"],))
    else:
        inputs = {"g_ab": (zeros["a"],), "g_ba": (zeros["b"],),
                  "d_a": (zeros["a"],), "d_b": (zeros["b"],)}
    keys = jax.random.split(key, len(modules))
    nets = {}
    for (name, module), network_key in zip(sorted(modules.items()), keys):
        lr = config.optim.g_lr if name.startswith("g") else config.optim.d_lr
        nets[name] = init_network(module, network_key, inputs[name],
                                  optimizer(config, lr))
    pools = {}
    if not paired and config.objective.pool_size:
        pools = {domain: history_pool.init(config.objective.pool_size,
                                           examples[domain].shape[1:])
                 for domain in ("a", "b")}
    return TranslationState(networks=nets, pools=copy_tree(pools),
                            step=jnp.zeros((), jnp.int32))


def content_features(config) -> Callable[[jax.Array], jax.Array]:
    """SRGAN's frozen feature network phi (`config.objective.content`)."""
    name, path = config.objective.content, config.objective.content_path
    if name == "pixels":
        return lambda images: images
    if name == "vgg19":
        from gan_jax.metrics.features import vgg19  # pylint: disable=g-import-not-at-top
        return vgg19.feature_fn(path, layer=config.objective.content_layer)
    from gan_jax.metrics.features import mnist_classifier  # pylint: disable=g-import-not-at-top
    params = mnist_classifier.load(path).params

    def features(images):
        # The second conv block's activations: spatial features, as VGG54.
        _, captured = mnist_classifier.MNISTClassifier().apply(
            {"params": jax.lax.stop_gradient(params)}, images,
            capture_intermediates=True, mutable=["intermediates"])
        return jax.nn.relu(captured["intermediates"]["Conv_1"]["__call__"][0])
    return features


def phases(config) -> dict[str, Callable]:
    """The task's pure steps by phase name: "train" and, for SRGAN with
    pre-training, "pretrain"."""
    loss = losses.get(config.loss.name, **loss_options(config))
    make_examples = make_examples_fn(config)
    objective = config.objective
    task = config.task.name
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
    features = content_features(config)

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


def use_compilation_cache(config) -> None:
    gan_experiment.use_compilation_cache(config)

