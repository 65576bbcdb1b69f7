"""Settings for every test process (and the subprocesses and notebook kernels
it starts, which inherit the environment), and the fixtures the files share.

Isolation: one directory per test run (`GAN_JAX_TEST_RUN_DIR`, made by the
process that starts pytest, inherited by its xdist workers, removed at the
end) holds everything a test would otherwise leave outside its temporary
directories: JAX's compilation cache (so programs compiled by one test are
reused by the next, but never by a later run), matplotlib's cache and TFDS's
default data directory.

Speed: most of the suite's time is XLA compiling small programs that then run
for a few steps, so the tests ask XLA:CPU for its cheapest code generation
(`--xla_backend_optimization_level=0`): about a third less time on the
compile-bound files, the same programs and the same tests. Benchmarks and
real runs keep the default optimisation.
"""

import os
import shutil
import tempfile

import pytest

_FAST_COMPILE = "--xla_backend_optimization_level=0"
_RUN_DIR_VARIABLE = "GAN_JAX_TEST_RUN_DIR"

if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

# The first process of a run (pytest itself, before it starts any worker) makes
# the directory; workers, subprocesses and notebook kernels inherit it.
_OWNS_RUN_DIR = _RUN_DIR_VARIABLE not in os.environ
if _OWNS_RUN_DIR:
    os.environ[_RUN_DIR_VARIABLE] = tempfile.mkdtemp(prefix="gan_jax_tests_")
_RUN_DIR = os.environ[_RUN_DIR_VARIABLE]
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(_RUN_DIR, "xla_cache")
os.environ["MPLCONFIGDIR"] = os.path.join(_RUN_DIR, "matplotlib")
os.environ["TFDS_DATA_DIR"] = os.path.join(_RUN_DIR, "tfds_default")


def pytest_unconfigure(config):
    del config
    if _OWNS_RUN_DIR:
        shutil.rmtree(_RUN_DIR, ignore_errors=True)


# Files whose tests are independent of each other and each take many seconds:
# the workers take their tests one by one. Every other file is one unit of
# work, so that its module-level fixtures are built once per run.
_SPREAD_TEST_BY_TEST = ("test_notebooks.py",)


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling with a test file as the scope (except the
    files above). Not `--dist loadgroup` with marks: under pytest 9 xdist 3.8
    no longer sees the group in the test ids, and spreads every test."""
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=g-import-not-at-top

    class FileScheduling(LoadScopeScheduling):

        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return nodeid if path.endswith(_SPREAD_TEST_BY_TEST) else path

    return FileScheduling(config, log)


@pytest.fixture(scope="session")
def toy_data_dir(tmp_path_factory):
    """A TFDS data directory shared by the tests of one worker: the toy
    mixtures (110,000 examples, about 4 s to prepare) are prepared in it once,
    by the first test that loads them. Tests of preparation itself use their
    own directories."""
    return str(tmp_path_factory.mktemp("shared_tfds"))

