"""The VGG19 feature extractor against Keras' own VGG19.

No pretrained weights are available here, so a randomly initialised
`keras.applications.VGG19(include_top=False)` is written in the layout of
the real download and loaded back; Keras itself is the reference for both
the file layout and the activations. Keras (and with it TensorFlow, slow to
import) is imported only by the fixtures that need it.
"""

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics.features import vgg19

_SIZE = 32

# Keras' TensorFlow backend converts tensors with a pre-NumPy-2 `__array__`.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*")


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip(
        "keras", reason="keras (with tensorflow) is the reference VGG19")


def _keras_vgg19(keras):
    return keras.applications.VGG19(weights=None, include_top=False,
                                    input_shape=(_SIZE, _SIZE, 3))


@pytest.fixture(scope="module")
def model(keras):
    """Keras' VGG19 with He-scaled kernels and nonzero biases, so that the
    activations stay O(input) through 16 ReLU layers and biases matter."""
    model = _keras_vgg19(keras)
    rng = np.random.default_rng(0)
    for name in vgg19.LAYER_NAMES:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        fan_in = int(np.prod(kernel.shape[:3]))
        layer.set_weights([
            rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype(np.float32),
            rng.normal(0.0, 10.0, bias.shape).astype(np.float32)])
    return model


@pytest.fixture(scope="module")
def keras_weights(model):
    return {name: model.get_layer(name).get_weights()
            for name in vgg19.LAYER_NAMES}


def _write_download_layout(path, model, weights):
    """The layout of Keras' `..._notop.h5` download, saved by Keras 1.

    Root attribute `layer_names` (every layer, in order); per layer a group
    whose `weight_names` attribute lists its datasets, stored directly in it
    as `<layer>_W_1:0` (HWIO kernel) and `<layer>_b_1:0` (bias); layers
    without weights have an empty list.
    """
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode("utf8")
                                  for layer in model.layers]
        for layer in model.layers:
            group = f.create_group(layer.name)
            arrays = weights.get(layer.name, [])
            names = [f"{layer.name}_{kind}_1:0" for kind in "Wb"][:len(arrays)]
            group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            for name, array in zip(names, arrays):
                group.create_dataset(name, data=array)


@pytest.fixture(scope="module")
def weights_file(model, keras_weights, tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg19") / vgg19.WEIGHTS_FILE
    _write_download_layout(path, model, keras_weights)
    return path


@pytest.fixture(scope="module")
def params(weights_file):
    return vgg19.load_keras_weights(weights_file)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return rng.uniform(-1.0, 1.0, (2, _SIZE, _SIZE, 3)).astype(np.float32)


def _assert_params_equal(params, keras_weights):
    assert set(params) == set(vgg19.LAYER_NAMES)
    for name, (kernel, bias) in keras_weights.items():
        assert params[name]["kernel"].dtype == jnp.float32
        np.testing.assert_array_equal(params[name]["kernel"], kernel)
        np.testing.assert_array_equal(params[name]["bias"], bias)


def test_download_layout_is_what_keras_reads(keras, weights_file, keras_weights):
    # Keras' legacy loader (order-based, via `layer_names`/`weight_names`)
    # reads the hand-written file into a fresh model: it is a real Keras file.
    fresh = _keras_vgg19(keras)
    fresh.load_weights(str(weights_file))
    for name, (kernel, bias) in keras_weights.items():
        got_kernel, got_bias = fresh.get_layer(name).get_weights()
        np.testing.assert_array_equal(got_kernel, kernel)
        np.testing.assert_array_equal(got_bias, bias)


def test_load_download_layout(params, keras_weights):
    _assert_params_equal(params, keras_weights)
    assert params["block1_conv1"]["kernel"].shape == (3, 3, 3, 64)
    assert params["block5_conv4"]["bias"].shape == (512,)


@pytest.mark.parametrize("layout", ["legacy_weights", "legacy_model", "keras3"])
def test_load_layouts_keras_writes(layout, model, keras_weights, tmp_path):
    if layout == "legacy_weights":
        # Keras 3's legacy `save_weights_to_hdf5_group`, as Keras 2's
        # `save_weights("x.h5")` wrote (weights `block1_conv1/kernel`).
        from keras.src.legacy.saving import legacy_h5_format
        path = tmp_path / "vgg19.h5"
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    elif layout == "legacy_model":
        path = tmp_path / "vgg19_model.h5"  # The same under `model_weights`.
        model.save(path)
    else:
        path = tmp_path / "vgg19.weights.h5"
        model.save_weights(path)
    _assert_params_equal(vgg19.load_keras_weights(path), keras_weights)


@pytest.mark.parametrize("layer", ["block2_conv2", "block5_conv4"])
def test_features_match_keras(keras, model, params, images, layer):
    reference = keras.Model(model.input, model.get_layer(layer).output)
    # preprocess_input writes into float arrays it is given.
    bgr = keras.applications.vgg19.preprocess_input((images + 1.0) * 127.5)
    want = np.asarray(reference(bgr, training=False))

    got = jax.jit(vgg19.VGG19Features(layer=layer).apply)(
        {"params": params}, images)
    assert got.dtype == jnp.float32 and got.shape == want.shape
    scale = np.abs(want).max()
    assert scale > 1.0 and (want > 0).mean() > 0.1  # Not a dead network.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


def test_reduced_precision_features_are_float32(params):
    images = jax.ShapeDtypeStruct((2, _SIZE, _SIZE, 3), jnp.float32)
    out = jax.eval_shape(
        vgg19.VGG19Features(dtype=jnp.bfloat16).apply, {"params": params},
        images)
    assert out.shape == (2, _SIZE // 16, _SIZE // 16, 512)
    assert out.dtype == jnp.float32


def test_grey_images_are_repeated(params, images):
    grey = images[..., :1]
    apply = jax.jit(vgg19.VGG19Features(layer="block1_conv2").apply)
    np.testing.assert_array_equal(
        apply({"params": params}, grey),
        apply({"params": params}, np.repeat(grey, 3, axis=-1)))


def test_feature_fn_gradients_reach_images_not_params(weights_file, params,
                                                      images):
    fn = vgg19.feature_fn(weights_file, layer="block2_conv1")
    want = vgg19.VGG19Features(layer="block2_conv1").apply(
        {"params": params}, images)
    np.testing.assert_allclose(fn(images), want, rtol=1e-6, atol=1e-4)

    def loss(bound_params, x):
        return jnp.sum(fn.func(bound_params, x) ** 2)

    (bound,) = fn.args
    assert set(bound) == set(vgg19.LAYER_NAMES[:3])  # Only what runs.
    grad_params, grad_images = jax.grad(loss, argnums=(0, 1))(bound, images)
    assert all(not np.any(g) for g in jax.tree.leaves(grad_params))
    assert np.all(np.isfinite(grad_images)) and np.any(grad_images)


def test_missing_file_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        vgg19.load_keras_weights(tmp_path / "nowhere.h5")
    assert vgg19.WEIGHTS_URL in str(info.value)
    assert vgg19.WEIGHTS_FILE in str(info.value)
    assert vgg19.WEIGHTS_URL == (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")


def test_missing_or_misshapen_layers_are_named(model, keras_weights, tmp_path):
    weights = dict(keras_weights)
    del weights["block4_conv2"]
    kernel, bias = weights["block3_conv1"]
    # A Theano-ordered (OIHW) kernel, as in the `th_kernels` files.
    weights["block3_conv1"] = [kernel.transpose(3, 2, 0, 1), bias]
    path = tmp_path / "broken.h5"
    _write_download_layout(path, model, weights)
    with pytest.raises(ValueError, match="block4_conv2") as info:
        vgg19.load_keras_weights(path)
    message = str(info.value)
    assert "missing layers: block4_conv2;" in message
    assert "block3_conv1: expected [kernel, bias] shapes" in message
    assert "(256, 128, 3, 3)" in message
    assert vgg19.WEIGHTS_URL in message


def test_unknown_layer_lists_valid_names(tmp_path):
    for make in (lambda: vgg19.VGG19Features(layer="block5_pool"),
                 # Checked before the file is looked for.
                 lambda: vgg19.feature_fn(tmp_path / "nowhere.h5",
                                          layer="block6_conv1")):
        with pytest.raises(ValueError, match="Unknown VGG19 layer") as info:
            make()
        assert ", ".join(vgg19.LAYER_NAMES) in str(info.value)
    assert len(vgg19.LAYER_NAMES) == 16
    assert vgg19.LAYER_NAMES[-1] == "block5_conv4"
