"""Comparisons of two programs' float32 results with tolerances from the
float error of what they compute, for the tests of train steps.

Summing n float32 terms in any order is exact to within (n - 1) 2^-24 times
the sum of their magnitudes, so two programs that reduce in different orders
(jitted or not, vmapped or not, fused differently on another CPU) differ by
about n 2^-24 of that, n being the terms of the program's largest reduction.
A leaf's norm stands in for the sum of magnitudes: a gradient leaf's norm is
of its terms' size, not a small difference of large ones.

Parameters after an Adam step are not compared: Adam moves a parameter by
about lr * sign(gradient) whatever the gradient's size, so a gradient that is
float noise around zero moves it by +lr in one program and -lr in another.
Adam's first moment is compared instead, a fixed linear combination of the
steps' gradients ((1 - b1) * gradient after one step). This assumes no leaf
whose whole gradient is float noise (a bias in front of a normalisation);
compare the other leaves where there is one.
"""

import jax
import numpy as np
import optax


def relative_differences(a, b) -> dict[str, float]:
    """||a - b|| / ||b|| for each leaf, by its path (a leaf of zeros is
    compared absolutely)."""
    differences = {}
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0],
                            jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        scale = max(np.linalg.norm(y), np.finfo(np.float32).tiny)
        differences[jax.tree_util.keystr(path)] = float(np.linalg.norm(x - y) / scale)
    return differences


def assert_norms_close(a, b, reduced_terms: int) -> None:
    """`a` and `b` agree leaf by leaf, norm-wise, to `reduced_terms * 2^-24`
    of each leaf of `b`."""
    tolerance = reduced_terms * 2.0**-24
    for path, difference in relative_differences(a, b).items():
        assert difference <= tolerance, (path, difference, tolerance)


def first_moments(network):
    """Adam's first moment `mu` of a `NetworkState`, a tree like its params."""
    return optax.tree_utils.tree_get(network.opt_state, "mu")


def assert_same_gradients(a, b, reduced_terms: int) -> None:
    """Network states `a` and `b` took as many Adam steps, on the same
    gradients (see the module docstring)."""
    assert int(a.step) == int(b.step), (int(a.step), int(b.step))
    assert_norms_close(first_moments(a), first_moments(b), reduced_terms)


def assert_took_one_step_on(network, grads, b1: float, reduced_terms: int) -> None:
    """`network` took one Adam step, on `grads`."""
    assert int(network.step) == 1, int(network.step)
    assert_norms_close(first_moments(network),
                       jax.tree.map(lambda g: (1.0 - b1) * g, grads), reduced_terms)
