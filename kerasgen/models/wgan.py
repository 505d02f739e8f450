"""Wasserstein GANs: weight clipping (Arjovsky et al., 2017) and gradient
penalty (Gulrajani et al., 2017), as configurations of `GAN`.

Both train n_critic = 5 critic updates per generator update, so each `fit`
batch holds 5 minibatches: feed batches of 5 * m (320 for the papers' m = 64).
"""

from __future__ import annotations

import keras

from kerasgen.models.gan import DCGAN
from kerasgen.models.registry import register


@register(
    "wgan",
    family="gan",
    summary="critic weight clipping c = 0.01, RMSProp(5e-5), n_critic = 5",
    paper="Arjovsky et al., 2017",
    small_config={"latent_dim": 8, "base_filters": 8, "discriminator_steps": 2},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class WGAN(DCGAN):
    """WGAN with the defaults of Arjovsky et al. (2017), Algorithm 1:
    alpha = 0.00005 (RMSProp), c = 0.01, m = 64, n_critic = 5.

    The critic is `discriminator`; its weights are clipped to [-c, c] after
    every critic update.
    """

    def __init__(self, latent_dim=100, image_shape=(28, 28, 1), **kwargs):
        kwargs.setdefault("adversarial_loss", "wasserstein")
        kwargs.setdefault("discriminator_steps", 5)
        kwargs.setdefault("clip_value", 0.01)
        super().__init__(latent_dim, image_shape, **kwargs)

    def default_optimizers(self):
        return (keras.optimizers.RMSprop(5e-5), keras.optimizers.RMSprop(5e-5))


@register(
    "wgan_gp",
    family="gan",
    summary="gradient penalty lambda = 10 on uniform interpolates, Adam(1e-4, 0.5, 0.9), n_critic = 5",
    paper="Gulrajani et al., 2017",
    small_config={"latent_dim": 8, "base_filters": 8, "discriminator_steps": 2},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class WGANGP(DCGAN):
    """WGAN-GP with the defaults of Gulrajani et al. (2017), Algorithm 1:
    lambda = 10, n_critic = 5, Adam(alpha=1e-4, beta_1=0.5, beta_2=0.9).

    The critic uses layer normalization instead of batch normalization (the
    paper's Section 4: batch norm breaks the per-example penalty). Interpolation
    weights are drawn from U[0, 1] independently per example.
    """

    discriminator_normalization = "layer"

    def __init__(self, latent_dim=128, image_shape=(28, 28, 1), **kwargs):
        kwargs.setdefault("adversarial_loss", "wasserstein")
        kwargs.setdefault("discriminator_steps", 5)
        kwargs.setdefault("gradient_penalty_weight", 10.0)
        super().__init__(latent_dim, image_shape, **kwargs)

    def default_optimizers(self):
        return (
            keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9),
            keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9),
        )
