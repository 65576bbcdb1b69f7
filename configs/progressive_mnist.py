"""Progressive growing of GANs (Karras et al. 2018, ICLR) on MNIST resized to
32x32, small enough for a CPU: stages 4x4 -> 8x8 -> 16x16 -> 32x32.

    python -m gan_jax.main --config=configs/progressive_mnist.py --workdir=runs/pggan
    python -m gan_jax.main --config=configs/progressive_mnist.py:fixed --workdir=runs/fixed

Networks (`gan_jax.models.progressive`): the paper's, much narrower: z of
64, min(512 / r, 32) channels at resolution r (32, 32, 32, 16 from 4x4 to
32x32), pixel norm in G, equalised learning rate, the minibatch standard
deviation over groups of 4 in D. Recipe (the paper's): WGAN-GP (weight 10,
target 1) with the drift term eps = 0.001, one critic step per generator
step, Adam(1e-3, betas 0 and 0.99), batch 16, the generator EMA (half-life
1,600 images; the official code's 0.999 at batch 16 is 11,000, for stages
of 800k images). The
schedule, in train steps: 4x4 for STABLE = 200 steps, then each of 8x8,
16x16 and 32x32 faded in over FADE = 200 steps and trained STABLE more;
32x32 trains on to NUM_STEPS = 1600 (25,600 images). The paper's schedule
is 800k images per fade-in and per stabilisation: this one is sized for a
shared CPU.

Data: the offline MNIST IDX files (`../shared/data/mnist`, its test split)
resized to 32x32, with MNIST-classifier metrics (the classifier reads them
back at 28x28), FID only, on 2,000 samples at every evaluation (every 200 steps, so
on every stage's last step).

Variants (combine with commas):
  :fixed  the same final network trained at 32x32 from the first step
          (`model.start_resolution=32`: one stage, no fading), with the same
          batch size and steps, so the same images shown: the baseline.
  :tiny   a smoke test (4 steps: 4x4 for one, then 8x8 fading in over 3).
"""

from gan_jax import defaults

BATCH = 16
STABLE = 200
FADE = 200
NUM_STEPS = 1600
# Samples per evaluation (every STABLE steps); the final FID of the README is
# `gan_jax.evaluate --num_samples=10000` of the final checkpoint.
EVAL_SAMPLES = 2000


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("fixed", "tiny"),
                                       "configs/progressive_mnist.py")
    config = defaults.image_config()
    defaults.use_offline_mnist_at_32(config)
    config.data.batch_size = BATCH
    config.data.loader = "in_memory"
    config.model.name = "progressive"
    config.model.latent_dim = 64
    config.model.channel_base = 512
    config.model.channel_max = 32
    config.model.d_minibatch_stddev_group = 4
    config.model.start_resolution = 32 if "fixed" in variants else 4
    config.model.stable_steps = STABLE
    config.model.fade_steps = FADE
    config.loss.name = "wasserstein"
    config.penalty.name = "gp"
    config.penalty.weight = 10.0
    config.penalty.target = 1.0
    config.tricks.drift_weight = 0.001
    config.optim.g_lr = config.optim.d_lr = 1e-3
    config.optim.g_b1 = config.optim.d_b1 = 0.0
    config.optim.g_b2 = config.optim.d_b2 = 0.99
    config.optim.schedule = "constant"
    # A half-life of 100 steps, short against the 200-step fades and
    # stabilisations, so the EMA generator holds little of a stage's
    # layers from before it trained them.
    config.optim.ema_decay = defaults.ema_decay_for_half_life(1_600, BATCH)
    config.train.num_steps = NUM_STEPS
    # Every stage's last step (200, 600, 1000) and the end fall on evaluations.
    config.train.eval_every = config.train.checkpoint_every = STABLE
    config.train.log_every = 50
    config.eval.num_samples = EVAL_SAMPLES
    config.eval.metrics = ("fid",)
    if "tiny" in variants:
        defaults.make_tiny(config)
        config.model.stable_steps = 1
        config.model.fade_steps = 3
    return config
