"""Tests for the training programs' XLA compiler options."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.run import compile_options


def test_no_options_off_the_cpu():
    assert compile_options.for_training("gpu", environ={}) == {}
    assert compile_options.for_training("tpu", environ={}) == {}


def test_xla_flags_win_over_the_cpu_options():
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2 "
                            "--xla_cpu_experimental_ynn_fusion_type="}
    assert compile_options.for_training("cpu", environ=environ) == {}


def _conv_grads(x, kernel):
    def loss(x, kernel):
        y = jax.lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.sum(jnp.tanh(y) ** 2)
    return jax.grad(loss, (0, 1))(x, kernel)


def _library_fusion_bodies(hlo_text: str) -> list[str]:
    """Bodies of the computations that XLA:CPU's library (kCustom) fusions call."""
    called = re.findall(r"kind=kCustom, calls=(%[\w.\-]+)", hlo_text)
    bodies = []
    for name in called:
        match = re.search(rf"\n{re.escape(name)} [^\n]*\{{\n(.*?)\n\}}", hlo_text, re.S)
        bodies.append(match.group(1) if match else "")
    return bodies


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU options")
def test_cpu_options_take_the_convolutions_out_of_the_library():
    rng = np.random.default_rng(0)
    # Big enough that XLA:CPU's library takes the convolutions by default.
    x = jnp.asarray(rng.normal(size=(8, 16, 16, 32)), jnp.float32)
    kernel = jnp.asarray(0.02 * rng.normal(size=(4, 4, 32, 64)), jnp.float32)
    lowered = jax.jit(_conv_grads).lower(x, kernel)
    default = lowered.compile()
    with_options = lowered.compile(
        compiler_options=compile_options.for_training("cpu", environ={}))

    def library_convolutions(compiled):
        return [body for body in _library_fusion_bodies(compiled.as_text())
                if "convolution(" in body]
    # By default the forward and the kernel-gradient convolutions each go to
    # the library alone; with the options both are XLA's own.
    assert len(library_convolutions(default)) == 2, (
        "XLA:CPU's library fusions changed; re-measure whether "
        "gan_jax.run.compile_options is still needed (benchmarks/README.md).")
    assert library_convolutions(with_options) == []
    for got, want in zip(with_options(x, kernel), default(x, kernel)):
        # Only the summation order differs.
        np.testing.assert_allclose(got, want, rtol=1e-4,
                                   atol=1e-4 * float(np.abs(want).max()))
