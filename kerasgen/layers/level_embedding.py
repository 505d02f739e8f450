"""Learned embeddings of quantized levels, for autoregressive models of categorical grids."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgen")
class LevelEmbedding(keras.layers.Layer):
    """Levels rescaled to [-1, 1] -> one learned vector per level and channel.

    PixelCNN networks see levels k in [0, L) as x = 2k / (L - 1) - 1, an
    ordinal input that suits intensities. Codes of a VQ-VAE are categories
    with no order, so their prior embeds them instead (as the PixelCNN
    embeds its class labels): k = round((x + 1) (L - 1) / 2) indexes a
    `(L, output_dim)` table.

    Input `(B, H, W, C)`; output `(B, H, W, C * output_dim)`, channel c's
    vector in features [c * output_dim, (c + 1) * output_dim): the contiguous
    group that `MaskedConv2D(image_channels=C)` assigns to channel c.
    """

    def __init__(self, num_levels, output_dim, **kwargs):
        super().__init__(**kwargs)
        if int(num_levels) < 2 or int(output_dim) < 1:
            raise ValueError(f"num_levels must be >= 2 and output_dim >= 1, got {num_levels} and {output_dim}.")
        self.num_levels, self.output_dim = int(num_levels), int(output_dim)

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.num_levels, self.output_dim), name="embeddings",
                                          initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, inputs):
        levels = ops.round((ops.cast(inputs, "float32") + 1.0) * (0.5 * (self.num_levels - 1)))
        levels = ops.cast(ops.clip(levels, 0, self.num_levels - 1), "int32")
        vectors = ops.take(ops.cast(self.embeddings, self.compute_dtype), levels, axis=0)  # (B, H, W, C, E)
        shape = ops.shape(inputs)
        return ops.reshape(vectors, (shape[0], shape[1], shape[2], inputs.shape[-1] * self.output_dim))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] * self.output_dim)

    def get_config(self):
        return {**super().get_config(), "num_levels": self.num_levels, "output_dim": self.output_dim}
