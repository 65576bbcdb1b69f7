"""Decoded uint8 images to the float32 model input in [-1, 1].

Every image source (TFDS, IDX files, image folders) ends in `to_model_input`,
so a model sees the same value range and layout whatever the data's origin.
"""

import tensorflow as tf


def center_square_crop(image: tf.Tensor) -> tf.Tensor:
    """The largest centred square of an `(H, W, C)` image.

    With a static height and width the offsets are Python ints, so the output
    keeps a static shape (`sample_shape` reads it without touching data).
    """
    height, width = image.shape[0], image.shape[1]
    if height is None or width is None:
        height, width = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.minimum(height, width)
    else:
        side = min(height, width)
    return tf.image.crop_to_bounding_box(
        image, (height - side) // 2, (width - side) // 2, side, side)


def to_model_input(image: tf.Tensor, *, image_size: int | None = None,
                   center_crop: bool = False) -> tf.Tensor:
    """An `(H, W, C)` uint8 image as float32 `x / 127.5 - 1`.

    Args:
      image: pixel values in [0, 255].
      image_size: resize to `image_size` x `image_size`; None keeps the size.
      center_crop: crop the central square first, so resizing keeps the
        aspect ratio instead of squashing the image.
    """
    if center_crop:
        image = center_square_crop(image)
    image = tf.cast(image, tf.float32)
    if image_size is not None and tuple(image.shape[:2]) != (image_size,
                                                             image_size):
        # Antialiasing low-pass filters before downsampling, so fine detail
        # does not alias into moire patterns the generator would learn.
        image = tf.image.resize(image, (image_size, image_size),
                                method="bilinear", antialias=True)
        # Float rounding in the filter can step just past the [0, 255] range.
        image = tf.clip_by_value(image, 0.0, 255.0)
    return image / 127.5 - 1.0
