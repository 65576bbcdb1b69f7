"""VGG19 features for SRGAN's perceptual content loss.

VGG19 is configuration E of Simonyan & Zisserman 2015 ("Very Deep
Convolutional Networks for Large-Scale Image Recognition"): 16 3x3 'SAME'
convolutions with ReLU in five blocks of 2, 2, 4, 4, 4 layers and 64, 128,
256, 512, 512 channels, each block followed by a 2x2 max-pool. SRGAN (Ledig
et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", Sec. 2.2.1) computes its content loss on
"VGG54", the ReLU activation of the 4th convolution of the 5th block, before
the 5th max-pool: Keras' `block5_conv4`, this module's default.

This is a Flax port of `keras.applications.VGG19(include_top=False)`:
submodules carry the Keras layer names, so the params are
`{"block1_conv1": {"kernel", "bias"}, ...}` and `load_keras_weights` reads the
weights Keras distributes by name. No weights ship with this repository and
none can be downloaded at run time. To use the ImageNet weights:

1. On a machine with network access, download (about 80 MB)
   `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` from
   https://storage.googleapis.com/tensorflow/keras-applications/vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5
   (the file `keras.applications.VGG19(weights="imagenet",
   include_top=False)` fetches into `~/.keras/models/`).
2. Copy it to this machine and pass its path to `feature_fn` (or to
   `load_keras_weights` and `VGG19Features.apply`).
"""

import functools
import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
               f"vgg19/{WEIGHTS_FILE}")

# (convolutions, channels) per block: configuration E of the paper's Table 1.
_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def _conv_layout() -> tuple[tuple[str, tuple[int, int]], ...]:
    """Keras' layer names, in order, with each convolution's (in, out)."""
    convs, cin = [], 3
    for b, (count, width) in enumerate(_BLOCKS, start=1):
        for c in range(1, count + 1):
            convs.append((f"block{b}_conv{c}", (cin, width)))
            cin = width
    return tuple(convs)


_CONVS = _conv_layout()
LAYER_NAMES = tuple(name for name, _ in _CONVS)
# keras.applications.imagenet_utils' "caffe" mode: the ImageNet mean pixel of
# the original Caffe model, in BGR order.
_BGR_MEAN = (103.939, 116.779, 123.68)

_WEIGHTS_HELP = f"""\
The VGG19 weights are not part of this repository. On a machine with network
access, download {WEIGHTS_FILE} from
    {WEIGHTS_URL}
copy it here and pass its path. See {__name__}."""


def _check_layer(layer: str) -> None:
    if layer not in LAYER_NAMES:
        raise ValueError(f"Unknown VGG19 layer {layer!r}. Valid: "
                         f"{', '.join(LAYER_NAMES)}.")


def preprocess_images(images: jax.Array) -> jax.Array:
    """[-1, 1] RGB (or grey) images to Keras' VGG19 input, float32.

    Exactly `keras.applications.vgg19.preprocess_input` ("caffe" mode) on the
    images scaled to 0..255: RGB -> BGR, then minus the ImageNet BGR mean.
    Grey images (C = 1) are repeated to three channels first.

    Raises:
      ValueError: when `images` is not `(B, H, W, C)` with C in {1, 3}.
    """
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError("VGG19Features expects (B, H, W, C) images with C "
                         f"in {{1, 3}}; got shape {images.shape}.")
    x = jnp.asarray(images, dtype=jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.tile(x, (1, 1, 1, 3))
    x = (x + 1.0) * 127.5
    return x[..., ::-1] - jnp.asarray(_BGR_MEAN, dtype=jnp.float32)


class VGG19Features(nn.Module):
    """Maps `(B, H, W, C)` images in [-1, 1] to the ReLU activation of `layer`.

    Only the convolutions up to `layer` are built and run (the params of an
    earlier `layer` are a prefix of the full tree, and the full tree works
    too). H and W need not be 224: the trunk is fully convolutional.

    Attributes:
      layer: Keras layer name `block{b}_conv{c}` of the output (see
        `LAYER_NAMES`); the default is SRGAN's VGG54, before the 5th pool.
      dtype: Computation dtype; preprocessing and parameters stay float32,
        and the features leave in float32.
    """
    layer: str = "block5_conv4"
    dtype: jnp.dtype = jnp.float32

    def __post_init__(self):
        super().__post_init__()
        _check_layer(self.layer)

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        x = preprocess_images(images).astype(self.dtype)
        for name, (_, width) in _CONVS:
            if name.endswith("_conv1") and name != "block1_conv1":
                # Keras' MaxPooling2D((2, 2)) closing the previous block.
                x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
            x = nn.Conv(width, (3, 3), padding="SAME", dtype=self.dtype,
                        param_dtype=jnp.float32, name=name)(x)
            x = nn.relu(x)
            if name == self.layer:
                break
        return x.astype(jnp.float32)


def _attribute_list(group, name: str) -> list[str]:
    """A string-list attribute, which Keras splits into `name0`, `name1`, ...
    when it exceeds the HDF5 object header limit."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, i = [], 0
        while f"{name}{i}" in group.attrs:
            chunks.append(group.attrs[f"{name}{i}"])
            i += 1
    return [n.decode("utf8") if isinstance(n, bytes) else str(n)
            for chunk in chunks for n in chunk]


def _layer_arrays(f) -> dict[str, list[np.ndarray]]:
    """Each layer's weight arrays in file order, by Keras layer name.

    The legacy Keras HDF5 layout (Keras' `save_weights_to_hdf5_group`, under
    `model_weights` in a full-model file) has a group per layer whose
    `weight_names` attribute lists its datasets, paths relative to the group:
    `block1_conv1_W_1:0`, `block1_conv1_b_1:0` in the Keras 1 file that is
    still the distributed download, `block1_conv1/kernel:0` from Keras 2 and
    `block1_conv1/kernel` from Keras 3. Keras 3's `.weights.h5` has instead
    `layers/<attribute>/vars/{0,1}` with the layer name in the `name`
    attribute of `vars`. Either way Conv2D stores [kernel, bias].
    """
    arrays = {}
    layers = f.get("layers")
    if layers is not None and "layer_names" not in f.attrs:
        for entry in layers.values():
            variables = entry.get("vars")
            if variables is None or "name" not in variables.attrs:
                continue
            name = variables.attrs["name"]
            name = name.decode("utf8") if isinstance(name, bytes) else str(name)
            arrays[name] = [np.asarray(variables[str(i)])
                            for i in range(len(variables))]
        return arrays
    group = f["model_weights"] if "model_weights" in f else f
    for name in LAYER_NAMES:
        if name in group:
            layer = group[name]
            arrays[name] = [np.asarray(layer[weight])
                            for weight in _attribute_list(layer, "weight_names")]
    return arrays


def load_keras_weights(path: str | os.PathLike) -> dict:
    """`VGG19Features` params from Keras' VGG19 weights file.

    Reads `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` (see the module
    docstring), or any VGG19 weights Keras saved in its legacy `.h5` layout or
    as Keras 3 `.weights.h5`. The file's TF-ordered kernels are already HWIO,
    as `nn.Conv` wants; the top (fully connected) layers are ignored.

    Args:
      path: the HDF5 file.

    Returns:
      `{"block1_conv1": {"kernel": (3, 3, 3, 64), "bias": (64,)}, ...}` for
      all 16 convolutions, float32; use as `{"params": ...}`.

    Raises:
      FileNotFoundError: when `path` does not exist; the message says where to
        download the file.
      ValueError: when a convolution is missing or has the wrong shapes (a
        Theano-ordered `th_kernels` file is one).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No VGG19 weights at {path!r}.\n{_WEIGHTS_HELP}")
    # A tensorflow dependency; imported here so that importing the models
    # does not need it.
    import h5py

    with h5py.File(path, "r") as f:
        arrays = _layer_arrays(f)
    params, missing, bad = {}, [], []
    for name, (cin, cout) in _CONVS:
        expected = [(3, 3, cin, cout), (cout,)]
        if not arrays.get(name):
            missing.append(name)
            continue
        shapes = [a.shape for a in arrays[name]]
        if shapes != expected:
            bad.append(f"{name}: expected [kernel, bias] shapes {expected}, "
                       f"got {shapes}")
            continue
        kernel, bias = arrays[name]
        params[name] = {"kernel": jnp.asarray(kernel, dtype=jnp.float32),
                        "bias": jnp.asarray(bias, dtype=jnp.float32)}
    if missing or bad:
        problems = [f"missing layers: {', '.join(missing)}" if missing else "",
                    f"bad layers: {'; '.join(bad)}" if bad else ""]
        raise ValueError(
            f"{path!r} does not hold Keras VGG19 weights; "
            + "; ".join(p for p in problems if p) + f".\n{_WEIGHTS_HELP}")
    return params


def feature_fn(path: str | os.PathLike,
               layer: str = "block5_conv4") -> Callable[[jax.Array], jax.Array]:
    """A jitted `images -> features` on frozen VGG19 weights loaded from `path`.

    The params are passed to the compiled function as an argument, not
    closed over (closed-over arrays would be baked into the program as ~80 MB
    of constants), and go through `jax.lax.stop_gradient`: the content loss
    trains the generator, never VGG. Gradients flow to the images. Each new
    input shape compiles anew.

    Args:
      path: Keras' VGG19 weights file (see `load_keras_weights`).
      layer: as `VGG19Features.layer`; SRGAN's VGG54 by default.

    Returns:
      A function of `(B, H, W, C)` images in [-1, 1] returning the float32
      `(B, H', W', channels)` activation of `layer`; it is
      `functools.partial(jitted_apply, params)`.
    """
    model = VGG19Features(layer=layer)
    params = load_keras_weights(path)
    # Only the convolutions up to `layer` run; the rest need not be on device.
    used = LAYER_NAMES[:LAYER_NAMES.index(layer) + 1]
    params = jax.device_put({name: params[name] for name in used})

    @jax.jit
    def apply(params: dict, images: jax.Array) -> jax.Array:
        return model.apply({"params": jax.lax.stop_gradient(params)}, images)

    return functools.partial(apply, params)
