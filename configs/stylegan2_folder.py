"""StyleGAN2 with ADA on a folder of images at 64, 128 or 256 px: the
`--cfg=auto` setting of stylegan2-ada-pytorch's train.py on one GPU.

    python -m gan_jax.main --config=configs/stylegan2_folder.py:128 \
        --config.data.path=/path/to/images --workdir=runs/sg2_128

The images are centre-cropped and resized; sub-folders, if any, are classes
(the run stays unconditional unless `--config.model.num_classes` is set).
train.py's `auto` rule at resolution r: batch min(4096 / r, 32) (32, 32, 16),
minibatch-stddev groups of 4, channel_base 16384, a 2-layer mapping network,
Adam(2.5e-3, betas 0 and 0.99), R1 gamma = 0.0002 r^2 / batch every 16
steps, path length regularisation (weight 2, every 4 steps, half batch),
style mixing with probability 0.9, the residual discriminator, the EMA with
a half-life of batch * 10 / 32 kimg and the 0.05 ramp-up, ADA, 25,000 kimg.
Parameter counts equal the reference's (G 22.2M / 22.9M / 23.2M,
D 23.4M / 23.9M / 24.0M). The differences from the reference are those of
configs/stylegan2_cifar10.py. `:tiny` (e.g. `:64,tiny`) is a smoke test.
"""

from gan_jax import defaults

RESOLUTIONS = (64, 128, 256)
KIMG = 25_000


def get_config(variant: str = ""):
    variants = defaults.parse_variants(
        variant, tuple(map(str, RESOLUTIONS)) + ("tiny",), "configs/stylegan2_folder.py")
    sizes = [int(v) for v in variants if v != "tiny"]
    if len(sizes) != 1:
        raise ValueError("configs/stylegan2_folder.py needs one resolution: "
                         "--config=configs/stylegan2_folder.py:64 (or :128, :256).")
    [resolution] = sizes
    batch = min(4096 // resolution, 32)
    config = defaults.image_config()
    config.data.source = "folder"
    config.data.name = "images"
    config.data.center_crop = True
    config.data.image_size = resolution
    config.data.cache = False
    config.data.batch_size = batch
    defaults.use_stylegan2(config, channel_base=16384, mapping_layers=2,
                           d_architecture="resnet", mbstd_group=min(batch, 4))
    config.model.style_mixing_prob = 0.9
    config.tricks.path_length_weight = 2.0
    config.penalty.weight = 0.0002 * resolution ** 2 / batch / 2  # gamma / 2.
    config.optim.ema_decay = defaults.ema_decay_for_half_life(batch * 10 / 32 * 1000,
                                                              batch)
    config.train.num_steps = KIMG * 1000 // batch
    config.train.eval_every = 25_000
    config.train.checkpoint_every = 5_000
    if "tiny" in variants:
        defaults.make_tiny(config)
    return config
