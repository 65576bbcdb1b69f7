"""The FID Inception-v3 port: shapes, parameter count, weight loading.

No pretrained weights are available here, so loading is checked on a random
state dict with pytorch-fid's key names and PyTorch layouts.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from gan_jax.metrics.features import inception_v3

# torchvision's Inception3 (mseitzer/pytorch-fid's fid_inception_v3 keeps its
# layer shapes), restated independently of the module: per block, one
# (in_channels, out_channels, kernel_h, kernel_w) tuple per conv.
_STEM = [(3, 32, 3, 3), (32, 32, 3, 3), (32, 64, 3, 3), (64, 80, 1, 1),
         (80, 192, 3, 3)]


def _block_a(cin, pool):
    return [(cin, 64, 1, 1), (cin, 48, 1, 1), (48, 64, 5, 5), (cin, 64, 1, 1),
            (64, 96, 3, 3), (96, 96, 3, 3), (cin, pool, 1, 1)]


def _block_c(c7):
    return [(768, 192, 1, 1), (768, c7, 1, 1), (c7, c7, 1, 7),
            (c7, 192, 7, 1), (768, c7, 1, 1), (c7, c7, 7, 1), (c7, c7, 1, 7),
            (c7, c7, 7, 1), (c7, 192, 1, 7), (768, 192, 1, 1)]


def _block_e(cin):
    return [(cin, 320, 1, 1), (cin, 384, 1, 1), (384, 384, 1, 3),
            (384, 384, 3, 1), (cin, 448, 1, 1), (448, 384, 3, 3),
            (384, 384, 1, 3), (384, 384, 3, 1), (cin, 192, 1, 1)]


_CONVS = (_STEM + _block_a(192, 32) + _block_a(256, 64) + _block_a(288, 64)
          + [(288, 384, 3, 3), (288, 64, 1, 1), (64, 96, 3, 3),
             (96, 96, 3, 3)]  # Mixed_6a
          + _block_c(128) + _block_c(160) + _block_c(160) + _block_c(192)
          + [(768, 192, 1, 1), (192, 320, 3, 3), (768, 192, 1, 1),
             (192, 192, 1, 7), (192, 192, 7, 1), (192, 192, 3, 3)]  # Mixed_7a
          + _block_e(1280) + _block_e(2048))


@pytest.fixture(scope="module")
def abstract():
    return inception_v3._abstract_variables()


@pytest.fixture(scope="module")
def torch_state(abstract):
    """A random pytorch-fid-style state dict (PyTorch names and layouts)."""
    rng = np.random.default_rng(0)
    state = {}
    for path, spec in traverse_util.flatten_dict(abstract).items():
        key, perm = inception_v3._torch_name(path)
        shape = spec.shape if perm is None else tuple(
            spec.shape[i] for i in inception_v3._inverse(perm))
        if key.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif key.endswith(".weight") and len(shape) > 1:
            # He-scaled so activations stay O(1) through 94 ReLU layers.
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.normal(0.0, 0.1, shape) + (
                1.0 if key.endswith("bn.weight") else 0.0)
        state[key] = value.astype(np.float32)
    # torch's BatchNorm2d state_dict() carries these; the loader skips them.
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.array(0, np.int64)
    return state


@pytest.fixture(scope="module")
def weights_file(torch_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "fid_inception.npz"
    np.savez(path, **torch_state)
    return path


@pytest.fixture(scope="module")
def loaded(weights_file):
    return inception_v3.load_params(weights_file)


def _count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("shape", [(2, 32, 32, 3), (2, 28, 28, 1)])
def test_output_shapes(abstract, shape):
    images = jax.ShapeDtypeStruct(shape, jnp.float32)
    out = jax.eval_shape(inception_v3.InceptionV3FID().apply, abstract, images)
    assert out["pool"].shape == (2, inception_v3.POOL_FEATURES) == (2, 2048)
    assert out["logits"].shape == (2, inception_v3.NUM_LOGITS) == (2, 1008)
    assert out["logits_unbiased"].shape == (2, 1008)
    assert out["pool"].dtype == out["logits"].dtype == jnp.float32
    assert out["logits_unbiased"].dtype == jnp.float32


def test_bad_channel_count_rejected(abstract):
    images = jax.ShapeDtypeStruct((1, 32, 32, 4), jnp.float32)
    with pytest.raises(ValueError, match="C in"):
        jax.eval_shape(inception_v3.InceptionV3FID().apply, abstract, images)


def test_parameter_count_matches_layer_specs(abstract):
    assert len(_CONVS) == 94
    flat = traverse_util.flatten_dict(abstract["params"])
    kernels = [spec.shape for path, spec in flat.items()
               if path[-2:] == ("conv", "kernel")]
    # Flax stores submodules by name, not in call order: compare multisets.
    assert sorted(kernels) == sorted(
        (kh, kw, cin, cout) for cin, cout, kh, kw in _CONVS)
    assert flat[("fc", "kernel")].shape == (2048, 1008)
    assert flat[("fc", "bias")].shape == (1008,)

    conv = sum(kh * kw * cin * cout for cin, cout, kh, kw in _CONVS)
    bn_channels = sum(cout for _, cout, _, _ in _CONVS)
    fc = 2048 * 1008 + 1008
    assert _count(abstract["params"]) == conv + 2 * bn_channels + fc
    assert _count(abstract["batch_stats"]) == 2 * bn_channels
    # pytorch-fid's state dict holds both (less num_batches_tracked):
    # 23,850,960 parameters plus 34,432 running statistics.
    assert _count(abstract) == 23_885_392


def test_load_params_structure_and_layouts(abstract, torch_state, loaded):
    assert jax.tree.structure(loaded) == jax.tree.structure(abstract)
    for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(abstract)):
        assert got.shape == want.shape and got.dtype == jnp.float32

    params, stats = loaded["params"], loaded["batch_stats"]
    # A 1x7 conv: OIHW [o, i, h, w] -> HWIO [h, w, i, o].
    torch_kernel = torch_state["Mixed_6b.branch7x7_2.conv.weight"]
    assert torch_kernel.shape == (128, 128, 1, 7)
    kernel = np.asarray(params["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"])
    np.testing.assert_array_equal(kernel, torch_kernel.transpose(2, 3, 1, 0))
    assert kernel[0, 5, 17, 3] == torch_kernel[3, 17, 0, 5]

    torch_fc = torch_state["fc.weight"]
    np.testing.assert_array_equal(params["fc"]["kernel"], torch_fc.T)
    np.testing.assert_array_equal(params["fc"]["bias"],
                                  torch_state["fc.bias"])

    prefix = "Mixed_7c.branch_pool.bn."
    bn = params["Mixed_7c"]["branch_pool"]["bn"]
    bn_stats = stats["Mixed_7c"]["branch_pool"]["bn"]
    np.testing.assert_array_equal(bn["scale"], torch_state[prefix + "weight"])
    np.testing.assert_array_equal(bn["bias"], torch_state[prefix + "bias"])
    np.testing.assert_array_equal(bn_stats["mean"],
                                  torch_state[prefix + "running_mean"])
    np.testing.assert_array_equal(bn_stats["var"],
                                  torch_state[prefix + "running_var"])


def _corrupt(torch_state, tmp_path, name, **changes):
    state = dict(torch_state)
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    path = tmp_path / f"{name}.npz"
    np.savez(path, **state)
    return path


def test_load_params_missing_key(torch_state, tmp_path):
    path = _corrupt(torch_state, tmp_path, "missing",
                    **{"Mixed_5b.branch5x5_2.bn.running_var": None})
    with pytest.raises(ValueError, match=r"missing keys: \['Mixed_5b"
                       r"\.branch5x5_2\.bn\.running_var \(64,\)'\]"):
        inception_v3.load_params(path)


def test_load_params_wrong_shape(torch_state, tmp_path):
    path = _corrupt(torch_state, tmp_path, "shape",
                    **{"fc.weight": np.zeros((1000, 2048), np.float32)})
    with pytest.raises(ValueError, match=r"fc\.weight: expected shape "
                       r"\(1008, 2048\), got \(1000, 2048\)"):
        inception_v3.load_params(path)


def test_load_params_unexpected_key(torch_state, tmp_path):
    path = _corrupt(torch_state, tmp_path, "extra",
                    **{"AuxLogits.fc.weight": np.zeros((1008, 768),
                                                       np.float32)})
    with pytest.raises(ValueError, match=r"unexpected keys: "
                       r"\['AuxLogits\.fc\.weight \(1008, 768\)'\]"):
        inception_v3.load_params(path)


def test_load_params_missing_file_explains(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        inception_v3.load_params(tmp_path / "nope.npz")
    message = str(info.value)
    assert "pip install pytorch-fid torch" in message
    assert "fid_inception_v3" in message and "np.savez" in message


def test_avg_pool_excludes_padding():
    x = jnp.arange(16, dtype=jnp.float32).reshape(1, 4, 4, 1)
    pooled = inception_v3._avg_pool_3x3(x)[0, :, :, 0]
    # A corner averages its 2x2 in-image window, not 9 values with zeros.
    assert pooled[0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert pooled[1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))


def test_forward_with_loaded_weights_is_finite(loaded):
    feature_fn = inception_v3.make_feature_fn(loaded)
    images = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3),
                                dtype=jnp.float32, minval=-1.0, maxval=1.0)
    out = feature_fn(images)
    assert out["pool"].shape == (1, 2048)
    assert out["logits"].shape == (1, 1008)
    assert np.all(np.isfinite(out["pool"]))
    assert np.all(np.isfinite(out["logits"]))
    # Post-ReLU average: non-negative and not collapsed to zero.
    assert np.all(np.asarray(out["pool"]) >= 0.0)
    assert float(jnp.mean(out["pool"])) > 0.0


# The Inception Score's classifier: softmax(pool @ W) without the fc bias, as
# openai/improved-gan's inception_score.py (`logits = tf.matmul(pool3, w)`,
# w the input of softmax/logits/MatMul) and torch-fidelity's
# `logits_unbiased`; FID's pool features are untouched.

def _np_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - np.max(logits, axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)


def _np_inception_score(probabilities: np.ndarray, splits: int) -> float:
    """Mean over splits of exp(E_x KL(p(y|x) || p(y))), the original code's
    loop, in float64."""
    n = len(probabilities)
    scores = []
    for i in range(splits):
        part = probabilities[i * n // splits:(i + 1) * n // splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores))


def test_inception_score_of_a_stand_in_head_drops_the_bias():
    """A tiny stand-in for the network's head (pool features, W, b): the IS
    the extractor's probabilities give is the NumPy IS of softmax(pool @ W),
    not of softmax(pool @ W + b)."""
    from gan_jax.metrics import classifier_score
    from gan_jax.metrics import features
    rng = np.random.default_rng(3)
    n, d, k, splits = 40, 6, 5, 4
    pool = rng.normal(0.0, 1.0, (n, d)).astype(np.float32)
    kernel = rng.normal(0.0, 1.0, (d, k)).astype(np.float32)
    bias = rng.normal(0.0, 2.0, (k,)).astype(np.float32)
    head = inception_v3.ClassifierHead(num_logits=k)

    @jax.jit
    def probabilities_of(pool):
        outputs = head.apply({"params": {"kernel": kernel, "bias": bias}}, pool)
        return features.inception_outputs({"pool": pool, **outputs})["probabilities"]

    got = classifier_score.inception_score(
        np.asarray(probabilities_of(pool)), num_splits=splits)[0]
    pool64, kernel64 = pool.astype(np.float64), kernel.astype(np.float64)
    want = _np_inception_score(_np_softmax(pool64 @ kernel64), splits)
    biased = _np_inception_score(
        _np_softmax(pool64 @ kernel64 + bias.astype(np.float64)), splits)
    # float32 logits are off by at most d eps |pool| @ |W| (a d-term sum);
    # log p by twice that, and IS = exp(mean KL) relatively by the KL's
    # error, at most twice the log-probabilities' (KL = E[log p - log p_S]).
    eps = float(np.finfo(np.float32).eps)
    logit_error = d * eps * float(np.max(np.abs(pool64) @ np.abs(kernel64)))
    tolerance = 4 * 2 * logit_error + 8 * eps
    print(f"IS: got {got:.6f}, bias-free NumPy {want:.6f}, with bias {biased:.6f}")
    assert got == pytest.approx(want, rel=tolerance)
    assert abs(biased - want) > 100 * tolerance * want


def test_extractor_probabilities_are_the_bias_free_softmax(weights_file, torch_state):
    """End to end on the random state dict: `features.create("inception")`
    gives softmax(pool @ fc.weight^T), the bias left out."""
    from gan_jax.metrics import features
    extractor = features.create("inception", str(weights_file))
    images = jax.random.uniform(jax.random.key(1), (2, 32, 32, 3),
                                dtype=jnp.float32, minval=-1.0, maxval=1.0)
    out = jax.device_get(extractor.fn(images))
    pool = np.asarray(out["features"], np.float64)
    weight = torch_state["fc.weight"].astype(np.float64)  # (1008, 2048)
    bias = torch_state["fc.bias"].astype(np.float64)
    want = _np_softmax(pool @ weight.T)
    biased = _np_softmax(pool @ weight.T + bias)
    got = np.asarray(out["probabilities"], np.float64)
    # The 2048-term float32 dot: rounding errors add as a random walk,
    # sqrt(2048) eps |pool| @ |W^T| in the logits; probabilities move
    # relatively by twice the largest logit error (softmax's normaliser).
    eps = float(np.finfo(np.float32).eps)
    logit_error = np.sqrt(2048) * eps * float(np.max(np.abs(pool) @ np.abs(weight.T)))
    tolerance = 2 * logit_error + 8 * eps
    print(f"max relative difference: to bias-free "
          f"{np.max(np.abs(got / want - 1)):.3g}, to biased "
          f"{np.max(np.abs(got / biased - 1)):.3g}, tolerance {tolerance:.3g}")
    np.testing.assert_allclose(got, want, rtol=tolerance)
    assert np.max(np.abs(biased / want - 1)) > 10 * tolerance
