"""A small DCGAN of the one-class MNIST anomaly protocol (Schlegl et al. 2017
and 2019 on medical images; on MNIST as in e.g. Zenati et al. 2018).

The offline MNIST split (the 10,000 test images in `../shared/data/mnist`) is
cut by index: the GAN trains on the first 8,000 (`test[:8000]`) restricted
to the nine normal digits, and `python -m gan_jax.anomaly` scores the other
2,000 (`test[8000:]`, all ten digits; the held-out digit is the anomaly):

    python -m gan_jax.main --config=configs/anomaly_mnist.py \
        --config.data.classes='(0,1,2,3,4,5,6,7,8)' --workdir=runs/anomaly_not9

`benchmarks/anomaly_mnist.py` runs the ten splits and reports AUROCs.
Widths 16, 1,000 steps and no sample-quality metrics keep a split to a few
CPU minutes; the EMA decay of 0.99 (a half-life of about 70 steps) lets the
averaged generator catch up within so short a run. `:tiny` is a smoke test.
"""

from gan_jax import defaults

TRAIN_SPLIT, SCORED_SPLIT = "test[:8000]", "test[8000:]"


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",), "configs/anomaly_mnist.py")
    config = defaults.image_config()
    defaults.use_offline_mnist(config)
    config.data.split = TRAIN_SPLIT
    config.model.g_channels = config.model.d_channels = 16
    config.optim.ema_decay = 0.99
    config.train.num_steps = 1_000
    config.train.eval_every = config.train.checkpoint_every = 1_000
    config.train.log_every = 250
    config.eval.features = "none"
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
