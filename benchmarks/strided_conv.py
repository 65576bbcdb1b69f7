"""Per-layer speed of each implementation in `gan_jax.models.strided_conv`.

    PYTHONPATH=. python benchmarks/strided_conv.py [--batch=64] [--repeats=7]

For the stride-2 layers of the 64x64 DCGAN (`configs/dcgan64_reference.py`),
prints the median time of the forward pass and of the gradient of a scalar
loss with respect to the input, to the kernel, and to both (each includes a
forward pass), per implementation, compiled with the training programs'
options (`gan_jax.run.compile_options`; `--xla_defaults` for XLA's own) on the
default backend. The train step needs the kernel gradient of every layer and
the input gradient of all but the discriminator's first.
"""

import statistics
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from gan_jax.models import strided_conv
from gan_jax.run import compile_options

_BATCH = flags.DEFINE_integer("batch", 64, "Batch size.", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed calls (median reported).",
                                lower_bound=1)
_SKIP_SLOW = flags.DEFINE_bool("skip_slow", False, "Skip the standard transposed "
                               "convolution's gradient on CPU (seconds per call).")
_XLA_DEFAULTS = flags.DEFINE_bool("xla_defaults", False, "Compile without "
                                  "gan_jax.run.compile_options.")

# (input size, in channels, out channels) of dcgan64's stride-2 layers.
DOWN_LAYERS = ((64, 3, 64), (32, 64, 128), (16, 128, 256), (8, 256, 512))
UP_LAYERS = ((4, 512, 256), (8, 256, 128), (16, 128, 64), (32, 64, 3))


def _median_ms(fn, *args) -> float:
    compiled = jax.jit(fn, compiler_options=_compiler_options())
    jax.block_until_ready(compiled(*args))
    times = []
    for _ in range(_REPEATS.value):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _row(layer_fn, implementation, size, in_channels, out_channels):
    x = jax.random.normal(jax.random.key(0), (_BATCH.value, size, size, in_channels))
    kernel = 0.02 * jax.random.normal(jax.random.key(1),
                                      (4, 4, in_channels, out_channels))

    def forward(x, kernel):
        return layer_fn(x, kernel, implementation)

    def loss(x, kernel):
        return jnp.sum(forward(x, kernel) ** 2)

    forward_ms = _median_ms(forward, x, kernel)
    slow = (_SKIP_SLOW.value and implementation == "transpose"
            and jax.default_backend() == "cpu")
    grads_ms = [float("nan") if slow else _median_ms(jax.grad(loss, argnums), x, kernel)
                for argnums in (0, 1, (0, 1))]
    print(f"| {size}x{size}x{in_channels} -> {out_channels} | {implementation} | "
          f"{forward_ms:.1f} | " + " | ".join(f"{ms:.1f}" for ms in grads_ms) + " |",
          flush=True)


def _compiler_options():
    return None if _XLA_DEFAULTS.value else compile_options.for_training()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    options = _compiler_options()
    print(f"batch {_BATCH.value}, {jax.default_backend()}, median of "
          f"{_REPEATS.value} calls, ms, compiler options {options}")
    print("| layer | implementation | forward | forward + grad(x) | "
          "forward + grad(kernel) | forward + grad(x, kernel) |")
    print("|---|---|---|---|---|---|")
    for shape in DOWN_LAYERS:
        for implementation in strided_conv.DOWNSAMPLE_IMPLEMENTATIONS[1:]:
            _row(strided_conv.halving_conv, implementation, *shape)
    for shape in UP_LAYERS:
        for implementation in strided_conv.UPSAMPLE_IMPLEMENTATIONS[1:]:
            _row(strided_conv.doubling_conv_transpose, implementation, *shape)


if __name__ == "__main__":
    app.run(main)
