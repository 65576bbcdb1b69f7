"""Tests for the image-to-image networks: pix2pix's U-Net and PatchGAN,
CycleGAN's ResNet generator, SRGAN's SRResNet and discriminator.

XLA compiles slowly on a small CPU, so the networks run narrow on small
inputs, shapes and parameter counts come from `jax.eval_shape` (traced, never
compiled or allocated), and initialisation uses the "rbg" PRNG, as in
test_models.py.
"""

import functools
import math

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import cyclegan
from gan_jax.models import pix2pix
from gan_jax.models import srgan

INIT_KEY = jax.random.key(0, impl="rbg")
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _images(shape, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.uniform(-1.0, 1.0, shape), jnp.float32)


def _abstract(shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


def _init(module, *inputs, **kwargs):
    return jax.jit(lambda key: module.init(key, *inputs, **kwargs))(INIT_KEY)


def _param_count(module, *inputs, **kwargs):
    variables = jax.eval_shape(module.init, INIT_KEY, *inputs, **kwargs)
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables["params"]))


# ------------------------------------------------------------------ shapes

GENERATOR_CASES = [
    # (module, input shape, output shape)
    (pix2pix.UNetGenerator(3, base_channels=8, max_channels=32, num_downsamples=5),
     (2, 32, 32, 3), (2, 32, 32, 3)),
    # 28 = 7 * 2**2; grey in, RGB out.
    (pix2pix.UNetGenerator(3, base_channels=8, num_downsamples=2, norm="instance"),
     (2, 28, 28, 1), (2, 28, 28, 3)),
    (cyclegan.ResnetGenerator(3, base_channels=8, num_blocks=2),
     (2, 32, 32, 3), (2, 32, 32, 3)),
    (cyclegan.ResnetGenerator(1, base_channels=8, num_blocks=1, norm="batch"),
     (2, 28, 28, 1), (2, 28, 28, 1)),
    # Not square, so a swapped H and W would show.
    (srgan.SRResNetGenerator(1, channels=8, num_blocks=2, upscale=4),
     (2, 6, 10, 1), (2, 24, 40, 1)),
]


@pytest.mark.parametrize("module, in_shape, out_shape", GENERATOR_CASES,
                         ids=["unet", "unet_grey", "resnet", "resnet_bn", "srresnet"])
def test_generators_give_the_expected_shape_inside_the_tanh_range(module, in_shape,
                                                                  out_shape):
    x = _images(in_shape)
    variables = _init(module, x)
    # Training mode, where BatchNorm normalises with the batch statistics:
    # at initialisation its running averages (and the N(0, 0.02) weights)
    # shrink the activations towards 0, which would leave tanh unexercised.
    y, _ = jax.jit(lambda v, x: module.apply(
        v, x, train=True, rngs={"dropout": INIT_KEY}, mutable=["batch_stats"]))(
            variables, x)
    assert y.shape == out_shape and y.dtype == jnp.float32
    y = np.asarray(y)
    assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1.0)
    assert y.std() > 1e-2


@pytest.mark.parametrize("upscale", [2, 8])
def test_srresnet_output_is_upscale_times_the_input_size(upscale):
    module = srgan.SRResNetGenerator(3, channels=4, num_blocks=1, upscale=upscale)
    y = jax.eval_shape(lambda x: module.init_with_output(INIT_KEY, x)[0],
                       _abstract((2, 5, 7, 3)))
    assert y.shape == (2, 5 * upscale, 7 * upscale, 3)


@pytest.mark.parametrize("num_layers, in_shape, logits_shape", [
    (3, (2, 256, 256, 3), (2, 30, 30)),  # The paper's 70x70 PatchGAN.
    (3, (1, 256, 128, 3), (1, 30, 14)),
    (1, (2, 64, 64, 3), (2, 30, 30)),
    (3, (1, 24, 24, 3), (1, 1, 1)),  # The smallest input it accepts.
])
def test_patch_discriminator_logit_shapes(num_layers, in_shape, logits_shape):
    module = pix2pix.PatchDiscriminator(num_layers=num_layers)
    logits = jax.eval_shape(lambda x: module.init_with_output(INIT_KEY, x)[0],
                            _abstract(in_shape))
    assert logits.shape == logits_shape and logits.dtype == jnp.float32


def test_srgan_discriminator_gives_one_logit_after_four_halvings():
    module = srgan.SRGANDiscriminator(channels=8, dense_units=16)
    x = _images((2, 32, 48, 3))
    variables = _init(module, x)
    # Four stride-2 blocks: 32x48 -> 2x3, with 8 * channels = 64 channels.
    assert variables["params"]["Dense_0"]["kernel"].shape == (2 * 3 * 64, 16)
    logits = jax.jit(lambda v, x: module.apply(v, x))(variables, x)
    assert logits.shape == (2,) and logits.dtype == jnp.float32
    assert logits[0] != logits[1]


@pytest.mark.parametrize("module, args", [
    (pix2pix.UNetGenerator(3, base_channels=4, num_downsamples=3), ((1, 16, 16, 3),)),
    (pix2pix.PatchDiscriminator(base_channels=4, num_layers=1),
     ((1, 16, 16, 3), (1, 16, 16, 1))),
    (cyclegan.ResnetGenerator(3, base_channels=4, num_blocks=1), ((1, 16, 16, 3),)),
    (srgan.SRResNetGenerator(3, channels=4, num_blocks=1), ((1, 4, 4, 3),)),
    (srgan.SRGANDiscriminator(channels=4, dense_units=8), ((1, 16, 16, 3),)),
], ids=["unet", "patch", "resnet", "srresnet", "srgan_d"])
def test_bfloat16_compute_keeps_float32_parameters_and_outputs(module, args):
    module = module.clone(dtype=jnp.bfloat16)
    inputs = [_abstract(shape, jnp.bfloat16) for shape in args]
    output, variables = jax.eval_shape(
        lambda *x: module.init_with_output(INIT_KEY, *x), *inputs)
    assert output.dtype == jnp.float32
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype("float32")}


# -------------------------------------------------------- parameter counts

def test_parameter_counts_match_the_reference_implementation():
    rgb = _abstract((1, 256, 256, 3))
    # pytorch-CycleGAN-and-pix2pix, resnet_9blocks, ngf 64, instance norm.
    assert _param_count(cyclegan.ResnetGenerator(3), rgb) == 11_378_179
    # basic (n_layers_D 3) PatchGAN, instance norm, 3 input channels.
    assert _param_count(pix2pix.PatchDiscriminator(norm="instance"), rgb) == 2_764_737
    # pix2pix's conditional D with batch norm: 3 + 3 channels in.
    assert _param_count(pix2pix.PatchDiscriminator(norm="batch"), rgb,
                        condition=rgb) == 2_768_705
    # unet_256 with batch norm: scale + bias of every BatchNorm, not the
    # running statistics. The reference prints "54.414 M"; its source gives
    # every down convolution `bias=use_bias` (False with BatchNorm), the first
    # included, which makes exactly 54,413,955 (a bias on the first
    # convolution would add its 64 outputs: 54,414,019).
    unet = pix2pix.UNetGenerator(3, num_downsamples=8, norm="batch")
    count = _param_count(unet, rgb)
    assert round(count / 1e6, 3) == 54.414
    assert count == 54_413_955


def test_srresnet_parameter_count_by_hand():
    module = srgan.SRResNetGenerator(1, channels=8, num_blocks=2, upscale=4)
    first = 9 * 9 * 1 * 8 + 8 + 1                     # conv 9x9 + bias, PReLU
    block = 2 * (3 * 3 * 8 * 8 + 2 * 8) + 1           # 2 x (conv, BN), PReLU
    after_blocks = 3 * 3 * 8 * 8 + 2 * 8              # conv, BN
    upsample = 2 * (3 * 3 * 8 * 32 + 32 + 1)          # 2 x (conv + bias, PReLU)
    last = 9 * 9 * 8 * 1 + 1                          # conv 9x9 + bias
    expected = first + 2 * block + after_blocks + upsample + last
    assert expected == 8942
    assert _param_count(module, _abstract((1, 8, 8, 1))) == expected


# ------------------------------------------------------------------ U-Net

@pytest.mark.slow
def test_unet_outermost_skip_is_the_first_convolution_output_concatenated_first():
    base, out = 4, 2
    module = pix2pix.UNetGenerator(out, base_channels=base, max_channels=16,
                                   num_downsamples=4)
    x = _images((1, 16, 16, 3))
    variables = _init(module, x)
    params = variables["params"]
    # The outermost decoder convolution reads [skip, decoder] channels.
    assert params["up0"]["kernel"].shape == (4, 4, 2 * base, out)
    assert "bias" not in params["down0"]  # The reference's use_bias with BatchNorm.
    apply = jax.jit(lambda v, x: module.apply(v, x))

    # With level 1's decoder convolution zeroed (its BatchNorm then outputs its
    # zero bias), only the skip reaches the output:
    # tanh(convT(relu(conv(x)), the kernel's first `base` input channels)).
    silenced = jax.tree.map(lambda a: a, variables)  # New containers.
    silenced["params"]["up1"]["kernel"] = jnp.zeros_like(params["up1"]["kernel"])
    skip = jax.lax.conv_general_dilated(x, params["down0"]["kernel"], (2, 2),
                                        ((1, 1), (1, 1)), dimension_numbers=_DIMENSIONS)
    expected = jnp.tanh(jax.lax.conv_transpose(
        jax.nn.relu(skip), params["up0"]["kernel"][:, :, :base], (2, 2),
        ((2, 2), (2, 2)), dimension_numbers=_DIMENSIONS) + params["up0"]["bias"])
    np.testing.assert_allclose(apply(silenced, x), expected, atol=1e-5)

    # Intact, the bottleneck path sees the whole image: a corner output pixel
    # depends on every input pixel, the far corner included, out of reach of
    # the skip's two 4x4 layers. (A gradient, since a one-pixel change that
    # crosses eight layers of N(0, 0.02) weights drowns in float32 rounding.)
    corner = jax.jit(jax.grad(lambda x: jnp.sum(module.apply(variables, x)[0, -1, -1])))(x)
    assert np.all(np.abs(np.asarray(corner)[0]).sum(axis=-1) > 0)


@pytest.mark.parametrize("num_downsamples", [5, 6, 8])
def test_unet_dropout_sits_where_the_reference_puts_it(num_downsamples):
    # Widths 1, 2, 4, 8, 8, ... are the 64, 128, 256, 512, 512, ... layout
    # scaled down; the reference drops out in the num_downs - 5 inner
    # ngf * 8 blocks above the innermost one.
    module = pix2pix.UNetGenerator(3, base_channels=1, max_channels=8,
                                   num_downsamples=num_downsamples)
    size = 2**num_downsamples
    x = _abstract((1, size, size, 3))
    variables = jax.eval_shape(module.init, INIT_KEY, x)
    _, state = jax.eval_shape(lambda v, x: module.apply(
        v, x, capture_intermediates=lambda m, _: isinstance(m, nn.Dropout),
        mutable=["intermediates"]), variables, x)
    dropped = set(state.get("intermediates", {}))
    assert dropped == {f"dropout{i}" for i in range(4, num_downsamples - 1)}
    assert len(dropped) == num_downsamples - 5


@pytest.fixture(scope="module")
def dropout_unet():
    """A U-Net with dropout at levels 2 and 3 (widths 4, 8, 8, 8, 8)."""
    module = pix2pix.UNetGenerator(3, base_channels=4, max_channels=8,
                                   num_downsamples=5)
    x = _images((2, 32, 32, 3))
    return module, _init(module, x), x


def test_unet_dropout_is_active_only_in_training_and_needs_the_dropout_rng(
        dropout_unet):
    module, variables, x = dropout_unet

    def trainer(rate):
        network = module.clone(dropout_rate=rate)
        return jax.jit(lambda key: network.apply(
            variables, x, train=True, rngs={"dropout": key},
            mutable=["batch_stats"])[0])

    key_a, key_b = jax.random.key(1), jax.random.key(2)
    train = trainer(module.dropout_rate)
    assert not np.allclose(train(key_a), train(key_b))
    np.testing.assert_array_equal(train(key_a), train(key_a))
    # Without dropout the key changes nothing, so the difference above is it.
    train = trainer(0.0)
    np.testing.assert_array_equal(train(key_a), train(key_b))
    with pytest.raises(flax.errors.InvalidRngError, match="dropout"):
        module.apply(variables, x, train=True, mutable=["batch_stats"])
    # Evaluation needs no rng.
    assert module.apply(variables, x, train=False).shape == x.shape


@pytest.mark.parametrize("network", ["unet", "srresnet"])
def test_batch_norm_statistics_move_only_in_training(network, dropout_unet):
    if network == "unet":
        module, variables, x = dropout_unet
    else:
        module = srgan.SRResNetGenerator(1, channels=4, num_blocks=1, upscale=2)
        x = _images((2, 6, 6, 1))
        variables = _init(module, x)

    @functools.partial(jax.jit, static_argnames="train")
    def stats(variables, train):
        return module.apply(variables, x, train=train, rngs={"dropout": INIT_KEY},
                            mutable=["batch_stats"])[1]["batch_stats"]

    before = jax.tree.leaves(variables["batch_stats"])
    for old, new in zip(before, jax.tree.leaves(stats(variables, False))):
        np.testing.assert_array_equal(old, new)
    assert all(not np.allclose(old, new)
               for old, new in zip(before, jax.tree.leaves(stats(variables, True))))


# --------------------------------------------------------------- PatchGAN

def _receptive_window(stack, output_index):
    """The input rows `[first, last]` that output row `output_index` reads,
    composing `first -> s first - p`, `last -> s last - p + k - 1` down the
    stack of (kernel, stride, padding) layers."""
    first = last = output_index
    for kernel, stride, padding in reversed(stack):
        first, last = stride * first - padding, stride * last - padding + kernel - 1
    return first, last


@pytest.mark.parametrize("num_layers, size, receptive_field", [(1, 32, 16), (3, 80, 70)])
def test_patch_logits_change_only_where_their_receptive_field_covers_the_pixel(
        num_layers, size, receptive_field):
    # BatchNorm with running averages (train=False) is a per-pixel affine map,
    # so each logit depends on its receptive field alone; instance norm would
    # mix every pixel.
    stack = [(4, 2, 1)] * num_layers + [(4, 1, 1)] * 2
    first, last = _receptive_window(stack, 0)
    assert last - first + 1 == receptive_field

    module = pix2pix.PatchDiscriminator(base_channels=4, num_layers=num_layers,
                                        norm="batch")
    x = _images((1, size, size, 3))
    variables = _init(module, x)
    apply = jax.jit(lambda x: module.apply(variables, x, train=False))
    row, col = 3 * size // 4, size // 8
    changed = np.asarray(apply(x.at[0, row, col].add(5.0)) != apply(x))[0]

    def covers(o, pixel):
        first, last = _receptive_window(stack, o)
        return first <= pixel <= last

    expected = np.array([[covers(i, row) and covers(j, col)
                          for j in range(changed.shape[1])]
                         for i in range(changed.shape[0])])
    assert 0 < expected.sum() < expected.size  # Both kinds of logits occur.
    np.testing.assert_array_equal(changed, expected)


def test_conditional_patch_discriminator_reads_condition_then_image():
    module = pix2pix.PatchDiscriminator(base_channels=4, num_layers=1)
    x = _images((2, 16, 16, 3), seed=1)
    condition, other = _images((2, 16, 16, 1), seed=2), _images((2, 16, 16, 1), seed=3)
    conditional = _init(module, x, condition=condition)
    unconditional = jax.eval_shape(module.init, INIT_KEY, x)
    assert conditional["params"]["Conv_0"]["kernel"].shape == (4, 4, 4, 4)
    assert unconditional["params"]["Conv_0"]["kernel"].shape == (4, 4, 3, 4)

    apply = jax.jit(lambda x, c: module.apply(conditional, x, condition=c))
    logits = apply(x, condition)
    assert logits.shape == (2, 6, 6)
    assert not np.allclose(logits, apply(x, other))
    joined = jax.jit(lambda x: module.apply(conditional, x))(
        jnp.concatenate([condition, x], axis=-1))
    np.testing.assert_allclose(logits, joined, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("build, shape, message", [
    (lambda: pix2pix.UNetGenerator(3, num_downsamples=5), (1, 48, 48, 3),
     r"divisible by 2\*\*5 = 32; got 48x48"),
    (lambda: cyclegan.ResnetGenerator(3, base_channels=4, num_blocks=1),
     (1, 30, 32, 3), r"divisible by 2\*\*2 = 4 .*got 30x32"),
    (lambda: pix2pix.PatchDiscriminator(num_layers=3), (1, 23, 64, 3),
     r"at least 24x24 pixels .* got 23x64"),
    (lambda: pix2pix.PatchDiscriminator(norm="layer"), (1, 64, 64, 3),
     r"Unknown norm 'layer'. Valid: batch, instance"),
])
def test_unsupported_sizes_raise_a_helpful_value_error(build, shape, message):
    with pytest.raises(ValueError, match=message):
        jax.eval_shape(build().init, INIT_KEY, _abstract(shape))


@pytest.mark.parametrize("upscale", [3, 6, 1])
def test_srresnet_refuses_an_upscale_that_is_not_a_power_of_two(upscale):
    with pytest.raises(ValueError, match=f"power of 2 .*got {upscale}"):
        srgan.SRResNetGenerator(3, upscale=upscale)
