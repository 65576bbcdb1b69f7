"""BigGAN's orthogonal regularisation (Brock et al. 2019, Sec. 3.1, eq. 3).

    R_beta(W) = beta * ||W W^T (.) (1 - I)||_F^2

on every weight matrix W of the generator, rows = output units (a
convolution kernel flattened to `(out, kh * kw * in)`). Biases, BatchNorm
scales and the shared class embedding are left out, as in the authors'
BigGAN-PyTorch (`utils.ortho`, which blacklists `G.shared`).

Scale convention: BigGAN-PyTorch adds `strength * 2 (W W^T (.) (1 - I)) W`
to each weight's gradient, which is the gradient of
`strength / 2 * ||W W^T (.) (1 - I)||_F^2`. We follow the code, so that the
paper's and the code's beta = 1e-4 give the code's step: the term here is
`1/2 * sum_W ||W W^T (.) (1 - I)||_F^2`, weighted by `tricks.orthogonal_weight`.
Spectrally normalised layers are regularised on their stored (unnormalised)
kernels, as the code does on `weight_orig`.
"""

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import Trick

# Leaves whose path contains this are class embeddings, not weight matrices.
_EXCLUDED = "embedding"


def off_diagonal_gram(kernel: jax.Array) -> jax.Array:
    """`1/2 ||W W^T (.) (1 - I)||_F^2` for a kernel whose last axis is the
    output units."""
    w = jnp.asarray(kernel, jnp.float32).reshape(-1, kernel.shape[-1]).T
    gram = w @ w.T
    off_diagonal = gram * (1.0 - jnp.eye(gram.shape[0], dtype=gram.dtype))
    return 0.5 * jnp.sum(jnp.square(off_diagonal))


def regularized_kernels(params) -> list[tuple[str, jax.Array]]:
    """The `(path, leaf)` pairs the regulariser acts on: every leaf with two
    or more axes outside the class embeddings."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in leaves
            if leaf.ndim >= 2 and _EXCLUDED not in jax.tree_util.keystr(path)]


def penalty(params) -> jax.Array:
    """The sum of `off_diagonal_gram` over `regularized_kernels(params)`."""
    return sum((off_diagonal_gram(leaf) for _, leaf in regularized_kernels(params)),
               jnp.zeros((), jnp.float32))


TRICKS = (Trick(
    name="orthogonal", title="orthogonal regularisation", order=140,
    fields=(
        Field("orthogonal_weight", 0.0, "BigGAN's orthogonal regularisation "
              "strength beta on G's weights (1e-4 in the paper; 0 = off)",
              fields.NON_NEGATIVE, example=1e-4),
    ),
    is_active=lambda options: options.orthogonal_weight > 0,
    generator_weight_terms=lambda params, options: {
        "g_orthogonal": (options.orthogonal_weight, penalty(params))},
),)
