"""The networks of each task, built from the spec's `model` and `task`.

    pix2pix:  generator = U-Net, discriminator = PatchGAN seeing (source, image)
    cyclegan: g_ab, g_ba = ResNet generators; d_a, d_b = PatchGANs
    srgan:    generator = SRResNet, discriminator = SRGAN's VGG-style D
"""

import flax.linen as nn

from gan_jax.image_to_image import spec as translation_spec
from gan_jax.models import cyclegan
from gan_jax.models import pix2pix
from gan_jax.models import srgan


def _patch_discriminator(model: translation_spec.Model) -> nn.Module:
    return pix2pix.PatchDiscriminator(base_channels=model.d_channels,
                                      num_layers=model.d_layers, norm=model.norm)


def create(spec: translation_spec.TranslationSpec, target_channels: int,
           source_channels: int | None = None) -> dict[str, nn.Module]:
    """The task's modules by state name. `target_channels`: channels of the
    images a generator makes (for CycleGAN, of both domains' images)."""
    model, task = spec.model, spec.task.name
    if task == "pix2pix":
        return {"generator": pix2pix.UNetGenerator(
                    out_channels=target_channels, base_channels=model.g_channels,
                    num_downsamples=model.g_downsamples,
                    max_channels=model.g_max_channels,
                    dropout_rate=model.dropout_rate, norm=model.norm),
                "discriminator": _patch_discriminator(model)}
    if task == "cyclegan":
        def generator():
            return cyclegan.ResnetGenerator(
                out_channels=target_channels, base_channels=model.g_channels,
                num_blocks=model.g_blocks, num_downsamples=model.g_downsamples,
                norm=model.norm)
        return {"g_ab": generator(), "g_ba": generator(),
                "d_a": _patch_discriminator(model),
                "d_b": _patch_discriminator(model)}
    if task == "srgan":
        return {"generator": srgan.SRResNetGenerator(
                    out_channels=target_channels, channels=model.g_channels,
                    num_blocks=model.g_blocks, upscale=spec.task.upscale),
                "discriminator": srgan.SRGANDiscriminator(
                    channels=model.d_channels, dense_units=model.d_dense_units)}
    raise ValueError(f"Unknown task {task!r}.")
