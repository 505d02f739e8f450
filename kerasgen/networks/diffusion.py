"""The noise-prediction U-Net of DDPM (Ho et al., 2020), sized for 28x28 and 32x32 images.

`diffusion_unet(image_shape)` maps `[x_t (batch, H, W, C), t (batch,) int32]`
to eps_theta(x_t, t) `(batch, H, W, C)`. As in the paper's network (a
PixelCNN++-style U-Net, Appendix B): the timestep enters every residual
block through a sinusoidal embedding (the Transformer's) and an MLP; each
resolution has residual blocks with group normalization and a skip
connection to the decoder; self-attention at the lowest resolution is
optional (the paper uses it at 16x16).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="kerasgen")
class SinusoidalEmbedding(layers.Layer):
    """Timesteps `(batch,)` -> `(batch, dim)`: [sin(t w_i), cos(t w_i)], w_i = 10000^(-i / (dim/2 - 1)).

    The Transformer's position encoding (Vaswani et al., 2017) as DDPM uses it for t.
    """

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 2 or int(dim) % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim}.")
        self.dim = int(dim)

    def call(self, timesteps):
        half = self.dim // 2
        scale = math.log(10_000.0) / max(half - 1, 1)
        frequencies = ops.exp(ops.arange(half, dtype="float32") * -scale)
        angles = ops.cast(ops.reshape(timesteps, (-1, 1)), "float32") * frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


def _groups(channels):
    return math.gcd(8, channels)


def _residual_block(x, time, channels, dropout, name):
    """GroupNorm -> swish -> conv3x3, + Dense(time embedding), GroupNorm -> swish -> dropout -> conv3x3, + skip."""
    skip = x if x.shape[-1] == channels else layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    h = layers.GroupNormalization(_groups(x.shape[-1]), name=f"{name}_norm1")(x)
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    h = h + layers.Reshape((1, 1, channels))(layers.Dense(channels, name=f"{name}_time")(time))
    h = layers.GroupNormalization(_groups(channels), name=f"{name}_norm2")(h)
    h = layers.Activation("swish")(h)
    if dropout:
        h = layers.Dropout(dropout)(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    return skip + h


def _attention_block(x, name):
    """Single-head self-attention over the H*W positions, with a residual connection."""
    height, width, channels = x.shape[1:]
    h = layers.GroupNormalization(_groups(channels), name=f"{name}_norm")(x)
    h = layers.Reshape((height * width, channels))(h)
    h = layers.MultiHeadAttention(1, channels, name=f"{name}_attention")(h, h)
    return x + layers.Reshape((height, width, channels))(h)


def diffusion_unet(image_shape=(28, 28, 1), base_filters=32, channel_multipliers=(1, 2, 2), blocks_per_level=1,
                   attention=False, dropout=0.0, name="unet"):
    """eps_theta: `[x_t, t]` -> predicted noise, a functional `keras.Model`.

    Args:
        image_shape: `(H, W, C)`; H and W divisible by `2 ** (len(channel_multipliers) - 1)`.
        base_filters: channels at full resolution (the paper: 128 on CIFAR-10).
        channel_multipliers: channels per resolution, as multiples of
            `base_filters`; each entry after the first halves the resolution
            (28 -> 14 -> 7 for the default three).
        blocks_per_level: residual blocks per resolution (the paper: 2).
        attention: self-attention at the lowest resolution.
        dropout: dropout in the residual blocks (the paper: 0.1 on CIFAR-10).
    """
    height, width, channels = (int(d) for d in image_shape)
    factor = 2 ** (len(channel_multipliers) - 1)
    if height % factor or width % factor:
        raise ValueError(f"image_shape {tuple(image_shape)} cannot be halved {len(channel_multipliers) - 1} times: "
                         f"height and width must be divisible by {factor}; pass fewer channel_multipliers.")
    images = keras.Input((height, width, channels), name="images")
    timesteps = keras.Input((), dtype="int32", name="timesteps")
    time_dim = 4 * base_filters
    time = SinusoidalEmbedding(base_filters, name="time_embedding")(timesteps)
    time = layers.Dense(time_dim, activation="swish", name="time_dense1")(time)
    time = layers.Dense(time_dim, name="time_dense2")(time)

    x = layers.Conv2D(base_filters, 3, padding="same", name="stem")(images)
    skips = [x]
    for level, multiplier in enumerate(channel_multipliers):
        for block in range(blocks_per_level):
            x = _residual_block(x, time, base_filters * multiplier, dropout, f"down{level}_{block}")
            skips.append(x)
        if level < len(channel_multipliers) - 1:
            x = layers.Conv2D(x.shape[-1], 3, strides=2, padding="same", name=f"downsample{level}")(x)
            skips.append(x)
    x = _residual_block(x, time, x.shape[-1], dropout, "middle0")
    if attention:
        x = _attention_block(x, "middle_attention")
    x = _residual_block(x, time, x.shape[-1], dropout, "middle1")
    for level, multiplier in reversed(list(enumerate(channel_multipliers))):
        for block in range(blocks_per_level + 1):
            x = layers.Concatenate()([x, skips.pop()])
            x = _residual_block(x, time, base_filters * multiplier, dropout, f"up{level}_{block}")
        if level > 0:
            x = layers.UpSampling2D(2, interpolation="nearest")(x)
            x = layers.Conv2D(x.shape[-1], 3, padding="same", name=f"upsample{level}")(x)
    x = layers.GroupNormalization(_groups(x.shape[-1]), name="head_norm")(x)
    x = layers.Activation("swish")(x)
    eps = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name="head", dtype="float32")(x)
    return keras.Model([images, timesteps], eps, name=name)
