"""StyleGAN2 with ADA (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data") on CIFAR-10, 32x32, class-conditional: the
`--cfg=cifar --cond=1` setting of stylegan2-ada-pytorch's train.py.

    python -m gan_jax.main --config=configs/stylegan2_cifar10.py --workdir=runs/sg2

Networks (`gan_jax.models.stylegan2`): z and w of size 512, a 2-layer mapping
network, channel_base 32768 (512 channels at every resolution), the skip
generator, the "orig" discriminator (train.py turns the residual skips off
for cifar) with the minibatch stddev over groups of 32; 20.2M / 23.1M
parameters, as the reference's. Recipe: the non-saturating logistic loss,
lazy R1 with gamma = 0.01 (weight gamma / 2) every 16 steps, no path length
regularisation and no style mixing (both off for cifar in train.py), Adam(2.5e-3,
betas 0 and 0.99) for both players, batch 64, 100,000 kimg (1,562,500 steps),
the generator EMA with a half-life of 500 kimg and the 0.05 ramp-up, and ADA
(target 0.6, adjusted every 4 steps, 500 kimg to move p by 1).

Differences from the reference, each kept on purpose:
  * ADA augments with this project's differentiable ops (flip, translation,
    colour: `gan_jax.tricks.augment`), not the reference's 18-op "bgc"
    pipeline; the step rule is the paper's.
  * The lazy phases use the regular optimizers; the reference also rescales
    Adam's rate and betas by interval / (interval + 1) for them.

Variants (combine with commas): `:mnist` trains the same networks on the
offline MNIST IDX files (`../shared/data/mnist`, resized to 32x32, one
channel) with MNIST-classifier metrics (the classifier reads them resized
back to 28x28), for machines without CIFAR-10; `:tiny` is a smoke test.
"""

from gan_jax import defaults

KIMG = 100_000
BATCH = 64
EMA_KIMG = 500


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("mnist", "tiny"),
                                       "configs/stylegan2_cifar10.py")
    config = defaults.image_config()
    config.data.name = "cifar10"
    config.data.batch_size = BATCH
    defaults.use_stylegan2(config, channel_base=32768, mapping_layers=2,
                           d_architecture="orig", mbstd_group=32)
    config.model.num_classes = 10
    config.penalty.weight = 0.01 / 2  # gamma / 2, gamma = 0.01.
    config.optim.ema_decay = defaults.ema_decay_for_half_life(EMA_KIMG * 1000, BATCH)
    config.train.num_steps = KIMG * 1000 // BATCH
    config.train.eval_every = 50_000
    config.train.checkpoint_every = 10_000
    if "mnist" in variants:
        defaults.use_offline_mnist_at_32(config)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
