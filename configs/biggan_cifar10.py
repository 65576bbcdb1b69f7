"""BigGAN (Brock et al. 2019) on CIFAR-10, 32x32, class-conditional:
PyTorch-StudioGAN's CIFAR-10 recipe (`src/configs/CIFAR10/BigGAN.yaml` and
the defaults of its `src/config.py`), whose FID is the 4.2 of its table.

    python -m gan_jax.main --config=configs/biggan_cifar10.py --workdir=runs/biggan

Networks (`gan_jax.models.biggan`): base widths 96 (G blocks 384 wide, D
blocks 192), z of size 80 split into 4 chunks of 20, a shared class embedding
of 128 feeding conditional BatchNorm, self-attention at 16x16 in G and D,
spectral normalisation in both, a projection discriminator. Recipe: hinge
loss, batch 64, Adam(2e-4, beta1 = 0.5, beta2 = 0.999) for both players at a
constant rate, 5 discriminator steps per generator step, 100,000 generator
steps, the generator EMA with decay 0.9999 from step 1,000, evaluated with
standing BatchNorm statistics. StudioGAN's CIFAR-10 BigGAN does not use
orthogonal regularisation (nor does BigGAN-PyTorch's CIFAR script); turn it
on with `--config.tricks.orthogonal_weight=1e-4`.

Variants (combine with commas): `:mnist` trains the same networks on the
offline MNIST IDX files (`../shared/data/mnist`, resized to 32x32, one
channel) with MNIST-classifier metrics (the classifier reads them resized
back to 28x28), for machines without CIFAR-10;
`:tiny` is a smoke test.
"""

from gan_jax import defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("mnist", "tiny"),
                                       "configs/biggan_cifar10.py")
    config = defaults.image_config()
    config.data.name = "cifar10"
    config.model.name = "biggan"
    config.model.num_classes = 10
    config.model.latent_dim = 80
    config.model.label_embed_dim = 128
    config.model.g_channels = config.model.d_channels = 96
    config.model.attention_resolution = 16
    config.loss.name = "hinge"
    config.optim.n_critic = 5
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.optim.g_b1 = config.optim.d_b1 = 0.5
    config.optim.g_b2 = config.optim.d_b2 = 0.999
    config.optim.ema_decay = 0.9999
    config.optim.ema_start = 1_000
    config.train.num_steps = 100_000
    config.train.eval_every = 5_000
    config.train.checkpoint_every = 5_000
    if "mnist" in variants:
        defaults.use_offline_mnist_at_32(config)
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
