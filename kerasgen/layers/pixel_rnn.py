"""The two recurrent layers of PixelRNN (van den Oord et al., 2016, "Pixel Recurrent Neural Networks").

Both are LSTMs over a 2D feature map whose gates are the sum of an
input-to-state part, a masked convolution of the layer input computed for the
whole map at once, and a state-to-state part, a convolution of earlier states
computed one step at a time (Section 3.1 and 3.2):

    [i, f, o, g] = sigmoid|tanh(K_ss (*) h_{t-1} + K_is (*) x_t)
    c_t = f * c_{t-1} + i * g,    h_t = o * tanh(c_t)

(`lstm_update`: sigmoid for i, f, o and tanh for g). The input-to-state kernel
carries mask B (`kerasgen.layers.masked_conv.causal_mask`), so with a causal
input (after the network's first, mask-A convolution) the state at (i, j)
depends on sub-pixels before (i, j, c) in raster order only. Each gate's
`units` features are split into one group per colour channel, like
`MaskedConv2D`'s feature maps, so the mask works gate by gate.

- `RowLSTM`: the map is processed row by row, top to bottom. K_is is a
  (1, k) masked convolution along the row, K_ss a 1D convolution of width k
  over the row above: the state at (i, j) sees a triangle above (i, j).
- `DiagonalBiLSTM`: the map is skewed (row i shifted right by i) so that
  its diagonals become columns, and processed column by column. K_is is 1x1,
  K_ss a 2x1 convolution over the previous column (the pixel above and the
  pixel to the left, once unskewed). A second LSTM runs over the mirrored map
  (from the right); its output is shifted down one row, so that it only tells
  row i about rows above, and added to the first. Together they see every
  earlier pixel.

Weights are float32 variables; the recurrence runs in the layer's compute
dtype (bfloat16 or float16 under mixed precision). `step` methods compute the
state at one position from its neighbours' states, for the cached sampler of
`kerasgen.models.PixelRNN`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasgen.layers.masked_conv import causal_mask

GATES = 4  # input, forget, output gates and candidate cell: [i, f, o, g]


def lstm_update(gates, cell):
    """One LSTM update: pre-activations `(..., 4u)` ordered [i, f, o, g], cell `(..., u)` -> `(h, c)`."""
    i, f, o, g = ops.split(gates, GATES, axis=-1)
    cell = ops.sigmoid(f) * cell + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(cell), cell


def gate_mask(kernel_size, in_features, units, image_channels):
    """Mask B for the four gates side by side: `(kh, kw, in_features, 4 * units)`."""
    mask = causal_mask(kernel_size, in_features, units, "B", image_channels)
    return np.concatenate([mask] * GATES, axis=-1)


def scan(step, carry, inputs):
    """The carries of `carry = step(carry, x)` over `inputs` (time-major), stacked.

    `tf.scan` rather than `keras.ops.scan`: it bounds its while loop by the
    number of steps, which XLA needs to compile the loop's gradient
    (`jit_compile=True`, the GPU default).
    """
    return tf.scan(step, inputs, initializer=carry)


def skew(x):
    """`(B, H, W, F) -> (B, H, W + H - 1, F)`: row r shifted right by r, zeros elsewhere (Figure 3)."""
    height = x.shape[1]
    return ops.stack([ops.pad(x[:, r], [[0, 0], [r, height - 1 - r], [0, 0]]) for r in range(height)], axis=1)


def unskew(x, width):
    """The inverse of `skew`: `(B, H, W + H - 1, F) -> (B, H, W, F)`."""
    return ops.stack([x[:, r, r:r + width] for r in range(x.shape[1])], axis=1)


class _PixelLSTM(keras.layers.Layer):
    def __init__(self, units, image_channels=1, **kwargs):
        super().__init__(**kwargs)
        if int(units) < int(image_channels):
            raise ValueError(f"units={units} is too small for {image_channels} image channels: each gate's "
                             f"features are split into one group per channel. Use units >= {image_channels}.")
        self.units = int(units)
        self.image_channels = int(image_channels)

    def _forget_bias_one(self, shape, dtype=None):
        # Keras's LSTM default (unit_forget_bias): remember by default at the start of training.
        return ops.concatenate([ops.zeros((self.units,)), ops.ones((self.units,)), ops.zeros((2 * self.units,))])

    def _weights(self, prefix, in_shape, state_shape, mask):
        kernel = self.add_weight(name=f"{prefix}input_kernel", shape=in_shape, initializer="glorot_uniform")
        state = self.add_weight(name=f"{prefix}state_kernel", shape=state_shape, initializer="orthogonal")
        bias = self.add_weight(name=f"{prefix}bias", shape=(GATES * self.units,), initializer=self._forget_bias_one)
        return kernel, state, bias, mask.astype("float32")

    def _cast(self, value):
        return ops.cast(value, self.compute_dtype)

    def _zeros(self, reference, shape_tail):
        return ops.zeros((ops.shape(reference)[0], *shape_tail), dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "image_channels": self.image_channels}


@keras.saving.register_keras_serializable(package="kerasgen")
class RowLSTM(_PixelLSTM):
    """PixelRNN's Row LSTM layer: `(B, H, W, F) -> (B, H, W, units)`, rows top to bottom.

    Args:
        units: LSTM features (h in the paper; each gate has `units` features).
        image_channels: colour channels of the modelled image (mask groups).
        kernel_size: k of the (1, k) masked input-to-state convolution and of
            the width-k state-to-state convolution over the row above (the
            paper's k = 3).
    """

    def __init__(self, units, image_channels=1, kernel_size=3, **kwargs):
        super().__init__(units, image_channels, **kwargs)
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}.")
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        features, k, gates = int(input_shape[-1]), self.kernel_size, GATES * self.units
        mask = gate_mask((1, k), features, self.units, self.image_channels)
        self.input_kernel, self.state_kernel, self.bias, self.mask = self._weights(
            "", (1, k, features, gates), (k, self.units, gates), mask)

    def masked_input_kernel(self):
        """`(1, k, F, 4u)` K_is * mask in the compute dtype."""
        return self._cast(self.input_kernel) * self._cast(self.mask)

    def call(self, x):
        gates_in = ops.conv(x, self.masked_input_kernel(), padding="same") + self._cast(self.bias)
        state_kernel = self._cast(self.state_kernel)

        def row(carry, gates):
            h, c = carry
            return lstm_update(gates + ops.conv(h, state_kernel, padding="same"), c)

        start = self._zeros(x, (x.shape[2], self.units))
        rows, _ = scan(row, (start, start), ops.transpose(gates_in, (1, 0, 2, 3)))
        return ops.transpose(rows, (1, 0, 2, 3))

    def step(self, inputs_left, h_above, c_above):
        """The state at one pixel (i, j) from what it reads.

        Args:
            inputs_left: `(B, k // 2 + 1, F)` layer inputs at (i, j - k // 2) .. (i, j)
                (zeros left of the image): the taps the mask leaves visible.
            h_above: `(B, k, u)` states at (i - 1, j - k // 2) .. (i - 1, j + k // 2) (zeros off the image).
            c_above: `(B, u)` cell at (i - 1, j).

        Returns:
            `(h, c)`, each `(B, u)`.
        """
        visible = self.masked_input_kernel()[0, : self.kernel_size // 2 + 1]
        gates = (ops.einsum("bkf,kfg->bg", inputs_left, visible) + self._cast(self.bias)
                 + ops.einsum("bku,kug->bg", h_above, self._cast(self.state_kernel)))
        return lstm_update(gates, c_above)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="kerasgen")
class DiagonalBiLSTM(_PixelLSTM):
    """PixelRNN's Diagonal BiLSTM layer: `(B, H, W, F) -> (B, H, W, units)`.

    Two LSTMs over the skewed map, one from the left and one from the right
    (on the mirrored map), each with a masked 1x1 input-to-state convolution
    and a 2x1 state-to-state convolution over the previous diagonal. Output:
    `h_left(i, j) + h_right(i - 1, j)` (zero for i = 0).

    Args:
        units: LSTM features per direction (h in the paper).
        image_channels: colour channels of the modelled image (mask groups).
    """

    DIRECTIONS = ("left", "right")

    def build(self, input_shape):
        features, gates = int(input_shape[-1]), GATES * self.units
        mask = gate_mask((1, 1), features, self.units, self.image_channels)[0, 0]
        for direction in self.DIRECTIONS:  # attributes, not a list: Keras tracks them by name
            kernel, state, bias, _ = self._weights(f"{direction}_", (features, gates), (2, self.units, gates), mask)
            setattr(self, f"{direction}_input_kernel", kernel)
            setattr(self, f"{direction}_state_kernel", state)
            setattr(self, f"{direction}_bias", bias)
        self.mask = mask.astype("float32")

    def _direction(self, direction):
        """`(input_kernel, state_kernel, bias)` of direction 0 (left) or 1 (right)."""
        name = self.DIRECTIONS[direction]
        return tuple(getattr(self, f"{name}_{part}") for part in ("input_kernel", "state_kernel", "bias"))

    def masked_input_kernel(self, direction):
        """`(F, 4u)` K_is * mask of direction 0 (from the left) or 1 (from the right)."""
        return self._cast(self._direction(direction)[0]) * self._cast(self.mask)

    def call(self, x):
        # Both directions in one scan: the mirrored map is a second copy along a leading axis,
        # so each of the W + H - 1 sequential steps does both (half the steps of two scans).
        height, width = x.shape[1], x.shape[2]
        mirrored = ops.stack([x, ops.flip(x, axis=2)])  # (2, B, H, W, F)
        kernels = ops.stack([self.masked_input_kernel(d) for d in range(2)])  # (2, F, 4u)
        biases = ops.stack([self._cast(self._direction(d)[2]) for d in range(2)])[:, None, None, None]
        state_kernels = ops.stack([self._cast(self._direction(d)[1]) for d in range(2)])  # (2, 2, u, 4u)
        above_kernels, before_kernels = state_kernels[:, 0], state_kernels[:, 1]
        gates_in = ops.einsum("dbhwf,dfg->dbhwg", mirrored, kernels) + biases
        # Skewed (row r shifted right by r), zero off the image after the bias: states there stay exactly
        # zero, the boundary of the recurrence. Time-major: (W + H - 1, 2, B, H, 4u).
        batch = ops.shape(x)[0]
        skewed = skew(ops.reshape(gates_in, (-1, height, width, gates_in.shape[-1])))
        skewed = ops.reshape(skewed, (2, batch, height, -1, gates_in.shape[-1]))

        def column(carry, gates):
            h, c = carry  # (2, B, H, u): the previous column (diagonal), row r at r
            above = ops.concatenate([ops.zeros_like(h[:, :, :1]), h[:, :, :-1]], axis=2)
            state = ops.einsum("dbhu,dug->dbhg", above, above_kernels) + ops.einsum("dbhu,dug->dbhg", h, before_kernels)
            return lstm_update(gates + state, c)

        start = ops.zeros((2, batch, height, self.units), dtype=self.compute_dtype)
        columns, _ = scan(column, (start, start), ops.transpose(skewed, (3, 0, 1, 2, 4)))
        columns = ops.reshape(ops.transpose(columns, (1, 2, 3, 0, 4)), (-1, height, width + height - 1, self.units))
        states = ops.reshape(unskew(columns, width), (2, batch, height, width, self.units))
        left, right = states[0], ops.flip(states[1], axis=2)
        right = ops.pad(right, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :height]  # row i sees rows < i only
        return left + right

    def step(self, direction, inputs, h_above, h_before, c_before):
        """The state of one direction at one pixel from its two neighbours.

        Args:
            direction: 0 (from the left: `h_before` is the pixel to the left)
                or 1 (from the right: the pixel to the right).
            inputs: `(B, F)` layer input at the pixel.
            h_above: `(B, u)` this direction's state at the pixel above (zeros on the first row).
            h_before, c_before: `(B, u)` state and cell of the previous pixel in the row
                (zeros at the row's start).

        Returns:
            `(h, c)`, each `(B, u)`.
        """
        _, state_kernel, bias = self._direction(direction)
        state_kernel = self._cast(state_kernel)
        gates = (ops.matmul(inputs, self.masked_input_kernel(direction)) + self._cast(bias)
                 + ops.matmul(h_above, state_kernel[0]) + ops.matmul(h_before, state_kernel[1]))
        return lstm_update(gates, c_before)
