"""The Inception-v3 network of the standard FID and Inception Score code.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium") and the Inception Score (Salimans et
al. 2016, "Improved Techniques for Training GANs") are both defined on the
2015-12-05 TensorFlow Inception-v3 graph (`inception-2015-12-05.tgz`): FID on
its 2048-d `pool_3:0` features (TF-GAN's `INCEPTION_FINAL_POOL`), IS on the
softmax of its 1008-way logits without the classifier's bias, as the
reference IS code computes them (`ClassifierHead`). This module is a Flax
port of mseitzer/pytorch-fid's `fid_inception_v3()`
(`src/pytorch_fid/inception.py`), itself a port of that graph: torchvision's
`Inception3` with `num_classes=1008`, no auxiliary head, and the FID-specific
blocks `FIDInceptionA`, `FIDInceptionC`, `FIDInceptionE_1` (average pools
that exclude the zero padding, as TF's do) and `FIDInceptionE_2` (a max pool
in the pool branch, a quirk of the TF graph).

Module and parameter names mirror the pytorch-fid state dict
(`Mixed_5b.branch1x1.conv.weight` is `params/Mixed_5b/branch1x1/conv/kernel`),
so `load_params` converts a saved state dict by name. No weights ship with
this repository and none can be downloaded at run time. To make the weight
file once, on a machine with network access (`pip install pytorch-fid torch`)::

    import numpy as np
    from pytorch_fid.inception import fid_inception_v3

    # Downloads pt_inception-2015-12-05-6726825d.pth (FID_WEIGHTS_URL).
    state_dict = fid_inception_v3().state_dict()
    np.savez("pt_inception-2015-12-05.npz",
             **{k: v.numpy() for k, v in state_dict.items()})

then copy `pt_inception-2015-12-05.npz` (about 96 MB) to this machine and call
`load_params` on it.
"""

import functools
import os
from collections.abc import Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax.metrics.features import fid_resize

# The 2015 graph's input resolution (TF-GAN's INCEPTION_DEFAULT_IMAGE_SIZE).
INPUT_SIZE = 299
POOL_FEATURES = 2048
NUM_LOGITS = 1008
# torchvision's BasicConv2d: BatchNorm2d(out_channels, eps=0.001).
_BN_EPSILON = 1e-3

_WEIGHTS_HELP = f"""\
The FID Inception-v3 weights are not part of this repository. On a machine
with network access, run `pip install pytorch-fid torch`, then:

    import numpy as np
    from pytorch_fid.inception import fid_inception_v3

    # Downloads pt_inception-2015-12-05-6726825d.pth (FID_WEIGHTS_URL).
    state_dict = fid_inception_v3().state_dict()
    np.savez("pt_inception-2015-12-05.npz",
             **{{k: v.numpy() for k, v in state_dict.items()}})

and copy the .npz file here. See {__name__}."""


class BasicConv2d(nn.Module):
    """Bias-free conv, inference BatchNorm (eps 1e-3), ReLU.

    torchvision's `BasicConv2d`. Padding is symmetric and explicit, as in the
    PyTorch port, so `padding` is per spatial axis (height, width).
    """
    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        pad_h, pad_w = self.padding
        x = nn.Conv(self.features, self.kernel_size, strides=self.strides,
                    padding=((pad_h, pad_h), (pad_w, pad_w)), use_bias=False,
                    dtype=jnp.float32, param_dtype=jnp.float32,
                    name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=_BN_EPSILON,
                         dtype=jnp.float32, param_dtype=jnp.float32,
                         name="bn")(x)
        return nn.relu(x)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3x3 stride-1 'SAME' average pool that does not count the padding.

    pytorch-fid's patch to InceptionA/C/E: "Tensorflow's average pool does not
    use the padded zero's in its average calculation" (count_include_pad=False).
    """
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                       count_include_pad=False)


def _max_pool_3x3(x: jax.Array, stride: int, pad: int) -> jax.Array:
    # reduce_window pads with -inf, like F.max_pool2d's implicit padding.
    return nn.max_pool(x, (3, 3), strides=(stride, stride),
                       padding=((pad, pad), (pad, pad)))


class InceptionA(nn.Module):
    """pytorch-fid's `FIDInceptionA` (Mixed_5b..5d): 35x35 block."""
    pool_features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch1x1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)

        branch5x5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        branch5x5 = BasicConv2d(64, (5, 5), padding=(2, 2),
                                name="branch5x5_2")(branch5x5)

        branch3x3dbl = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        branch3x3dbl = BasicConv2d(96, (3, 3), padding=(1, 1),
                                   name="branch3x3dbl_2")(branch3x3dbl)
        branch3x3dbl = BasicConv2d(96, (3, 3), padding=(1, 1),
                                   name="branch3x3dbl_3")(branch3x3dbl)

        branch_pool = BasicConv2d(self.pool_features, (1, 1),
                                  name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate(
            [branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


class InceptionB(nn.Module):
    """torchvision's `InceptionB` (Mixed_6a): 35x35 -> 17x17 reduction."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch3x3 = BasicConv2d(384, (3, 3), strides=(2, 2),
                                name="branch3x3")(x)

        branch3x3dbl = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        branch3x3dbl = BasicConv2d(96, (3, 3), padding=(1, 1),
                                   name="branch3x3dbl_2")(branch3x3dbl)
        branch3x3dbl = BasicConv2d(96, (3, 3), strides=(2, 2),
                                   name="branch3x3dbl_3")(branch3x3dbl)

        branch_pool = _max_pool_3x3(x, stride=2, pad=0)
        return jnp.concatenate([branch3x3, branch3x3dbl, branch_pool],
                               axis=-1)


class InceptionC(nn.Module):
    """pytorch-fid's `FIDInceptionC` (Mixed_6b..6e): 17x17 factorised 7x7."""
    channels_7x7: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c7 = self.channels_7x7
        branch1x1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)

        branch7x7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        branch7x7 = BasicConv2d(c7, (1, 7), padding=(0, 3),
                                name="branch7x7_2")(branch7x7)
        branch7x7 = BasicConv2d(192, (7, 1), padding=(3, 0),
                                name="branch7x7_3")(branch7x7)

        branch7x7dbl = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        branch7x7dbl = BasicConv2d(c7, (7, 1), padding=(3, 0),
                                   name="branch7x7dbl_2")(branch7x7dbl)
        branch7x7dbl = BasicConv2d(c7, (1, 7), padding=(0, 3),
                                   name="branch7x7dbl_3")(branch7x7dbl)
        branch7x7dbl = BasicConv2d(c7, (7, 1), padding=(3, 0),
                                   name="branch7x7dbl_4")(branch7x7dbl)
        branch7x7dbl = BasicConv2d(192, (1, 7), padding=(0, 3),
                                   name="branch7x7dbl_5")(branch7x7dbl)

        branch_pool = BasicConv2d(192, (1, 1),
                                  name="branch_pool")(_avg_pool_3x3(x))
        return jnp.concatenate(
            [branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=-1)


class InceptionD(nn.Module):
    """torchvision's `InceptionD` (Mixed_7a): 17x17 -> 8x8 reduction."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch3x3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        branch3x3 = BasicConv2d(320, (3, 3), strides=(2, 2),
                                name="branch3x3_2")(branch3x3)

        branch7x7x3 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        branch7x7x3 = BasicConv2d(192, (1, 7), padding=(0, 3),
                                  name="branch7x7x3_2")(branch7x7x3)
        branch7x7x3 = BasicConv2d(192, (7, 1), padding=(3, 0),
                                  name="branch7x7x3_3")(branch7x7x3)
        branch7x7x3 = BasicConv2d(192, (3, 3), strides=(2, 2),
                                  name="branch7x7x3_4")(branch7x7x3)

        branch_pool = _max_pool_3x3(x, stride=2, pad=0)
        return jnp.concatenate([branch3x3, branch7x7x3, branch_pool],
                               axis=-1)


class InceptionE(nn.Module):
    """pytorch-fid's `FIDInceptionE_1` / `FIDInceptionE_2` (Mixed_7b, 7c).

    Attributes:
      max_pool: the pool branch max-pools (`FIDInceptionE_2`, Mixed_7c)
        instead of average-pooling without padding (`FIDInceptionE_1`).
        pytorch-fid: "The FID Inception model uses max pooling instead of
        average pooling. This is likely an error in this specific Inception
        implementation", but it is what the reference graph computes.
    """
    max_pool: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        branch1x1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)

        branch3x3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        branch3x3 = jnp.concatenate([
            BasicConv2d(384, (1, 3), padding=(0, 1),
                        name="branch3x3_2a")(branch3x3),
            BasicConv2d(384, (3, 1), padding=(1, 0),
                        name="branch3x3_2b")(branch3x3),
        ], axis=-1)

        branch3x3dbl = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        branch3x3dbl = BasicConv2d(384, (3, 3), padding=(1, 1),
                                   name="branch3x3dbl_2")(branch3x3dbl)
        branch3x3dbl = jnp.concatenate([
            BasicConv2d(384, (1, 3), padding=(0, 1),
                        name="branch3x3dbl_3a")(branch3x3dbl),
            BasicConv2d(384, (3, 1), padding=(1, 0),
                        name="branch3x3dbl_3b")(branch3x3dbl),
        ], axis=-1)

        if self.max_pool:
            pooled = _max_pool_3x3(x, stride=1, pad=1)
        else:
            pooled = _avg_pool_3x3(x)
        branch_pool = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate(
            [branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=-1)


def preprocess_images(images: jax.Array, resize: bool = True,
                      method: str = fid_resize.PYTORCH_FID) -> jax.Array:
    """GAN outputs in [-1, 1] to the network's (B, 299, 299, 3) float32 input.

    `method` is the resize (`gan_jax.metrics.features.fid_resize`): clean-fid's
    antialiased PIL-bicubic (`clean`, Parmar et al. 2022) or, by default,
    pytorch-fid's bilinear (`pytorch_fid`), described here. pytorch-fid resizes [0, 1] images with `F.interpolate(mode="bilinear",
    align_corners=False)` and then maps them to [-1, 1]; the affine map
    commutes with bilinear interpolation, so resizing [-1, 1] images directly
    is the same computation. `jax.image.resize(method="bilinear",
    antialias=False)` uses the same half-pixel sample positions and no
    anti-aliasing filter, so it matches pytorch-fid up to float rounding.
    It does not reproduce TF's legacy `ResizeBilinear` (no half-pixel offset)
    inside the original TF FID graph: FID values are comparable with
    pytorch-fid's, not bit-identical with TTUR/TF-GAN's. Grayscale images
    (C = 1) are tiled to RGB, as PIL's `convert("RGB")` does.

    Args:
      images: `(B, H, W, C)` images in [-1, 1], C in {1, 3}, any H and W.
      resize: resize to 299x299; pass False only for inputs already that
        size or to run the fully convolutional trunk at another size.
      method: the resize, one of `fid_resize.RESIZES`.

    Returns:
      `(B, 299, 299, 3)` float32 images in [-1, 1] (spatial size unchanged
      when `resize` is False).

    Raises:
      ValueError: when `images` is not rank 4 or C is not 1 or 3, or
        `method` is not a resize.
    """
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError("InceptionV3FID expects (B, H, W, C) images with C "
                         f"in {{1, 3}}; got shape {images.shape}.")
    x = jnp.asarray(images, dtype=jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.tile(x, (1, 1, 1, 3))
    if resize and x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        x = fid_resize.resize(x, INPUT_SIZE, method)
    return x


class ClassifierHead(nn.Module):
    """The graph's classifier on the pool features, with and without its bias.

        logits = pool @ W + b,    logits_unbiased = pool @ W,

    W `(d, num_logits)` and b `(num_logits,)` being the `kernel` and `bias`
    parameters (pytorch-fid's `fc.weight` transposed and `fc.bias`), in
    float32. The Inception Score is the softmax of `logits_unbiased`: the
    reference code of Salimans et al. 2016 ("Improved Techniques for
    Training GANs", openai/improved-gan `inception_score.py`) multiplies
    pool_3 by the weight of `softmax/logits/MatMul` and adds no bias, and
    torch-fidelity's IS takes its `logits_unbiased` for the same reason, so
    published IS values are of the bias-free softmax. `logits` are the
    graph's own scores (TF `softmax/logits`).

    Attributes:
      num_logits: the number of classes (1008 for the FID graph).

    Returns (from `__call__` on `(B, d)` features):
      `{"logits": (B, num_logits), "logits_unbiased": (B, num_logits)}`.
    """
    num_logits: int = NUM_LOGITS

    @nn.compact
    def __call__(self, pool: jax.Array) -> dict[str, jax.Array]:
        # The initialisers are nn.Dense's, which this layer replaced: the
        # same parameter names, shapes and `init` values.
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (pool.shape[-1], self.num_logits), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(),
                          (self.num_logits,), jnp.float32)
        unbiased = jnp.dot(jnp.asarray(pool, jnp.float32), kernel)
        return {"logits": unbiased + bias, "logits_unbiased": unbiased}


class InceptionV3FID(nn.Module):
    """pytorch-fid's `fid_inception_v3()` in Flax, for inference only.

    BatchNorm always uses its running statistics (the `batch_stats`
    collection), and there is no dropout or auxiliary head, so `apply` needs
    no RNG and mutates nothing.

    Attributes:
      resize_input: resize inputs to 299x299 (see `preprocess_images`), as
        pytorch-fid's `resize_input=True`.
      resize_method: how, one of `fid_resize.RESIZES` (default pytorch-fid's
        bilinear).

    Returns (from `__call__`):
      `{"pool": (B, 2048), "logits": (B, 1008), "logits_unbiased":
      (B, 1008)}`, float32. `pool` is the global average of Mixed_7c, the
      FID feature (TF `pool_3:0`). `logits` are the pre-softmax scores of
      the graph's 1008-way classifier (`fc`, TF `softmax/logits`),
      pool @ W + b; `logits_unbiased` are pool @ W, the scores of the
      Inception Score (see `ClassifierHead`). Salimans et al.'s reference
      Inception Score code and TF-GAN's `classifier_score` take the softmax
      over all 1008 entries; they are returned unsliced.
    """
    resize_input: bool = True
    resize_method: str = fid_resize.PYTORCH_FID

    @nn.compact
    def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
        x = preprocess_images(images, resize=self.resize_input,
                              method=self.resize_method)
        # Stem; shape comments are for a 299x299 input (torchvision's).
        x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)  # 147x147
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool_3x3(x, stride=2, pad=0)  # 73x73
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)  # 71x71
        x = _max_pool_3x3(x, stride=2, pad=0)  # 35x35x192

        x = InceptionA(32, name="Mixed_5b")(x)  # 35x35x256
        x = InceptionA(64, name="Mixed_5c")(x)  # 35x35x288
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)  # 17x17x768
        x = InceptionC(128, name="Mixed_6b")(x)
        x = InceptionC(160, name="Mixed_6c")(x)
        x = InceptionC(160, name="Mixed_6d")(x)
        x = InceptionC(192, name="Mixed_6e")(x)
        x = InceptionD(name="Mixed_7a")(x)  # 8x8x1280
        x = InceptionE(max_pool=False, name="Mixed_7b")(x)  # 8x8x2048
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)

        pool = jnp.mean(x, axis=(1, 2))
        return {"pool": pool, **ClassifierHead(NUM_LOGITS, name="fc")(pool)}


@functools.lru_cache(maxsize=1)
def _abstract_variables() -> dict:
    """Shapes and dtypes of `InceptionV3FID().init` (traced, not computed)."""
    images = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    return jax.eval_shape(InceptionV3FID().init, jax.random.key(0), images)


def _torch_name(path: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None]:
    """pytorch-fid state-dict key of a flat Flax variable path.

    Returns:
      The key and the axis permutation from the PyTorch array to the Flax one
      (None when the layouts agree).
    """
    collection, *modules, leaf = path
    prefix = ".".join(modules)
    if collection == "params" and leaf == "kernel" and modules[-1] == "conv":
        return f"{prefix}.weight", (2, 3, 1, 0)  # OIHW -> HWIO
    if collection == "params" and leaf == "kernel":
        return f"{prefix}.weight", (1, 0)  # Linear (out, in) -> (in, out)
    torch_leaf = {
        ("params", "scale"): "weight",
        ("params", "bias"): "bias",
        ("batch_stats", "mean"): "running_mean",
        ("batch_stats", "var"): "running_var",
    }[(collection, leaf)]
    return f"{prefix}.{torch_leaf}", None


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(perm))


def load_params(path: str | os.PathLike) -> dict:
    """Flax variables of `InceptionV3FID` from a saved pytorch-fid state dict.

    The file is an `.npz` whose keys are pytorch-fid's state-dict names with
    PyTorch layouts (made as in the module docstring): conv weights
    (O, I, kH, kW) become HWIO kernels, `fc.weight` (1008, 2048) becomes a
    (2048, 1008) kernel, BatchNorm `weight`/`bias`/`running_mean`/
    `running_var` become `scale`/`bias` and `batch_stats` `mean`/`var`.
    BatchNorm's `num_batches_tracked` counters are training bookkeeping and
    are ignored.

    Args:
      path: the `.npz` file.

    Returns:
      `{"params": ..., "batch_stats": ...}` float32 arrays with exactly the
      structure and shapes of `InceptionV3FID().init(...)`.

    Raises:
      FileNotFoundError: when `path` does not exist; the message says how to
        make the file.
      ValueError: when a key is missing, unexpected, has the wrong shape or
        is not floating point.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No FID Inception weights at {path!r}.\n{_WEIGHTS_HELP}")
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files
                  if not key.endswith(".num_batches_tracked")}

    flat = traverse_util.flatten_dict(_abstract_variables())
    loaded, missing, bad = {}, [], []
    for var_path, spec in flat.items():
        key, perm = _torch_name(var_path)
        torch_shape = (spec.shape if perm is None else
                       tuple(spec.shape[i] for i in _inverse(perm)))
        if key not in arrays:
            missing.append(f"{key} {torch_shape}")
            continue
        array = arrays.pop(key)
        if array.shape != torch_shape:
            bad.append(f"{key}: expected shape {torch_shape}, got "
                       f"{array.shape}")
        elif not np.issubdtype(array.dtype, np.floating):
            bad.append(f"{key}: expected a float array, got {array.dtype}")
        else:
            if perm is not None:
                array = np.transpose(array, perm)
            loaded[var_path] = jnp.asarray(array, dtype=jnp.float32)
    unexpected = [f"{key} {arrays[key].shape}" for key in sorted(arrays)]
    if missing or unexpected or bad:
        problems = [f"missing keys: {missing}" if missing else "",
                    f"unexpected keys: {unexpected}" if unexpected else "",
                    f"bad entries: {bad}" if bad else ""]
        raise ValueError(
            f"{path!r} is not a pytorch-fid FID Inception-v3 state dict; "
            + "; ".join(p for p in problems if p) + f".\n{_WEIGHTS_HELP}")
    return traverse_util.unflatten_dict(loaded)


def make_feature_fn(
        variables: Mapping,
        resize_input: bool = True,
        resize_method: str = fid_resize.PYTORCH_FID,
) -> Callable[[jax.Array], dict[str, jax.Array]]:
    """A jitted `images -> {"pool", "logits", "logits_unbiased"}` for inference.

    The variables are passed to the compiled function as arguments, not
    closed over: closed-over arrays would be baked into the program as
    ~95 MB of constants. Each new input shape compiles anew, so feed a fixed
    batch size (pad the last batch).

    Args:
      variables: from `load_params` (or `InceptionV3FID().init`).
      resize_input: as `InceptionV3FID.resize_input`.
      resize_method: as `InceptionV3FID.resize_method`.

    Returns:
      A function of `(B, H, W, C)` images in [-1, 1] (see
      `preprocess_images`) returning `InceptionV3FID`'s output dict.
    """
    model = InceptionV3FID(resize_input=resize_input, resize_method=resize_method)
    variables = jax.device_put(variables)
    apply = jax.jit(model.apply)

    def feature_fn(images: jax.Array) -> dict[str, jax.Array]:
        return apply(variables, images)

    return feature_fn
