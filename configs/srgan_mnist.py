"""SRGAN (Ledig et al. 2017): 4x super-resolution of MNIST digits, 7x7 -> 28x28.

    python -m gan_jax.train_classifier --out=classifiers/mnist --offline   # once
    python -m gan_jax.main --config=configs/srgan_mnist.py:offline --workdir=runs/srgan_mnist

The paper's objective: content loss on a frozen network's features + 1e-3
adversarial, after a pixel-MSE pre-training phase (SRResNet), Adam 1e-4
beta1 0.9. The frozen network here is the project's MNIST classifier (its
second conv block), standing in for VGG19 on digits; `--config.objective.
content=vgg19 --config.objective.content_path=FILE` uses VGG19's features
(README, "SRGAN with VGG19 features"), `content=pixels` plain MSE.
Networks sized for a CPU: 4 residual blocks at width 32 (the paper: 16 at
64), D at width 32 with a 256-unit dense layer. Held-out PSNR is reported
beside bicubic upsampling's. Variants as in `pix2pix_mnist_edges.py`.
"""

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("offline", "tiny"),
                                       "configs/srgan_mnist.py")
    config = translation_defaults.base_config("srgan")
    config.model.g_channels = config.model.d_channels = 32
    config.model.g_blocks = 4
    config.model.d_dense_units = 256
    config.objective.content = "mnist_classifier"
    config.objective.content_path = "classifiers/mnist"
    config.objective.pretrain_steps = 1_000
    config.train.num_steps = 2_000
    if "offline" in variants:
        translation_defaults.use_offline_mnist(config)
    if "tiny" in variants:
        translation_defaults.make_tiny(config)
    return config
