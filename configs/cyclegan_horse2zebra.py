"""CycleGAN (Zhu et al. 2017) on TFDS `cycle_gan/horse2zebra`, the paper's setting.

    python -m gan_jax.main --config=configs/cyclegan_horse2zebra.py --workdir=runs/horse2zebra

256x256 images, batch 1, ResNet generators with 9 blocks at width 64,
70x70 PatchGANs, least-squares loss, cycle weight 10, identity 0.5 x 10,
50-image history pools, Adam 2e-4 (beta1 0.5) for 100 epochs then linearly
to 0 over 100 more (1,067 horses per epoch). Needs a network the first time
(TFDS downloads and prepares the dataset) and an accelerator to finish in a
day. Any other `cycle_gan/*` name works the same (--config.data.name).
Measures: the held-out cycle errors. `:tiny` is a smoke test (32x32).
"""

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",),
                                       "configs/cyclegan_horse2zebra.py")
    config = translation_defaults.base_config("cyclegan")
    config.task.pairing = "two_splits"
    config.data.source = "tfds"
    config.data.name = "cycle_gan/horse2zebra"
    config.data.split, config.task.split_b = "trainA", "trainB"
    config.eval.split, config.eval.split_b = "testA", "testB"
    config.data.image_size = 256
    config.data.loader = "tf_data"  # 2,400 images of 256x256 stream from disk.
    config.data.shuffle_buffer = 1_000
    config.data.batch_size = 1
    config.train.num_steps = 200 * 1_067
    config.train.log_every = 1_000
    config.train.eval_every = config.train.checkpoint_every = 10_000
    config.eval.num_examples = 100
    config.eval.batch_size = 10
    if "tiny" in variants:
        translation_defaults.make_tiny(config)
        config.data.image_size = 32
    return config
