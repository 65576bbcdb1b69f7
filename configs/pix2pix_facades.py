"""pix2pix (Isola et al. 2017) on a folder of side-by-side pairs, the
layout of the paper's datasets (facades, maps, edges2shoes, ...): each
image holds A | B.

    python -m gan_jax.main --config=configs/pix2pix_facades.py \\
        --config.data.path=data/facades_train --workdir=runs/facades

`data.path` is a folder with one sub-folder of pair images (README,
"Image-to-image GANs", for getting facades). The paper's setting: 256x256
halves, U-Net with 8 levels at width 64, 70x70 PatchGAN, batch 1, L1 weight
100, Adam 2e-4 (beta1 0.5), 200 epochs of the 400 facades; direction BtoA
(label map -> photo). The last 10% of the folder is held out for the
measures. `:tiny` is a smoke test.
"""

from gan_jax import defaults
from gan_jax.image_to_image import defaults as translation_defaults


def get_config(variant: str = ""):
    variants = defaults.parse_variants(variant, ("tiny",), "configs/pix2pix_facades.py")
    config = translation_defaults.base_config("pix2pix")
    config.task.pairing = "side_by_side"
    config.task.direction = "BtoA"
    config.data.source = "folder"
    config.data.path = "data/facades_train"
    config.data.split, config.eval.split = "train[:90%]", "train[90%:]"
    config.data.batch_size = 1
    config.train.num_steps = 200 * 360
    config.train.log_every = 1_000
    config.train.eval_every = config.train.checkpoint_every = 5_000
    config.eval.num_examples = 40
    config.eval.batch_size = 10
    if "tiny" in variants:
        translation_defaults.make_tiny(config)
        config.model.g_downsamples = 2
        config.model.d_layers = 1
    return config
