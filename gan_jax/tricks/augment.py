"""Differentiable and adaptive augmentation of discriminator inputs.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training") applies the same random, differentiable transformations T to
real and fake samples before the discriminator sees them, D(T(x)) and
D(T(G(z))), so the generator is trained through T and does not learn to
reproduce it. ADA (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data") applies each transformation to each sample with
probability p and tunes p from an overfitting heuristic.

Images are NHWC float arrays in [-1, 1]. Every op `op(x, key) -> x'` keeps the
shape and dtype of `x`, and every sample draws its own random parameters from
the op's key, as each op's docstring says. `adjust_color`, `translate` and
`cutout_at` are the deterministic transforms with explicit parameters.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gan_jax import fields
from gan_jax.tricks.base import Field
from gan_jax.tricks.base import require
from gan_jax.tricks.base import Trick

Op = Callable[[jax.Array, jax.Array], jax.Array]

# DiffAugment's defaults: shifts of up to 1/8 of the image side, cutouts of
# half of it, and the jitter our toy (2-D point) benchmarks use in place of
# image ops for consistency regularisation.
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
JITTER_STD = 0.05

# Each op draws from its key directly. An op that split its key instead
# would reach fold_in(key, i) for small i (with partitionable threefry, JAX's
# default, split(k)[i] is fold_in(k, i)), so the apply/skip gate folds in an
# index that no split reaches and its draw stays independent of the op's.
_GATE_STREAM = 2 ** 31 - 1


def _check_images(op: str, x: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(
            f"Augmentation op {op!r} needs NHWC images (batch, height, width, "
            f"channels); got an array of shape {tuple(x.shape)}. Only "
            f"'jitter' works on other shapes, e.g. 2-D points (batch, 2).")


def _side(size: int, ratio: float) -> int:
    # DiffAugment's int(size * ratio + 0.5): round half up, not Python's
    # round-half-to-even.
    return int(size * ratio + 0.5)


def _uniform_int(key: jax.Array, shape: tuple[int, ...], low: jax.Array,
                 high: jax.Array) -> jax.Array:
    # low + floor(u * (high - low)), u ~ U[0, 1) in float32, gives each of
    # low, ..., high - 1 a probability within about 2^-23 of 1 / (high -
    # low) (u lies on a 2^-23 grid), and compiles at half the cost of
    # jax.random.randint, which draws twice. The minimum guards the top end
    # against rounding.
    u = jax.random.uniform(key, shape, jnp.float32)
    span = (high - low).astype(jnp.float32)
    offset = jnp.minimum(jnp.floor(u * span).astype(jnp.int32), high - low - 1)
    return low + offset


def _per_sample(values: jax.Array, ndim: int) -> jax.Array:
    return values.reshape(values.shape[:1] + (1,) * (ndim - 1))


def adjust_color(x: jax.Array, brightness: jax.Array, saturation: jax.Array,
                 contrast: jax.Array) -> jax.Array:
    """DiffAugment's colour transform with explicit per-sample factors.

    In order, with b, s, c of shape (batch,):
      brightness: x <- x + b;
      saturation: x <- (x - m_c) * s + m_c, m_c the mean over channels of
        each pixel;
      contrast:   x <- (x - m) * c + m, m the mean over height, width and
        channels of each sample.
    `color` draws b ~ U(-0.5, 0.5), s ~ U(0, 2), c ~ U(0.5, 1.5) (Zhao et al.
    2020). b = 0, s = 1, c = 1 is the identity.
    """
    _check_images("color", x)
    dtype = x.dtype
    y = jnp.asarray(x, jnp.float32)
    y = y + _per_sample(jnp.asarray(brightness, jnp.float32), 4)
    pixel_mean = jnp.mean(y, axis=3, keepdims=True)
    y = (y - pixel_mean) * _per_sample(
        jnp.asarray(saturation, jnp.float32), 4) + pixel_mean
    sample_mean = jnp.mean(y, axis=(1, 2, 3), keepdims=True)
    y = (y - sample_mean) * _per_sample(
        jnp.asarray(contrast, jnp.float32), 4) + sample_mean
    return y.astype(dtype)


def color(x: jax.Array, key: jax.Array) -> jax.Array:
    """DiffAugment's random brightness, saturation and contrast.

    x' = adjust_color(x, u_0 - 0.5, 2 u_1, u_2 + 0.5), i.e. per sample
    b ~ U(-0.5, 0.5), s ~ U(0, 2), c ~ U(0.5, 1.5) (Zhao et al. 2020), with
    u = jax.random.uniform(key, (3, batch)) in float32.
    """
    _check_images("color", x)
    # One draw for the three factors: each threefry adds compile time.
    u = jax.random.uniform(key, (3, x.shape[0]), jnp.float32)
    return adjust_color(x, u[0] - 0.5, 2.0 * u[1], u[2] + 0.5)


def _shift_indices(size: int, shifts: jax.Array):
    # Output index i reads input index i - shift; reads that fall outside the
    # image are clipped to a valid index (so the gather is in bounds) and
    # masked to zero afterwards, which also zeroes their gradient.
    source = jnp.arange(size, dtype=jnp.int32)[None, :] - shifts[:, None]
    valid = (source >= 0) & (source < size)
    return jnp.clip(source, 0, size - 1), valid


def translate(x: jax.Array, shift_h: jax.Array,
              shift_w: jax.Array) -> jax.Array:
    """Shifts each image by an integer number of pixels, filling with zeros.

    x'[b, i, j] = x[b, i - shift_h[b], j - shift_w[b]] where that pixel
    exists, else 0: content moves down by shift_h and right by shift_w. The
    gather is linear in x, so gradients flow to the pixels that were kept.
    """
    _check_images("translation", x)
    _, height, width, _ = x.shape
    rows, rows_valid = _shift_indices(
        height, jnp.asarray(shift_h, jnp.int32).reshape(-1))
    cols, cols_valid = _shift_indices(
        width, jnp.asarray(shift_w, jnp.int32).reshape(-1))
    y = jnp.take_along_axis(x, rows[:, :, None, None], axis=1)
    y = jnp.take_along_axis(y, cols[:, None, :, None], axis=2)
    valid = rows_valid[:, :, None, None] & cols_valid[:, None, :, None]
    return jnp.where(valid, y, jnp.zeros((), x.dtype))


def translation(x: jax.Array, key: jax.Array) -> jax.Array:
    """DiffAugment's random translation with zero fill.

    x' = translate(x, t_h, t_w) with, per sample, integers
    t_h ~ U{-s_h, ..., s_h} and t_w ~ U{-s_w, ..., s_w}, s = int(size / 8 +
    0.5) (Zhao et al. 2020); (t_h, t_w) = floor(-s + u * (2 s + 1)) with
    u = jax.random.uniform(key, (2, batch)) and s = [[s_h], [s_w]].
    """
    _check_images("translation", x)
    batch, height, width, _ = x.shape
    limit = jnp.array([[_side(height, TRANSLATION_RATIO)],
                       [_side(width, TRANSLATION_RATIO)]], jnp.int32)
    shifts = _uniform_int(key, (2, batch), -limit, limit + 1)
    return translate(x, shifts[0], shifts[1])


def cutout_at(x: jax.Array, top: jax.Array, left: jax.Array, height: int,
              width: int) -> jax.Array:
    """Zeroes a height x width rectangle of each image, clipped to the image.

    x'[b, i, j] = 0 if top[b] <= i < top[b] + height and
    left[b] <= j < left[b] + width, else x[b, i, j]. `top` and `left` may be
    negative or push the rectangle past the far border.
    """
    _check_images("cutout", x)
    rows = jnp.arange(x.shape[1], dtype=jnp.int32)[None, :]
    cols = jnp.arange(x.shape[2], dtype=jnp.int32)[None, :]
    top = jnp.asarray(top, jnp.int32).reshape(-1, 1)
    left = jnp.asarray(left, jnp.int32).reshape(-1, 1)
    in_rows = (rows >= top) & (rows < top + height)
    in_cols = (cols >= left) & (cols < left + width)
    # `where`, not a multiply by a 0/1 mask: the erased pixels are exactly
    # +0, whatever their sign or value was.
    erased = in_rows[:, :, None, None] & in_cols[:, None, :, None]
    return jnp.where(erased, jnp.zeros((), x.dtype), x)


def cutout(x: jax.Array, key: jax.Array) -> jax.Array:
    """DiffAugment's random cutout.

    Zeroes a c_h x c_w rectangle, c = int(size / 2 + 0.5) (a square for
    square images), centred per sample at an integer o ~ U{0, ..., size -
    c mod 2} in each axis: x' = cutout_at(x, o_h - c_h // 2, o_w - c_w // 2,
    c_h, c_w). Centres near the border clip the square, as in Zhao et al.
    (2020). (o_h, o_w) = floor(u * n) with u = jax.random.uniform(key,
    (2, batch)) and n = [[H + 1 - c_h mod 2], [W + 1 - c_w mod 2]].
    """
    _check_images("cutout", x)
    batch, height, width, _ = x.shape
    cut_h = _side(height, CUTOUT_RATIO)
    cut_w = _side(width, CUTOUT_RATIO)
    centre_end = jnp.array([[height + 1 - cut_h % 2],
                            [width + 1 - cut_w % 2]], jnp.int32)
    centres = _uniform_int(key, (2, batch), jnp.zeros((), jnp.int32),
                           centre_end)
    return cutout_at(x, centres[0] - cut_h // 2, centres[1] - cut_w // 2,
                     cut_h, cut_w)


def flip(x: jax.Array, key: jax.Array) -> jax.Array:
    """Random horizontal flip.

    x'[b, i, j] = x[b, i, W - 1 - j] where u_b = 1, else x[b, i, j], with
    u_b ~ Bernoulli(1/2) from `jax.random.bernoulli(key, 0.5, (batch,))`
    (the x-flip of Karras et al. 2020).
    """
    _check_images("flip", x)
    flipped = jax.random.bernoulli(key, 0.5, (x.shape[0],))
    return jnp.where(flipped[:, None, None, None], x[:, :, ::-1, :], x)


def jitter(x: jax.Array, key: jax.Array) -> jax.Array:
    """Additive Gaussian jitter, for inputs of any shape (e.g. 2-D points).

    x' = x + 0.05 * n, n ~ N(0, I) of x's shape, drawn in float32 as
    `jax.random.normal(key, (x.size,)).reshape(x.shape)`. Not part of
    DiffAugment: a small perturbation under which toy discriminators can be
    made consistent (Zhang et al. 2020, "Consistency Regularization for
    Generative Adversarial Networks").
    """
    # The same distribution as a draw of x's shape, but XLA:CPU compiles the
    # threefry of a flat draw several times faster than that of a 4-D one.
    noise = jax.random.normal(key, (x.size,), jnp.float32).reshape(x.shape)
    return (jnp.asarray(x, jnp.float32) + JITTER_STD * noise).astype(x.dtype)


OPS: dict[str, Op] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
    "flip": flip,
    "jitter": jitter,
}


def _names(policy: str) -> tuple[str, ...]:
    # Whitespace around names is ignored; "" (or blanks) is no op at all.
    if not policy.strip():
        return ()
    return tuple(name.strip() for name in policy.split(","))


def policy_problem(policy: str) -> str | None:
    """None for a valid policy string, else what it must be: the rule of
    the policy fields (`fields.Satisfies`) and of `parse_policy`."""
    unknown = [name for name in _names(policy) if name not in OPS]
    if not unknown:
        return None
    return (f"a comma-separated list of {', '.join(sorted(OPS))}, or '' for none "
            f"({', '.join(map(repr, unknown))} is not one)")


# The config's policy fields (tricks.augment, tricks.cr_augment).
POLICY = fields.Satisfies(policy_problem)


def parse_policy(policy: str, *, field: str = "policy") -> tuple[str, ...]:
    """Parses a comma-separated DiffAugment policy into op names.

    "color,translation" -> ("color", "translation"); "" -> (). Whitespace
    around names is ignored and the order is kept (it is the order `apply`
    uses). `field` names the config entry the string came from, so that an
    error says what to fix.

    Raises:
        ValueError: if a name is not in `OPS`.
    """
    problem = policy_problem(policy)
    if problem is not None:
        raise ValueError(f"{field}={policy!r} must be {problem}.")
    return _names(policy)


def apply(x: jax.Array, key: jax.Array, policy: tuple[str, ...],
          probability=1.0) -> jax.Array:
    """Applies the ops of `policy` in order, each to each sample with prob. p.

    x_0 = x;  x_k = where(u_k < p, op_k(x_{k-1}, key_k), x_{k-1}) per sample,
    u_k ~ U[0, 1). p = 1 is DiffAugment (Zhao et al. 2020); p < 1 is ADA's
    per-sample, per-op augmentation probability (Karras et al. 2020), and
    p = 0 returns x exactly. Op k uses key_k = fold_in(key, k) and its gate
    draws u_k from a separate fold_in of key_k, so appending ops leaves the
    draws of the earlier ones unchanged.

    Args:
        x: a batch: NHWC images for the image ops, any shape for "jitter".
        key: a `jax.random` key.
        policy: op names from `OPS`, e.g. from `parse_policy`.
        probability: p, a Python float or a traced float32 scalar in [0, 1].

    Returns:
        An array of x's shape and dtype; x itself when `policy` is empty.
    """
    if isinstance(policy, str):
        raise TypeError(f"policy must be a tuple of op names, got the string "
                        f"{policy!r}; use parse_policy to split it.")
    unknown = [name for name in policy if name not in OPS]
    if unknown:
        raise ValueError(f"Unknown augmentation op(s) "
                         f"{', '.join(map(repr, unknown))}. Valid ops: "
                         f"{', '.join(sorted(OPS))}.")
    # `not <=` also rejects NaN; a traced p cannot be checked here.
    if isinstance(probability, (int, float)) and not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability={probability} must lie in [0, 1].")
    if not policy:
        return x
    p = jnp.asarray(probability, jnp.float32)
    # The keys of all ops, and their gates, in one vectorised fold_in (and
    # one draw) each: the same values as a fold_in per op, but every threefry
    # instance in the program adds to its compile time.
    indices = jnp.arange(len(policy), dtype=jnp.uint32)
    op_keys = jax.vmap(jax.random.fold_in, (None, 0))(key, indices)
    gate_keys = jax.vmap(jax.random.fold_in, (0, None))(op_keys, _GATE_STREAM)
    gates = jax.vmap(lambda k: jax.random.uniform(
        k, (x.shape[0],), jnp.float32))(gate_keys)
    for index, name in enumerate(policy):
        # u lies in [0, 1): u < 0 never holds and u < 1 always does, so p = 0
        # and p = 1 are exact and need no special case.
        applied = _per_sample(gates[index] < p, x.ndim)
        x = jnp.where(applied, OPS[name](x, op_keys[index]), x)
    return x


def ada_init() -> dict[str, jax.Array]:
    """ADA's initial state: p = 0 and an empty accumulator of E[sign(D(real))].

    {"p": 0, "sign_sum": 0, "count": 0}, float32 scalars, held in the training
    state and checkpointed with it (Karras et al. 2020).
    """
    zero = jnp.zeros((), jnp.float32)
    return {"p": zero, "sign_sum": zero, "count": zero}


def ada_step(batch_size: int, interval: int, kimg) -> jax.Array:
    """The size of one adjustment of ADA's p, float32:

        batch_size * interval / (kimg * 1000),

    Karras et al. 2020 ("Training Generative Adversarial Networks with
    Limited Data", Sec. 3; stylegan2-ada-pytorch `training_loop.py`:
    `adjust = np.sign(r_t - ada_target) * (batch_size * ada_interval) /
    (ada_kimg * 1000)`, ada_kimg = 500): p can go from 0 to 1 in `kimg`
    thousand real images, whatever the batch size and interval.
    """
    return (jnp.asarray(batch_size * interval, jnp.float32)
            / (jnp.asarray(kimg, jnp.float32) * 1000.0))


def ada_update(state: dict[str, jax.Array], real_logits: jax.Array, *,
               target: float, interval: int, batch_size: int,
               kimg: float) -> tuple[dict[str, jax.Array], jax.Array]:
    """One discriminator step of ADA's overfitting heuristic.

    Accumulates sign_sum += mean(sign(D(real))) and count += 1. Once count
    reaches `interval`, with r_t = sign_sum / count = E[sign(D(real))]
    (Karras et al. 2020, "Training Generative Adversarial Networks with
    Limited Data"),

        p <- clip(p + sign(r_t - target) * batch_size * interval
                      / (kimg * 1000), 0, 1)

    (`ada_step`; the paper's rule, with kimg = 500) and the accumulator
    resets; before that p is unchanged. r_t near 1 means D is confidently
    right on every real sample, i.e. overfits, so p rises. The clip at 1
    is ours (p is a probability here); the paper clips at 0 only. Pure and
    jit-able: the adjustment is selected with `where`.

    Args:
        state: from `ada_init` or a previous call.
        real_logits: the discriminator's logits on the (augmented) reals.
        target: the value of r_t that p is tuned towards (the paper uses 0.6).
        interval: discriminator steps per adjustment of p, at least 1.
        batch_size: real images per discriminator step, at least 1 (not the
            number of logits, which packing divides).
        kimg: thousands of real images over which p can cross [0, 1],
            positive (the paper's 500).

    Returns:
        The new state, and r_t = sign_sum / count of the accumulator before
        any reset, a float32 scalar to log.
    """
    if interval < 1:
        raise ValueError(f"interval={interval} must be at least 1.")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1.")
    # `not >` also rejects NaN; a traced kimg cannot be checked here.
    if isinstance(kimg, (int, float)) and not kimg > 0:
        raise ValueError(f"kimg={kimg} must be positive.")
    signs = jnp.sign(jnp.asarray(real_logits, jnp.float32).reshape(-1))
    # An empty batch adds 0, not NaN; the size is static under jit.
    sign_sum = state["sign_sum"] + jnp.sum(signs) / max(signs.size, 1)
    count = state["count"] + 1.0
    r_t = sign_sum / count
    adjust = count >= interval
    step = (jnp.sign(r_t - jnp.asarray(target, jnp.float32))
            * ada_step(batch_size, interval, kimg))
    p = jnp.where(adjust, jnp.clip(state["p"] + step, 0.0, 1.0), state["p"])
    zero = jnp.zeros((), jnp.float32)
    new_state = {
        "p": p.astype(jnp.float32),
        "sign_sum": jnp.where(adjust, zero, sign_sum).astype(jnp.float32),
        "count": jnp.where(adjust, zero, count).astype(jnp.float32),
    }
    return new_state, r_t.astype(jnp.float32)


# The trick: DiffAugment on every discriminator input, with ADA's p when on.

def _prepare_sample(x, key, step, tricks_state, options):
    del step
    probability = tricks_state["ada"]["p"] if options.ada else 1.0
    return apply(x, jax.random.fold_in(key, 0), options.augment,
                 probability=probability)


def _check(options) -> None:
    require(not options.ada or options.augment,
            "--config.tricks.ada=True tunes the probability of the augmentations "
            "in --config.tricks.augment, which is empty: set it, e.g. "
            "--config.tricks.augment=color,translation,cutout (jitter for "
            "points), or --config.tricks.ada=False.")


def _init_state(options) -> dict:
    return {"ada": ada_init()} if options.ada else {}


def _update_state(tricks_state, signals, options):
    if not options.ada:
        return {}, {}
    ada, r_t = ada_update(tricks_state["ada"], signals["real"],
                          target=options.ada_target,
                          interval=options.ada_interval,
                          batch_size=options.context.batch_size,
                          kimg=options.ada_kimg)
    return {"ada": ada}, {"ada_p": ada["p"], "ada_r_t": r_t}


TRICKS = (Trick(
    name="augment", title="augmentation (DiffAugment, ADA)", order=10,
    fields=(
        Field("augment", "", "the augmentation ops applied to every D input, "
              "'' = off", POLICY, parse_policy,
              example="color,translation,cutout"),
        Field("ada", False, "ADA: apply each op with probability p, tuned from "
              "E[sign D(real)]"),
        Field("ada_target", 0.6, "the E[sign D(real)] ADA tunes p towards",
              fields.PROBABILITY),
        Field("ada_interval", 4, "discriminator steps per adjustment of ADA's p",
              fields.AT_LEAST_ONE),
        Field("ada_kimg", 500.0, "thousands of real images in which ADA's p "
              "can cross [0, 1]: each adjustment moves p by batch_size * "
              "ada_interval / (ada_kimg * 1000)", fields.POSITIVE),
    ),
    is_active=lambda options: bool(options.augment),
    check=_check,
    generator_draws=lambda options: True,
    init_state=_init_state,
    update_state=_update_state,
    prepare_sample=_prepare_sample,
),)
