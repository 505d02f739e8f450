"""The model zoo. Every class here is a `keras.Model` trained with `fit`.

`REGISTRY` maps CLI names to `ModelSpec`s; the conformance suite runs every
registered model.
"""

from kerasgen.models.autoencoder import AutoEncoder, DenoisingAutoEncoder
from kerasgen.models.base import GenerativeModel
from kerasgen.models.gan import DCGAN, GAN, LSGAN, SNGAN, ConditionalGAN
from kerasgen.models.glo import GLANN, GLO
from kerasgen.models.imle import IMLE
from kerasgen.models.pixelcnn import PixelCNN
from kerasgen.models.registry import REGISTRY, ModelSpec, get, register
from kerasgen.models.translation import CycleGAN, Pix2Pix
from kerasgen.models.vae import VAE, ConditionalVAE
from kerasgen.models.wae import WAE
from kerasgen.models.wgan import WGAN, WGANGP

__all__ = [
    "AutoEncoder",
    "ConditionalGAN",
    "ConditionalVAE",
    "CycleGAN",
    "DCGAN",
    "DenoisingAutoEncoder",
    "GAN",
    "GLANN",
    "GLO",
    "GenerativeModel",
    "IMLE",
    "LSGAN",
    "ModelSpec",
    "Pix2Pix",
    "PixelCNN",
    "REGISTRY",
    "SNGAN",
    "VAE",
    "WAE",
    "WGAN",
    "WGANGP",
    "get",
    "register",
]
