"""The tricks of one run, read once from the config and checked.

`TrickOptions` holds plain Python values, so the objectives that close over
them compile to a program without a trace of the tricks that are off.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.tricks import augment
from gan_jax.tricks import began
from gan_jax.tricks import lecam

# Losses whose generator term is a mean of per-sample terms (top-k needs it)
# and losses built on cross-entropy (noisy labels need it).
PER_SAMPLE_GENERATOR_LOSSES = ("minimax", "non_saturating", "wasserstein",
                               "hinge", "least_squares")
CROSS_ENTROPY_LOSSES = ("minimax", "non_saturating")


class TrickOptions(NamedTuple):
    feature_matching_weight: float = 0.0
    feature_matching_replace: bool = False
    noise_std: float = 0.0
    noise_steps: int = 0
    unrolled_steps: int = 0
    pack: int = 1
    augment: tuple[str, ...] = ()
    ada: bool = False
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_speed: float = 0.01
    cr_real_weight: float = 0.0
    cr_fake_weight: float = 0.0
    cr_augment: tuple[str, ...] = ()
    zcr_d_weight: float = 0.0
    zcr_g_weight: float = 0.0
    zcr_std: float = 0.03
    lecam_weight: float = 0.0
    lecam_decay: float = 0.99
    top_k_min_fraction: float = 1.0
    top_k_decay: float = 0.99
    top_k_every: int = 100
    acgan_weight: float = 0.0
    num_classes: int = 0
    infogan_categories: int = 0
    infogan_weight: float = 1.0
    label_noise: float = 0.0
    began: bool = False
    began_gamma: float = 0.5
    began_lambda_k: float = 0.001
    lazy_interval: int = 1

    @property
    def acgan(self) -> bool:
        return self.acgan_weight > 0

    @property
    def aux_outputs(self) -> int:
        """Outputs of the discriminator's auxiliary head (0: no head)."""
        return (self.num_classes if self.acgan else 0) + self.infogan_categories

    @property
    def captures(self) -> bool:
        """Whether the objectives read the discriminator's sown intermediates."""
        return self.feature_matching_weight > 0 or self.aux_outputs > 0

    @property
    def top_k(self) -> bool:
        return self.top_k_min_fraction < 1.0

    @property
    def lazy(self) -> bool:
        return self.lazy_interval > 1

    @property
    def generator_draws(self) -> bool:
        """Whether the generator objective draws randomness (needs a key)."""
        return bool(self.augment or self.noise_std or self.zcr_g_weight)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def from_config(config: ml_collections.ConfigDict) -> TrickOptions:
    """The run's `TrickOptions`; a bad value or combination fails with the fix."""
    t = config.tricks
    options = TrickOptions(
        feature_matching_weight=float(t.feature_matching_weight),
        feature_matching_replace=bool(t.feature_matching_replace),
        noise_std=float(t.noise_std), noise_steps=int(t.noise_steps),
        unrolled_steps=int(t.unrolled_steps), pack=int(t.pack),
        augment=augment.parse_policy(t.augment, field="tricks.augment"),
        ada=bool(t.ada), ada_target=float(t.ada_target),
        ada_interval=int(t.ada_interval), ada_speed=float(t.ada_speed),
        cr_real_weight=float(t.cr_real_weight), cr_fake_weight=float(t.cr_fake_weight),
        cr_augment=augment.parse_policy(t.cr_augment, field="tricks.cr_augment"),
        zcr_d_weight=float(t.zcr_d_weight), zcr_g_weight=float(t.zcr_g_weight),
        zcr_std=float(t.zcr_std),
        lecam_weight=float(t.lecam_weight), lecam_decay=float(t.lecam_decay),
        top_k_min_fraction=float(t.top_k_min_fraction),
        top_k_decay=float(t.top_k_decay), top_k_every=int(t.top_k_every),
        acgan_weight=float(t.acgan_weight), num_classes=int(config.model.num_classes),
        infogan_categories=int(t.infogan_categories),
        infogan_weight=float(t.infogan_weight),
        label_noise=float(config.loss.label_noise),
        began=config.loss.name == "began",
        began_gamma=float(config.loss.began_gamma),
        began_lambda_k=float(config.loss.began_lambda_k),
        lazy_interval=int(config.penalty.lazy_interval),
    )
    _validate(options, config)
    return options


def _validate(o: TrickOptions, config: ml_collections.ConfigDict) -> None:
    for field in ("feature_matching_weight", "noise_std", "cr_real_weight",
                  "cr_fake_weight", "zcr_d_weight", "zcr_g_weight", "zcr_std",
                  "lecam_weight", "acgan_weight", "infogan_weight",
                  "unrolled_steps", "noise_steps", "infogan_categories"):
        _check(getattr(o, field) >= 0, f"config.tricks.{field}={getattr(o, field)} "
               "must be >= 0 (0 turns it off).")
    _check(o.pack >= 1, f"config.tricks.pack={o.pack} must be >= 1 (1 = off).")
    _check(o.pack == 1 or not o.num_classes,
           "config.tricks.pack > 1 packs samples of different classes together; "
           "use it with unconditional models (model.num_classes=0).")
    _check(o.pack == 1 or not o.acgan, "tricks.pack and tricks.acgan_weight "
           "cannot be combined: a pack has no single class to predict.")
    _check(config.data.batch_size % o.pack == 0,
           f"config.tricks.pack={o.pack} must divide config.data.batch_size="
           f"{config.data.batch_size}.")
    _check(not o.ada or o.augment, "config.tricks.ada tunes the probability of "
           "the augmentations in config.tricks.augment; set it, e.g. "
           "--config.tricks.augment=color,translation,cutout.")
    _check(o.ada_interval >= 1, "config.tricks.ada_interval must be >= 1.")
    _check(0.0 <= o.ada_target <= 1.0, "config.tricks.ada_target must be in [0, 1].")
    _check(not (o.cr_real_weight or o.cr_fake_weight) or o.cr_augment,
           "Consistency regularisation needs config.tricks.cr_augment (e.g. "
           "translation for images, jitter for points).")
    _check(0.0 <= o.lecam_decay < 1.0, "config.tricks.lecam_decay must be in [0, 1).")
    _check(0.0 < o.top_k_min_fraction <= 1.0,
           "config.tricks.top_k_min_fraction must be in (0, 1]; 1 turns top-k off.")
    _check(0.0 < o.top_k_decay <= 1.0 and o.top_k_every >= 1,
           "config.tricks.top_k_decay must be in (0, 1] and top_k_every >= 1.")
    loss_name = config.loss.name
    _check(not o.top_k or loss_name in PER_SAMPLE_GENERATOR_LOSSES,
           f"Top-k training needs a loss whose generator term is per sample "
           f"({', '.join(PER_SAMPLE_GENERATOR_LOSSES)}); got {loss_name!r}.")
    _check(0.0 <= o.label_noise < 1.0, "config.loss.label_noise must be in [0, 1).")
    _check(not o.label_noise or loss_name in CROSS_ENTROPY_LOSSES,
           f"config.loss.label_noise applies to {', '.join(CROSS_ENTROPY_LOSSES)}; "
           f"the loss is {loss_name!r}.")
    _check(not o.label_noise
           or float(config.loss.label_smoothing) + o.label_noise < 1.0,
           "config.loss.label_smoothing + label_noise must stay below 1.")
    _check(not o.acgan or o.num_classes,
           "config.tricks.acgan_weight > 0 needs class labels: set "
           "config.model.num_classes to the dataset's number of classes.")
    _check(o.infogan_categories <= config.model.latent_dim,
           f"config.tricks.infogan_categories={o.infogan_categories} exceeds "
           f"config.model.latent_dim={config.model.latent_dim}; the code is part of z.")
    _check(o.began == bool(config.model.d_autoencoder),
           "BEGAN needs both --config.loss.name=began and "
           "--config.model.d_autoencoder=True (an auto-encoder discriminator).")
    _check(not (o.began and (o.top_k or o.label_noise or o.feature_matching_weight)),
           "BEGAN's discriminator outputs energies, not logits: top-k, label "
           "noise and feature matching do not apply to it.")
    _check(o.lazy_interval >= 1, f"config.penalty.lazy_interval={o.lazy_interval} "
           "must be >= 1 (1 = the penalty in every discriminator step).")
    _check(not o.lazy or config.penalty.name != "none",
           "config.penalty.lazy_interval > 1 schedules a penalty, but "
           "config.penalty.name is none.")


def initial_state(options: TrickOptions) -> dict:
    """The running statistics the tricks of `options` keep in the state."""
    state = {}
    if options.ada:
        state["ada"] = augment.ada_init()
    if options.lecam_weight:
        state["lecam"] = lecam.init()
    if options.began:
        state["began_k"] = began.init()
    return state


def update_state(options: TrickOptions, state: dict,
                 signals: dict[str, jax.Array]) -> tuple[dict, dict[str, jax.Array]]:
    """Moves the running statistics after a discriminator step.

    `signals` are that step's discriminator outputs: "real" and "fake" logits
    (energies for BEGAN). Returns the new statistics and metrics to log.
    """
    state, metrics = dict(state), {}
    if options.ada:
        state["ada"], r_t = augment.ada_update(
            state["ada"], signals["real"], target=options.ada_target,
            interval=options.ada_interval, speed=options.ada_speed)
        metrics.update(ada_p=state["ada"]["p"], ada_r_t=r_t)
    if options.lecam_weight:
        state["lecam"] = lecam.update(state["lecam"], signals["real"],
                                      signals["fake"], options.lecam_decay)
        metrics.update(lecam_real_ema=state["lecam"]["real"],
                       lecam_fake_ema=state["lecam"]["fake"])
    if options.began:
        metrics["began_convergence"] = began.convergence(
            signals["real"], signals["fake"], options.began_gamma)
        state["began_k"] = began.update_k(
            state["began_k"], signals["real"], signals["fake"],
            gamma=options.began_gamma, lambda_k=options.began_lambda_k)
        metrics["began_k"] = state["began_k"]
    return state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
