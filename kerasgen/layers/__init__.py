"""Layers used by kerasgen models."""

from kerasgen.layers.sampling import Sampling
from kerasgen.layers.spectral_normalization import SpectralNormalization

__all__ = ["Sampling", "SpectralNormalization"]
