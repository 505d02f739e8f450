"""Layers used by kerasgen models."""

from kerasgen.layers.sampling import Sampling

__all__ = ["Sampling"]
