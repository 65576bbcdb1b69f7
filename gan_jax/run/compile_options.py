"""XLA compiler options for the training programs, per backend, and the
persistent compilation cache they are kept in.

On XLA:CPU, XLA hands each large convolution to its experimental YNNPACK
library on its own (`individual_convolution` library fusions) by default.
For the GAN steps here that is slower than XLA's own convolution kernels for
the kernel gradients, which are most of a DCGAN step: inside the library they
ran at about half the forward passes' rate. The library's elementwise fusions
cost time too: they pull a forward convolution and the activation after it
into one fusion, but take every broadcast constant (LeakyReLU's slope, a
BatchNorm scale) as a materialised full-size array. Keeping only the library
fusions built around matrix products and reductions leaves every
convolution and elementwise op to XLA. On a 2-core development CPU that
made the `dcgan64_reference` step 1.23x faster than XLA's defaults, and
1.06x faster than with the elementwise fusions kept
(`benchmarks/step_variants.py`, `benchmarks/README.md`).

The options go to `jax.jit(..., compiler_options=...)`, so they apply to the
training programs only, never to a user's other JAX code. Setting the same
option in `XLA_FLAGS` wins: this module then adds nothing.
"""

import os

from etils import epath
import jax

LIBRARY_FUSIONS_OPTION = "xla_cpu_experimental_ynn_fusion_type"
# The library fusion kinds but `individual_convolution` and `eltwise`.
CPU_LIBRARY_FUSIONS = "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE"


def for_training(backend: str | None = None,
                 environ=os.environ) -> dict[str, str]:
    """Options for `jax.jit(..., compiler_options=...)` of a train step.

    Empty off the CPU (cuDNN and the TPU compiler handle convolutions
    natively), and when `XLA_FLAGS` already sets the library fusion kinds.
    """
    backend = backend or jax.default_backend()
    if backend != "cpu" or LIBRARY_FUSIONS_OPTION in environ.get("XLA_FLAGS", ""):
        return {}
    return {LIBRARY_FUSIONS_OPTION: CPU_LIBRARY_FUSIONS}


def use_compilation_cache(train) -> None:
    """Keeps compiled programs in `train.compilation_cache_dir` (a spec's
    `train` section, any task's; None or "" turns it off), so that a rerun, a
    resumed run, or a run whose config changes no shape and no static option
    loads them instead of compiling again."""
    directory = train.compilation_cache_dir
    if directory:
        jax.config.update("jax_compilation_cache_dir",
                          str(epath.Path(directory).expanduser()))
        # Every program: even short compiles add up over evaluations.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
