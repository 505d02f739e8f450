"""Network builders (encoders, decoders, generators, discriminators).

Networks are plain functional `keras.Model`s, kept apart from training
logic so that any network can be plugged into any kerasgen model.
"""

from kerasgen.networks.adversarial import (
    dcgan_discriminator,
    dcgan_generator,
    mlp_discriminator,
    mlp_generator,
    sngan_discriminator,
)
from kerasgen.networks.convolutional import conv_decoder, conv_encoder
from kerasgen.networks.diffusion import diffusion_unet
from kerasgen.networks.flows import realnvp_flow
from kerasgen.networks.mapper import mlp_mapper
from kerasgen.networks.pixelcnn import pixelcnn_network
from kerasgen.networks.pixelrnn import pixelrnn_network
from kerasgen.networks.vqvae import vqvae_decoder, vqvae_encoder
from kerasgen.networks.translation import (
    patch_receptive_field,
    patchgan_discriminator,
    resnet_generator,
    unet_generator,
)

__all__ = [
    "conv_decoder",
    "conv_encoder",
    "dcgan_discriminator",
    "dcgan_generator",
    "diffusion_unet",
    "mlp_discriminator",
    "mlp_generator",
    "mlp_mapper",
    "patch_receptive_field",
    "patchgan_discriminator",
    "pixelcnn_network",
    "pixelrnn_network",
    "realnvp_flow",
    "resnet_generator",
    "sngan_discriminator",
    "unet_generator",
    "vqvae_decoder",
    "vqvae_encoder",
]
