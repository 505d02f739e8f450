"""PixelRNN stacks (van den Oord et al., 2016, "Pixel Recurrent Neural Networks", Table 1 and Figure 5).

A 7x7 mask-A convolution to `filters` = 2h feature maps, then `num_layers`
residual LSTM blocks: a Row LSTM or Diagonal BiLSTM layer
(`kerasgen.layers.RowLSTM`, `kerasgen.layers.DiagonalBiLSTM`) with h = filters
// 2 units reading the block input, a 1x1 mask-B convolution back to 2h
feature maps, plus the block input. Then the output layers of the PixelCNN
(`kerasgen.networks.pixelcnn.output_head`): ReLU and 1x1 mask-B convolutions
to a softmax over the levels of each sub-pixel. Causal in raster order with
colour channels innermost, like `pixelcnn_network`.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasgen.layers.masked_conv import MaskedConv2D
from kerasgen.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from kerasgen.networks.pixelcnn import FIRST_KERNEL, _check, output_head

VARIANTS = {"row_lstm": RowLSTM, "diagonal_bilstm": DiagonalBiLSTM}


def pixelrnn_network(image_shape, num_levels=256, variant="diagonal_bilstm", filters=32, num_layers=7,
                     name="pixelrnn"):
    """A PixelRNN (Row LSTM or Diagonal BiLSTM) as a functional `keras.Model`.

    Args:
        image_shape: `(height, width, channels)`.
        num_levels: intensity levels per sub-pixel (the softmax's classes).
        variant: "row_lstm" or "diagonal_bilstm".
        filters: feature maps between blocks (2h in the paper; the LSTMs have
            h = filters // 2 units, which must be >= channels).
        num_layers: residual LSTM blocks (the paper: 7 with h = 16 for MNIST,
            12 with h = 128 for CIFAR-10).
        name: model name.

    Returns:
        A model mapping `images (batch, H, W, C)` (levels rescaled to [-1, 1])
        to logits `(batch, H, W, C, num_levels)`. Layers are named `conv_a`,
        `rnn{l}`, `rnn{l}_expand`, `rnn{l}_add` and the head's `out_*`, which
        the cached sampler of `kerasgen.models.PixelRNN` relies on.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(map(repr, VARIANTS))}, got {variant!r}.")
    _check(image_shape, num_levels, filters, num_layers, gated=False)  # PixelCNN's: the same filters // 2 bound
    height, width, channels = (int(d) for d in image_shape)
    filters, units = int(filters), int(filters) // 2
    images = keras.Input(shape=(height, width, channels), name="images")
    x = MaskedConv2D(filters, FIRST_KERNEL, "A", channels, name="conv_a")(images)
    for index in range(int(num_layers)):
        h = VARIANTS[variant](units, channels, name=f"rnn{index}")(x)
        h = MaskedConv2D(filters, 1, "B", channels, name=f"rnn{index}_expand")(h)
        x = layers.Add(name=f"rnn{index}_add")([x, h])
    return keras.Model(images, output_head(x, channels, filters, int(num_levels)), name=name)
