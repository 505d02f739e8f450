"""Layers used by kerasgen models."""

from kerasgen.layers.masked_conv import MaskedConv2D
from kerasgen.layers.sampling import Sampling
from kerasgen.layers.spectral_normalization import SpectralNormalization

__all__ = ["MaskedConv2D", "Sampling", "SpectralNormalization"]
