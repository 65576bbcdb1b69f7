"""Anomaly detection with a trained GAN: AnoGAN (Schlegl et al. 2017) and
f-AnoGAN (Schlegl et al. 2019).

An image the GAN's normal data explains is reconstructed well; an anomaly is
not. Both methods score a query x by how far it is from its best
reconstruction G(z), in pixels and in the discriminator's features:

    frozen_gan        G(z) and f(x) of a trained run, frozen
    scores            the two papers' scores (formulas there)
    latent_search     AnoGAN: z found by gradient descent through G, per query
    encoder_training  f-AnoGAN: an encoder E trained on izi_f, then z = E(x)
    detector          a run directory as a detector (`python -m gan_jax.anomaly`)

The first four are the compute path and import no TensorFlow; `detector`
reads the run's data through the input pipeline.
"""
