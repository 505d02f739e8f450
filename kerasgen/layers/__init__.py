"""Layers used by kerasgen models."""

from kerasgen.layers.flows import AffineCoupling, FlowBatchNormalization
from kerasgen.layers.image_pool import ImagePool
from kerasgen.layers.level_embedding import LevelEmbedding
from kerasgen.layers.masked_conv import MaskedConv2D
from kerasgen.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from kerasgen.layers.padding import ReflectionPadding2D
from kerasgen.layers.sampling import Sampling
from kerasgen.layers.spectral_normalization import SpectralNormalization
from kerasgen.layers.vector_quantizer import VectorQuantizer

__all__ = [
    "AffineCoupling", "DiagonalBiLSTM", "FlowBatchNormalization", "ImagePool", "LevelEmbedding", "MaskedConv2D", "ReflectionPadding2D",
    "RowLSTM", "Sampling", "SpectralNormalization", "VectorQuantizer"]
