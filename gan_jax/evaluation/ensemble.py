"""A GAN ensemble: K trained generators sampled as one generator.

The mixture p(x) = sum_k w_k p_k(x) of the members' distributions, as in
Wang et al. 2016 ("Ensembles of Generative Adversarial Networks") and the
mixture-of-generators view of MGAN (Hoang et al. 2018): a sample is a draw of
member k with probability w_k, then x = G_k(z).

Which member draws which sample is not random here: of N samples, member k
draws exactly `component_counts(N, w)[k]`, the largest-remainder
(Hamilton) apportionment of N to the weights, so every count is within 1 of
N w_k and they sum to N. Drawing the members i.i.d. would give the same
mixture in expectation with multinomial noise in the counts (a standard
deviation of sqrt(N w_k (1 - w_k)), 20 samples of 2,500 at w_k = 0.2); the
fixed counts are stratified sampling of the mixture, so a comparison of the
mixture with its members is not blurred by that noise and the counts can be
checked exactly.

The samples come grouped by member (member 0's first), and sample i is drawn
from the latent that position i of the same key's latent stream gives a
single generator (`gan_jax.evaluation.sampling`), sent to its member: so an
ensemble of one member draws exactly that generator's samples, and a sample
grid shows the members as consecutive blocks.

Host-side NumPy; the drawing itself is `sampling.generate_batches`.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from gan_jax.game.state import GANState

WEIGHTS_FLAG = "--ensemble_weights"


class Ensemble(NamedTuple):
    """K trained generators as one (built by `create`).

    states: each member's trained state (its EMA generator is drawn).
    specs: each member's run spec (`gan_jax.run.gan_spec.GanSpec`), for its
      standing statistics and what was measured.
    weights: `(K,)` float64 mixture weights, >= 0, summing to 1.
    """
    states: tuple[GANState, ...]
    specs: tuple[Any, ...]
    weights: np.ndarray


def check_weights(weights: Sequence[float] | None, num_members: int, *,
                  flag: str = WEIGHTS_FLAG) -> np.ndarray:
    """The mixture weights, normalised to sum to 1: uniform for None.

    Raises:
      ValueError naming `flag`: not one weight per member, a weight that is
        negative or not finite, or weights summing to 0.
    """
    if weights is None:
        return np.full(num_members, 1.0 / num_members)
    values = np.asarray(weights, np.float64)
    example = ",".join(["1"] * num_members)
    if values.shape != (num_members,):
        raise ValueError(
            f"{flag} has {values.size} weight(s) for {num_members} ensemble "
            f"member(s): give one per member, in the order of --workdir, e.g. "
            f"{flag}={example} (or leave it out for equal weights).")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            f"{flag}={','.join(f'{v:g}' for v in values)} holds a negative or "
            f"non-finite weight; weights are relative frequencies >= 0, e.g. "
            f"{flag}={example}.")
    if values.sum() <= 0:
        raise ValueError(
            f"{flag}={','.join(f'{v:g}' for v in values)} sums to 0: at least "
            f"one member must be drawn, e.g. {flag}={example}.")
    return values / values.sum()


def create(states: Sequence[GANState], specs: Sequence[Any],
           weights: Sequence[float] | None = None) -> Ensemble:
    """An ensemble of `states` (with their run `specs`), weights checked
    (`check_weights`)."""
    if len(states) != len(specs) or not states:
        raise ValueError(f"An ensemble needs one spec per state and at least "
                         f"one member; got {len(states)} states and "
                         f"{len(specs)} specs.")
    return Ensemble(tuple(states), tuple(specs),
                    check_weights(weights, len(states)))


def component_counts(num: int, weights: np.ndarray) -> np.ndarray:
    """`(K,)` int64 samples per member of `num`: the largest-remainder
    (Hamilton) apportionment.

    Member k first gets floor(num w_k) (w normalised to sum to 1); the
    samples left over, fewer than K, go one each to the members with the
    largest remainders num w_k - floor(num w_k), the lower index first on a
    tie. So the counts sum to `num` and |count_k - num w_k| < 1; a member of
    weight 0 gets none.
    """
    weights = np.asarray(weights, np.float64)
    quotas = num * weights / weights.sum()
    counts = np.floor(quotas).astype(np.int64)
    remainders = np.where(weights > 0, quotas - counts, -1.0)
    left = num - int(counts.sum())
    counts[np.argsort(-remainders, kind="stable")[:left]] += 1
    return counts


def member_indices(num: int, weights: np.ndarray) -> np.ndarray:
    """`(num,)` int32: the member that draws each sample, grouped (member 0's
    `component_counts(num, weights)[0]` samples first, then member 1's, ...)."""
    counts = component_counts(num, weights)
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)
