"""Stacked MNIST: 1,000 modes from three MNIST digits stacked as channels.

Metz et al. 2017, "Unrolled Generative Adversarial Networks", and
Srivastava et al. 2017 (VEEGAN) / Lin et al. 2018 (PacGAN): each image
stacks three MNIST digits as its R, G and B channels, so there are
10^3 = 1,000 equally likely modes. A pretrained MNIST classifier reads the
digit in each channel of a generated image (done elsewhere); from those
per-channel digits this module counts the modes reached and how far their
distribution is from uniform.

Host-side NumPy, pure.
"""

from collections.abc import Sequence

import numpy as np

NUM_MODES = 1000
_NUM_CHANNELS = 3


def _as_digits(digits, name: str) -> np.ndarray:
    digits = np.asarray(digits)
    if not np.issubdtype(digits.dtype, np.integer):
        raise ValueError(f"{name} must hold integer digits; got dtype "
                         f"{digits.dtype}.")
    if digits.size and (digits.min() < 0 or digits.max() > 9):
        raise ValueError(f"{name} must hold digits in [0, 9]; got values in "
                         f"[{digits.min()}, {digits.max()}].")
    return digits.astype(np.int64)


def stacked_labels(channel_digits) -> np.ndarray:
    """Mode label 100 d_0 + 10 d_1 + d_2 of `(n, 3)` per-channel digits.

    Args:
      channel_digits: `(n, 3)` integer digits in [0, 9]; column c is the
        digit in channel c.

    Returns:
      `(n,)` int64 labels in [0, 999].

    Raises:
      ValueError: on a shape other than (n, 3), a non-integer dtype or digits
        outside [0, 9].
    """
    digits = _as_digits(channel_digits, "channel_digits")
    if digits.ndim != 2 or digits.shape[1] != _NUM_CHANNELS:
        raise ValueError("channel_digits must be (n, 3); got shape "
                         f"{digits.shape}.")
    return digits @ np.array([100, 10, 1], dtype=np.int64)


def stack_digits(images_by_channel: Sequence[np.ndarray],
                 labels_by_channel: Sequence[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A Stacked MNIST batch from three MNIST batches (Metz et al. 2017).

    Image i of the result has image i of batch c as its channel c, and
    label 100 d_0 + 10 d_1 + d_2, where d_c is the label of that digit.

    Args:
      images_by_channel: three `(n, 28, 28, 1)` MNIST image batches (any
        equal shapes `(n, ..., 1)` work), for channels 0, 1 and 2.
      labels_by_channel: three `(n,)` integer digit label batches, matching.

    Returns:
      `(images, labels)`: `(n, 28, 28, 3)` images in the inputs' (common)
      dtype and `(n,)` int64 mode labels in [0, 999].

    Raises:
      ValueError: unless there are three image and three label batches of
        matching shapes, with single-channel images and digits in [0, 9].
    """
    if len(images_by_channel) != _NUM_CHANNELS or len(
            labels_by_channel) != _NUM_CHANNELS:
        raise ValueError("Stacked MNIST needs 3 image and 3 label batches; "
                         f"got {len(images_by_channel)} and "
                         f"{len(labels_by_channel)}.")
    images = [np.asarray(batch) for batch in images_by_channel]
    shape = images[0].shape
    if len(shape) < 2 or shape[-1] != 1:
        raise ValueError("Image batches must be (n, ..., 1); got shape "
                         f"{shape}.")
    if any(batch.shape != shape for batch in images):
        raise ValueError("Image batches must share one shape; got "
                         f"{[batch.shape for batch in images]}.")
    labels = [np.asarray(batch) for batch in labels_by_channel]
    if any(batch.shape != (shape[0],) for batch in labels):
        raise ValueError(f"Label batches must be ({shape[0]},) to match the "
                         f"images; got {[batch.shape for batch in labels]}.")
    return (np.concatenate(images, axis=-1),
            stacked_labels(np.stack(labels, axis=1)))


def mode_histogram(channel_predictions) -> np.ndarray:
    """`(1000,)` int64 counts of samples per mode.

    Args:
      channel_predictions: `(n, 3)` integer digits predicted for channels
        0, 1, 2 of each generated image.

    Returns:
      Counts indexed by mode label 100 d_0 + 10 d_1 + d_2.

    Raises:
      ValueError: as `stacked_labels`.
    """
    return np.bincount(stacked_labels(channel_predictions),
                       minlength=NUM_MODES).astype(np.int64)


def stacked_mnist_metrics(channel_predictions) -> dict[str, float]:
    """Modes covered and KL to uniform of generated Stacked MNIST samples.

    As in Metz et al. 2017, VEEGAN and PacGAN:

    * `modes_covered`: the number of the 1,000 modes with at least one
      sample.
    * `reverse_kl`: KL(p_gen || uniform) = sum_m p_m log(1000 p_m) in nats,
      the "reverse" direction (generated distribution first), where p_gen is
      the normalised mode histogram and 0 log 0 = 0 for empty modes. It is 0
      for a perfectly balanced histogram and log 1000 ~ 6.91 when every
      sample falls on one mode.

    Args:
      channel_predictions: `(n, 3)` integer digits predicted for channels
        0, 1, 2 of each generated image, n >= 1.

    Returns:
      A dict of floats: `modes_covered` and `reverse_kl`.

    Raises:
      ValueError: on no samples, or as `stacked_labels`.
    """
    counts = mode_histogram(channel_predictions)
    total = int(np.sum(counts))
    if total == 0:
        raise ValueError("stacked_mnist_metrics needs at least one sample.")
    p = counts[counts > 0] / total  # 0 log 0 = 0.
    reverse_kl = float(np.sum(p * np.log(NUM_MODES * p)))
    return {
        "modes_covered": float(np.count_nonzero(counts)),
        # Rounding can leave a balanced histogram at -1e-16; KL is >= 0.
        "reverse_kl": max(reverse_kl, 0.0),
    }
