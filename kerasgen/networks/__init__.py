"""Network builders (encoders, decoders, generators, discriminators).

Networks are plain functional `keras.Model`s, kept apart from training
logic so that any network can be plugged into any kerasgen model.
"""

from kerasgen.networks.convolutional import conv_decoder, conv_encoder

__all__ = ["conv_decoder", "conv_encoder"]
