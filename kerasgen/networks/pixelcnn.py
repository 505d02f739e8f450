"""PixelCNN stacks: images -> per-sub-pixel logits over intensity levels.

Two architectures, both causal in raster order with colour channels innermost
(R, G, B of a pixel before the next pixel): the logits at sub-pixel (i, j, c)
depend only on sub-pixels that come before it.

- `gated=False`: the PixelCNN of van den Oord et al. (2016), "Pixel Recurrent
  Neural Networks", Table 1 and Figure 5: a 7x7 mask-A convolution, residual
  blocks (ReLU, 1x1 conv 2h -> h, ReLU, 3x3 conv h -> h, ReLU, 1x1 conv
  h -> 2h, plus the block input), then ReLU and 1x1 mask-B convolutions to
  `channels * num_levels` logits. Its stacked masked 3x3 kernels leave a
  "blind spot" above and to the right of each pixel.
- `gated=True`: the Gated PixelCNN of van den Oord et al. (2016),
  "Conditional Image Generation with PixelCNN Decoders", Section 2.2 and
  Figure 2: gated activations tanh(W_f * x) * sigmoid(W_g * x) in a vertical
  stack (all rows above) and a horizontal stack (pixels to the left in the
  current row), the vertical stack feeding the horizontal one through a
  one-row down shift and a 1x1 convolution; residual connections on the
  horizontal stack. There is no blind spot.

Networks take images as floats with the quantized levels rescaled to [-1, 1]
and return logits `(batch, H, W, C, num_levels)`: output feature o of the
last 1x1 convolution is level `o % num_levels` of channel `o // num_levels`,
which is the channel group the masks give it.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasgen.layers.level_embedding import LevelEmbedding
from kerasgen.layers.masked_conv import MaskedConv2D

FIRST_KERNEL = 7  # first layer (mask A): 7x7, as in both papers
KERNEL = 3  # later layers


def _check(image_shape, num_levels, filters, num_layers, gated):
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {tuple(image_shape)}.")
    if int(num_levels) < 2:
        raise ValueError(f"num_levels must be >= 2, got {num_levels}.")
    if int(num_layers) < 0:
        raise ValueError(f"num_layers must be >= 0, got {num_layers}.")
    channels = int(image_shape[-1])
    narrowest = int(filters) if gated else int(filters) // 2
    if narrowest < channels:
        raise ValueError(
            f"filters={filters} is too small for {channels} image channels: the masked "
            f"convolutions split {'their' if gated else 'the bottleneck (filters // 2)'} feature maps "
            f"into one group per channel. Use filters >= {channels if gated else 2 * channels}."
        )


def _gate(features, gates, name):
    """tanh(features) * sigmoid(gates): the gated activation unit (eq. 2)."""
    return layers.Multiply(name=name)(
        [layers.Activation("tanh")(features), layers.Activation("sigmoid")(gates)]
    )


def _residual_stack(images, channels, filters, num_layers):
    x = MaskedConv2D(filters, FIRST_KERNEL, "A", channels, name="conv_a")(images)
    for index in range(num_layers):
        y = layers.ReLU()(x)
        y = MaskedConv2D(filters // 2, 1, "B", channels, activation="relu", name=f"block{index}_reduce")(y)
        y = MaskedConv2D(filters // 2, KERNEL, "B", channels, activation="relu", name=f"block{index}_conv")(y)
        # No bias here: TF's grappler remapper fails (logs an error, skips its
        # fusions) on conv + bias + add + ReLU when the sum also feeds the next block.
        y = MaskedConv2D(filters, 1, "B", channels, use_bias=False, name=f"block{index}_expand")(y)
        x = layers.Add(name=f"block{index}_add")([x, y])
    return x


def _gated_stack(images, channels, filters, num_layers):
    vertical, horizontal = images, images
    for index in range(num_layers + 1):
        first = index == 0
        k = FIRST_KERNEL if first else KERNEL
        prefix = f"gated{index}"
        # Vertical stack: output row i sees input rows i - k//2 .. i (all columns
        # within k//2), through a (k//2 + 1, k) kernel on top/left/right-padded input.
        padded = layers.ZeroPadding2D(((k // 2, 0), (k // 2, k // 2)))(vertical)
        v_features = layers.Conv2D(filters, (k // 2 + 1, k), name=f"{prefix}_v_f")(padded)
        v_gates = layers.Conv2D(filters, (k // 2 + 1, k), name=f"{prefix}_v_g")(padded)
        # Shifted down one row, the vertical stack only tells row i about rows < i.
        v_pre = layers.Concatenate()([v_features, v_gates])
        shifted = layers.Cropping2D(((0, 1), (0, 0)))(layers.ZeroPadding2D(((1, 0), (0, 0)))(v_pre))
        # Horizontal stack: pixels to the left in the current row, masked by channel group.
        mask = "A" if first else "B"
        h_features = layers.Add()([
            MaskedConv2D(filters, (1, k), mask, channels, name=f"{prefix}_h_f")(horizontal),
            layers.Conv2D(filters, 1, name=f"{prefix}_v_to_h_f")(shifted),
        ])
        h_gates = layers.Add()([
            MaskedConv2D(filters, (1, k), mask, channels, name=f"{prefix}_h_g")(horizontal),
            layers.Conv2D(filters, 1, name=f"{prefix}_v_to_h_g")(shifted),
        ])
        h = _gate(h_features, h_gates, f"{prefix}_h_gate")
        h = MaskedConv2D(filters, 1, "B", channels, name=f"{prefix}_h_out")(h)
        # No residual around the first layer: its input holds the current sub-pixel.
        horizontal = h if first else layers.Add(name=f"{prefix}_residual")([horizontal, h])
        vertical = _gate(v_features, v_gates, f"{prefix}_v_gate")
    return horizontal


def pixelcnn_network(image_shape, num_levels=256, filters=64, num_layers=12, gated=False, embedding_dim=None,
                     name="pixelcnn"):
    """A PixelCNN (or Gated PixelCNN) as a functional `keras.Model`.

    Args:
        image_shape: `(height, width, channels)`.
        num_levels: intensity levels per sub-pixel (256 for 8-bit images, 2
            for binarized ones); the softmax has this many classes.
        filters: feature maps carried from layer to layer (2h in the paper's
            Figure 5, whose residual blocks narrow to h = filters // 2; p in
            the Gated PixelCNN's stacks). Each masked layer splits its feature
            maps into one group per image channel, so `filters // 2` (plain) or
            `filters` (gated) must be >= channels.
        num_layers: residual blocks (plain) or gated layers (gated) after the
            first, 7x7 mask-A layer; the later layers use 3x3 kernels.
        gated: build the Gated PixelCNN (no blind spot) instead of the PixelCNN.
        embedding_dim: if set, each sub-pixel's level enters as a learned
            vector of this size (`kerasgen.layers.LevelEmbedding`) instead of
            as one ordinal value: for categorical levels such as VQ-VAE codes.
        name: model name.

    Returns:
        A model mapping `images (batch, H, W, C)` (levels rescaled to [-1, 1])
        to logits `(batch, H, W, C, num_levels)`.
    """
    _check(image_shape, num_levels, filters, num_layers, gated)
    height, width, channels = (int(d) for d in image_shape)
    filters, num_layers, num_levels = int(filters), int(num_layers), int(num_levels)
    images = keras.Input(shape=(height, width, channels), name="images")
    if embedding_dim is not None and int(embedding_dim) < 1:
        raise ValueError(f"embedding_dim must be a positive integer or None, got {embedding_dim}.")
    x = LevelEmbedding(num_levels, int(embedding_dim), name="level_embedding")(images) if embedding_dim else images
    stack = _gated_stack if gated else _residual_stack
    x = stack(x, channels, filters, num_layers)
    return keras.Model(images, output_head(x, channels, filters, num_levels), name=name)


def output_head(x, channels, filters, num_levels):
    """The output layers of Table 1 (PixelCNN and PixelRNN): ReLU, two 1x1 mask-B
    convolutions with ReLU, a 1x1 mask-B convolution to `channels * num_levels`
    logits, reshaped to `(batch, H, W, channels, num_levels)`."""
    height, width = x.shape[1], x.shape[2]
    x = layers.ReLU()(x)
    x = MaskedConv2D(filters, 1, "B", channels, activation="relu", name="out_conv0")(x)
    x = MaskedConv2D(filters, 1, "B", channels, activation="relu", name="out_conv1")(x)
    x = MaskedConv2D(channels * num_levels, 1, "B", channels, name="out_logits")(x)
    return layers.Reshape((height, width, channels, num_levels), name="logits")(x)
