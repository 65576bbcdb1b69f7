"""Fine-tuning a conditional DCGAN to new classes from 500 images (README,
"Fine-tuning from a trained run"), on the offline MNIST (its 10,000-image
test split, `../shared/data/mnist`).

    python -m gan_jax.main --config=configs/finetune_mnist.py:pretrain --workdir=runs/ft_pretrain
    python -m gan_jax.main --config=configs/finetune_mnist.py:finetune --workdir=runs/ft_finetune \
        --config.init.from_workdir=runs/ft_pretrain
    python -m gan_jax.main --config=configs/finetune_mnist.py:scratch --workdir=runs/ft_scratch
    python -m gan_jax.main --config=configs/finetune_mnist.py:freezed --workdir=runs/ft_freezed \
        --config.init.from_workdir=runs/ft_pretrain

`:pretrain` (the default) trains `configs/cgan_mnist.py`'s model (10 classes, projection
D, widths 32) on every image of digits 0-4 (5,139). The other three train
the same model for the same number of steps on the first 500 images of
digits 5-9 among images 0-4,999: `:finetune` from the pretrained G and D,
`:freezed` the same with D's first block frozen (FreezeD, Mo et al. 2020),
`:scratch` from a fresh init. Their FID (MNIST classifier features) compares
generated 5-9 with the 2,422 real 5-9 among images 5,000-9,999, which none
of them trained on (`eval.split`). `:tiny` shrinks any of them to a smoke test.
"""

from gan_jax import defaults

VARIANTS = ("pretrain", "finetune", "freezed", "scratch", "tiny")
NEW_CLASSES = (5, 6, 7, 8, 9)


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, VARIANTS, "configs/finetune_mnist.py")
    runs = variants - {"tiny"} or {"pretrain"}
    if len(runs) != 1:
        raise ValueError("configs/finetune_mnist.py: choose one of pretrain, "
                         "finetune, freezed, scratch (and optionally tiny), e.g. "
                         "--config=configs/finetune_mnist.py:finetune.")
    config = defaults.conditional_mnist_config()
    defaults.use_offline_mnist(config)
    config.eval.num_samples = 2_500
    if "pretrain" in runs:
        config.data.classes = (0, 1, 2, 3, 4)
        config.train.num_steps = 2_000
        config.train.eval_every = 1_000
    else:
        config.data.split = "test[:5000]"
        config.data.classes = NEW_CLASSES
        config.data.max_examples = 500
        config.eval.split = "test[5000:]"
        config.train.num_steps = 1_000
        config.train.eval_every = 250
        config.train.checkpoint_every = 500
    if "freezed" in runs:
        config.optim.freeze_d_blocks = 1
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
