"""Settings for every test process (and the subprocesses and notebook kernels
it starts, which inherit the environment).

Most of the suite's time is XLA compiling small programs that then run for a
few steps, so the tests ask XLA:CPU for its cheapest code generation
(`--xla_backend_optimization_level=0`): about a third less time on the
compile-bound files, the same programs and the same tests. Benchmarks and
real runs keep the default optimisation.
"""

import os

_FAST_COMPILE = "--xla_backend_optimization_level=0"

if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()
