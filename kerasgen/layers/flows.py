"""Invertible layers of RealNVP (Dinh, Sohl-Dickstein & Bengio, 2017, "Density estimation using Real NVP").

Each bijector maps `x (batch, H, W, C)` to `y` of the same number of
dimensions and knows the log-determinant of its Jacobian:

    y, log_det = layer.forward(x, training=False)     # log_det: (batch,) float32
    x = layer.inverse(y)                               # inference mode

`call(x)` is `forward(x)[0]`. The layers compute in float32 whatever the
global dtype policy (a change of variables summed over 784 dimensions needs
float32's precision to stay invertible); only the coupling's conditioner
network runs in the policy's compute dtype.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from kerasgen.losses import sum_per_example

MASKS = ("checkerboard", "channel")


def checkerboard_mask(height, width, parity=0):
    """`(1, H, W, 1)` float32: 1 where (row + column) % 2 == parity, the dimensions a coupling keeps."""
    rows, columns = np.indices((int(height), int(width)))
    return ((rows + columns) % 2 == int(parity)).astype(np.float32)[None, :, :, None]


def squeeze(x):
    """`(B, H, W, C) -> (B, H/2, W/2, 4C)`: each 2x2xC subsquare becomes a 1x1x4C one (Dinh et al., Sec. 3.6)."""
    return tf.nn.space_to_depth(x, 2)


def unsqueeze(x):
    """The inverse of `squeeze`: `(B, H, W, 4C) -> (B, 2H, 2W, C)`."""
    return tf.nn.depth_to_space(x, 2)


def coupling_resnet(input_shape, output_channels, filters=64, num_blocks=8, name="conditioner"):
    """The s and t network of an affine coupling: a residual CNN (Dinh et al., Sec. 4.1).

    `(B, H, W, C_in) -> (B, H, W, 2 * output_channels)`: conv3x3 to `filters`,
    `num_blocks` residual blocks (BN -> ReLU -> conv3x3 -> BN -> ReLU ->
    conv3x3, plus the input), BN -> ReLU, and a zero-initialized conv3x3 to
    the log-scale and shift pre-activations, so that every coupling starts as
    the identity.
    """
    inputs = keras.Input(input_shape)
    h = layers.Conv2D(filters, 3, padding="same", name="stem")(inputs)
    for index in range(int(num_blocks)):
        skip = h
        for half in (1, 2):
            h = layers.BatchNormalization(momentum=0.9, name=f"block{index}_bn{half}")(h)
            h = layers.Activation("relu")(h)
            h = layers.Conv2D(filters, 3, padding="same", name=f"block{index}_conv{half}")(h)
        h = layers.Add()([skip, h])
    h = layers.Activation("relu")(layers.BatchNormalization(momentum=0.9, name="out_bn")(h))
    outputs = layers.Conv2D(2 * int(output_channels), 3, padding="same", kernel_initializer="zeros", name="out")(h)
    return keras.Model(inputs, outputs, name=name)


class Bijector(layers.Layer):
    """An invertible layer: `forward(x, training) -> (y, log_det)`, `inverse(y) -> x`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def forward(self, x, training=False):
        raise NotImplementedError

    def inverse(self, y):
        raise NotImplementedError

    def call(self, x, training=False):
        return self.forward(x, training=training)[0]

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kerasgen")
class AffineCoupling(Bijector):
    """Affine coupling (Dinh et al., eqs. 7-9): y_b = x_b, y_~b = x_~b * exp(s(x_b)) + t(x_b).

    `mask="checkerboard"`: b is `checkerboard_mask(H, W, parity)`; the
    conditioner sees b * x and b itself. `mask="channel"`: b keeps the first
    half of the channels (`parity=0`) or the second (`parity=1`); C must be
    even. s = scale * tanh(s_raw) with a learned scale per channel, which keeps
    early updates from blowing up exp(s). log_det = sum of s over the
    transformed dimensions.

    Args:
        mask, parity: which dimensions pass through unchanged.
        filters, num_blocks: the conditioner's width and residual blocks
            (`coupling_resnet`).
    """

    def __init__(self, mask="checkerboard", parity=0, filters=64, num_blocks=8, **kwargs):
        super().__init__(**kwargs)
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, got {mask!r}.")
        if int(parity) not in (0, 1):
            raise ValueError(f"parity must be 0 or 1, got {parity}.")
        self.mask, self.parity = mask, int(parity)
        self.filters, self.num_blocks = int(filters), int(num_blocks)

    def build(self, input_shape):
        height, width, channels = (int(d) for d in input_shape[1:])
        if self.mask == "channel":
            if channels % 2:
                raise ValueError(f"A channel-wise coupling needs an even channel count, got {channels}.")
            conditioner_shape, transformed = (height, width, channels // 2), channels // 2
        else:
            self._mask = checkerboard_mask(height, width, self.parity)
            conditioner_shape, transformed = (height, width, channels + 1), channels
        self.conditioner = coupling_resnet(conditioner_shape, transformed, self.filters, self.num_blocks)
        self.log_scale_factor = self.add_weight(shape=(transformed,), initializer="zeros", name="log_scale_factor")

    def _scale_and_shift(self, kept, training):
        raw = ops.cast(self.conditioner(kept, training=training), "float32")
        s_raw, t = ops.split(raw, 2, axis=-1)
        return ops.exp(self.log_scale_factor) * ops.tanh(s_raw), t

    def _halves(self, x):
        first, second = ops.split(x, 2, axis=-1)
        return (first, second) if self.parity == 0 else (second, first)

    def _join(self, kept, changed):
        return ops.concatenate([kept, changed] if self.parity == 0 else [changed, kept], axis=-1)

    def _checkerboard_input(self, x):
        mask = ops.convert_to_tensor(self._mask)
        kept = x * mask
        return mask, ops.concatenate([kept, ops.broadcast_to(mask, ops.shape(x[..., :1]))], axis=-1)

    def forward(self, x, training=False):
        x = ops.cast(x, "float32")
        if self.mask == "channel":
            kept, changed = self._halves(x)
            s, t = self._scale_and_shift(kept, training)
            return self._join(kept, changed * ops.exp(s) + t), sum_per_example(s)
        mask, conditioner_input = self._checkerboard_input(x)
        s, t = self._scale_and_shift(conditioner_input, training)
        s, t = s * (1.0 - mask), t * (1.0 - mask)
        return x * mask + (1.0 - mask) * (x * ops.exp(s) + t), sum_per_example(s)

    def inverse(self, y):
        y = ops.cast(y, "float32")
        if self.mask == "channel":
            kept, changed = self._halves(y)
            s, t = self._scale_and_shift(kept, False)
            return self._join(kept, (changed - t) * ops.exp(-s))
        mask, conditioner_input = self._checkerboard_input(y)  # y * mask == x * mask
        s, t = self._scale_and_shift(conditioner_input, False)
        return y * mask + (1.0 - mask) * ((y - t) * ops.exp(-s))

    def get_config(self):
        return {**super().get_config(), "mask": self.mask, "parity": self.parity, "filters": self.filters,
                "num_blocks": self.num_blocks}


@keras.saving.register_keras_serializable(package="kerasgen")
class FlowBatchNormalization(Bijector):
    """Batch normalization as a bijector (Dinh et al., Sec. 3.7, eq. 10), per channel:

        y = (x - mu) / sqrt(sigma^2 + epsilon) * exp(log_gamma) + beta,
        log_det = H * W * sum_c (log_gamma_c - 1/2 log(sigma_c^2 + epsilon)).

    In training mu, sigma^2 are the batch's (over batch, height and width) and
    the moving averages follow them with `momentum`; in inference, and always
    in `inverse`, the moving averages are used, so that the map is one fixed
    bijection. `momentum` 0.9 rather than Keras's 0.99, so that the averages
    keep up in runs of a few thousand steps.
    """

    def __init__(self, momentum=0.9, epsilon=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = float(momentum), float(epsilon)

    def build(self, input_shape):
        channels = (int(input_shape[-1]),)
        self.log_gamma = self.add_weight(shape=channels, initializer="zeros", name="log_gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=channels, initializer="ones", trainable=False,
                                               name="moving_variance")

    def forward(self, x, training=False):
        x = ops.cast(x, "float32")
        if training:
            mean, variance = ops.moments(x, axes=(0, 1, 2))
            for average, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                average.assign(self.momentum * average + (1.0 - self.momentum) * ops.stop_gradient(value))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        log_std = 0.5 * ops.log(variance + self.epsilon)
        y = (x - mean) * ops.exp(self.log_gamma - log_std) + self.beta
        pixels = ops.cast(ops.shape(x)[1] * ops.shape(x)[2], "float32")
        log_det = pixels * ops.sum(self.log_gamma - log_std)
        return y, ops.broadcast_to(log_det, (ops.shape(x)[0],))

    def inverse(self, y):
        log_std = 0.5 * ops.log(self.moving_variance + self.epsilon)
        return (ops.cast(y, "float32") - self.beta) * ops.exp(log_std - self.log_gamma) + self.moving_mean

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}
