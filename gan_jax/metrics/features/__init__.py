"""Networks that turn images into the feature arrays the metrics take.

`create(name, path)` returns a `FeatureExtractor` by name:

    mnist_classifier: the project's MNIST classifier (28x28 grey images; RGB
        images are read channel by channel, for Stacked MNIST; other sizes,
        such as the 32x32 MNIST the BigGAN and StyleGAN2 configs train on,
        are resized to 28x28 first, antialiased bilinear)
    inception: InceptionV3 of the standard FID code (any image size,
        resized to 299x299 by `fid_resize`: `pytorch_fid` or `clean`)

Each gives `features` (for FID, KID, precision/recall, density/coverage) and
`probabilities` (for the Inception Score) of `(B, H, W, C)` images in [-1, 1].
InceptionV3's probabilities are the softmax of its logits without the
classifier's bias, as in the reference IS code (`inception_outputs`).
"""

from collections.abc import Callable, Iterable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics.features import fid_resize as fid_resize_lib
from gan_jax.metrics.features import inception_v3
from gan_jax.metrics.features import mnist_classifier


class FeatureExtractor(NamedTuple):
    name: str
    # images -> {"features": (B, d), "probabilities": (B, K), and for RGB input
    # to the MNIST classifier "channel_digits": (B, 3)}.
    fn: Callable[[jax.Array], dict[str, jax.Array]]
    batch_size: int
    # How images are resized to the network's input (one of
    # fid_resize.RESIZES), or None for a network that takes them as they are.
    resize: str | None = None


def _mnist_classifier(path: str, fid_resize: str) -> FeatureExtractor:
    del fid_resize  # 28x28 images as they are; other sizes resized (above).
    classify = mnist_classifier.load(path).feature_fn()

    def extract(images):
        if images.shape[1:3] != mnist_classifier.IMAGE_SHAPE[:2]:
            images = jax.image.resize(
                images, (images.shape[0], *mnist_classifier.IMAGE_SHAPE[:2],
                         images.shape[-1]), "linear", antialias=True)
        if images.shape[-1] == 1:
            outputs = classify(images)
            return {"features": outputs["features"],
                    "probabilities": outputs["probabilities"]}
        # Stacked MNIST: one digit per channel; features are concatenated.
        per_channel = [classify(images[..., c:c + 1]) for c in range(images.shape[-1])]
        return {
            "features": jnp.concatenate([o["features"] for o in per_channel], -1),
            "probabilities": per_channel[0]["probabilities"],
            "channel_digits": jnp.stack(
                [jnp.argmax(o["probabilities"], -1) for o in per_channel], -1),
        }

    return FeatureExtractor("mnist_classifier", extract, batch_size=500)


def inception_outputs(outputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """The metrics' arrays from `InceptionV3FID`'s outputs.

        features = pool,    probabilities = softmax(pool @ W),

    i.e. the softmax of `logits_unbiased`, without the classifier's bias b:
    the Inception Score of Salimans et al. 2016 ("Improved Techniques for
    Training GANs") as their reference code (openai/improved-gan) and
    torch-fidelity compute it (see `inception_v3.ClassifierHead`).
    """
    return {"features": outputs["pool"],
            "probabilities": jax.nn.softmax(outputs["logits_unbiased"], axis=-1)}


def _inception(path: str, fid_resize: str) -> FeatureExtractor:
    apply = inception_v3.make_feature_fn(inception_v3.load_params(path),
                                         resize_method=fid_resize)

    def extract(images):
        return inception_outputs(apply(images))

    return FeatureExtractor("inception", extract, batch_size=100,
                            resize=fid_resize)


# The names of `fid_resize`'s resizes (`eval.fid_resize`), the default first.
FID_RESIZES = fid_resize_lib.RESIZES

EXTRACTORS: dict[str, Callable[[str, str], FeatureExtractor]] = {
    "mnist_classifier": _mnist_classifier,
    "inception": _inception,
}


def create(name: str, path: str, *,
           fid_resize: str = fid_resize_lib.PYTORCH_FID) -> FeatureExtractor:
    """The extractor `name` with its weights from `path`; `fid_resize` is how
    the Inception network resizes its input (`fid_resize.RESIZES`; the MNIST
    classifier resizes other sizes to 28x28 its own way).

    Raises:
      ValueError: unknown `name` or `fid_resize`, listing the valid ones.
      FileNotFoundError: no weights at `path`, saying how to make them.
    """
    if name not in EXTRACTORS:
        raise ValueError(f"Unknown feature extractor {name!r}. Valid: "
                         f"{', '.join(sorted(EXTRACTORS))}, or none. Set "
                         "--config.eval.features.")
    if fid_resize not in FID_RESIZES:
        raise ValueError(f"Unknown --config.eval.fid_resize={fid_resize!r}. "
                         f"Valid resizes: {', '.join(FID_RESIZES)}. Set "
                         "--config.eval.fid_resize to one of them.")
    return EXTRACTORS[name](path, fid_resize)


def extract_all(extractor: FeatureExtractor,
                batches: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """Runs `extractor` over image batches of any sizes, gathering on the host.

    Every batch is padded to `extractor.batch_size`, so one compiled shape
    serves all of them.
    """
    gathered: dict[str, list[np.ndarray]] = {}
    size = extractor.batch_size
    for images in batches:
        for start in range(0, len(images), size):
            chunk = np.asarray(images[start:start + size], np.float32)
            padded = np.resize(chunk, (size, *chunk.shape[1:]))
            outputs = jax.device_get(extractor.fn(padded))
            for name, value in outputs.items():
                gathered.setdefault(name, []).append(np.asarray(value)[:len(chunk)])
    if not gathered:
        raise ValueError("No images to extract features from.")
    return {name: np.concatenate(parts) for name, parts in gathered.items()}
