"""Cached sampling for PixelRNN networks: one pixel of every layer per step.

A PixelRNN layer's state at pixel (i, j) is a function of its input there and
of states it has already computed: the row above (Row LSTM: k states of row
i - 1 and the cell at (i - 1, j)); the pixel above and the one to the left
(the Diagonal BiLSTM's left-to-right LSTM). So, drawing the image in raster
order, the sampler keeps each layer's states of the row above and of the row
being drawn and computes, for every sub-pixel, each layer at the current pixel
only: the work of one network evaluation in all, instead of one per sub-pixel.

The Diagonal BiLSTM's right-to-left LSTM reads the pixel to the right, which
is not drawn yet; its output is shifted down a row, though, so row i only
needs its states of row i - 1. Once a row is complete the sampler runs that
LSTM along it, right to left, for every layer (its inputs on that row are all
known by then) and keeps the states for the next row.

Everything runs in the network's compute dtype; the logits are drawn from in
float32. With the same uniforms it draws the same levels as the full-canvas
loop up to float rounding (a level can differ where a uniform falls within
~1e-6 of a CDF step).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasgen.layers.masked_conv import MaskedConv2D
from kerasgen.layers.pixel_rnn import DiagonalBiLSTM, RowLSTM
from kerasgen.models.cached_sampling import UncacheableNetwork

HEAD = ("out_conv0", "out_conv1", "out_logits")


def _layer(network, name, kind):
    try:
        layer = network.get_layer(name)
    except ValueError:
        layer = None
    if not isinstance(layer, kind):
        raise UncacheableNetwork(
            f"the cached PixelRNN sampler follows kerasgen.networks.pixelrnn_network, whose layer {name!r} is a "
            f"{kind.__name__}; this network's is {type(layer).__name__ if layer else 'missing'}")
    return layer


def _structure(network):
    """`(first conv, [(rnn, expand), ...], head convs)` of a `pixelrnn_network`, else UncacheableNetwork."""
    first = _layer(network, "conv_a", MaskedConv2D)
    blocks = []
    while any(layer.name == f"rnn{len(blocks)}" for layer in network.layers):
        index = len(blocks)
        blocks.append((_layer(network, f"rnn{index}", (RowLSTM, DiagonalBiLSTM)),
                       _layer(network, f"rnn{index}_expand", MaskedConv2D)))
        _layer(network, f"rnn{index}_add", keras.layers.Add)
    head = [_layer(network, name, MaskedConv2D) for name in HEAD]
    # Input, conv_a, 3 layers per block, ReLU, the head and Reshape: nothing else may sit in between.
    expected = 2 + 3 * len(blocks) + 1 + len(HEAD) + 1
    if len(network.layers) != expected or first.mask_type != "A":
        raise UncacheableNetwork("the network has other layers than kerasgen.networks.pixelrnn_network builds")
    if any(conv.kernel_size != (1, 1) for conv in [expand for _, expand in blocks] + head):
        raise UncacheableNetwork("the cached PixelRNN sampler needs 1x1 convolutions after the first layer")
    return first, blocks, head


class RecurrentSampler:
    """Exact sampler of a `kerasgen.networks.pixelrnn_network`, caching every layer's recurrent states.

    `sample_levels(noise)` maps uniform noise `(B, H, W, C)` in [0, 1) to
    int32 levels; it is traceable in a `tf.function` (nested
    `tf.while_loop`s over rows and columns; layers and colour channels unroll
    at trace time). `to_input` maps levels to the network's inputs and
    `draw(logits (B, L), uniform (B,))` picks a level.
    """

    def __init__(self, network, to_input, draw):
        self.first, self.blocks, self.head = _structure(network)
        self.to_input, self.draw = to_input, draw
        self.height, self.width, self.channels = (int(d) for d in network.input.shape[1:])
        self.num_levels = int(network.output.shape[-1])
        self.dtype = self.first.compute_dtype

    # ------------------------------------------------------- one pixel of a layer
    def _kernel(self, conv):
        return tf.cast(conv.kernel, self.dtype) * tf.constant(conv.kernel_mask, self.dtype)

    def _pointwise(self, conv, x):
        """A 1x1 masked convolution at one pixel: `(B, F_in) -> (B, F_out)`."""
        y = tf.matmul(x, self._kernel(conv)[0, 0]) + tf.cast(conv.bias, self.dtype)
        return conv.activation(y)

    def _first(self, padded, i, j):
        """The mask-A convolution at pixel (i, j) of the zero-padded input canvas: `(B, F)`."""
        k = self.first.kernel_size[0]
        window = tf.slice(padded, [0, i, j, 0], [-1, k // 2 + 1, self.first.kernel_size[1], -1])
        visible = self._kernel(self.first)[: k // 2 + 1]  # rows below the centre are masked
        return tf.einsum("bhwc,hwcf->bf", window, visible) + tf.cast(self.first.bias, self.dtype)

    @staticmethod
    def _window(row, start, size, pad):
        """Columns `start - pad .. start - pad + size - 1` of `row (B, W, F)`, zeros off the row."""
        padded = tf.pad(row, [[0, 0], [pad, pad], [0, 0]])
        return tf.gather(padded, start + tf.range(size), axis=1)

    def _write(self, row, j, value):
        """`row (B, W, F)` with column j set to `value (B, F)`."""
        return tf.where(tf.equal(tf.range(self.width), j)[None, :, None], value[:, None, :], row)

    # ------------------------------------------------------------------- states
    def _start_row(self, batch):
        """Per block: the states of the row above (zeros before the first row)."""
        def zeros(features):
            return tf.zeros((batch, self.width, features), self.dtype)

        above = []
        for rnn, _ in self.blocks:
            if isinstance(rnn, RowLSTM):
                above.append({"h": zeros(rnn.units), "c": zeros(rnn.units)})
            else:  # left-to-right states and right-to-left states of row i - 1
                above.append({"h": zeros(rnn.units), "right": zeros(rnn.units)})
        return above

    def _row_buffers(self, batch):
        """Per block: what the current row has computed so far (inputs, states, the last cell)."""
        buffers = []
        for rnn, _ in self.blocks:
            features = rnn.input.shape[-1]
            buffer = {"x": tf.zeros((batch, self.width, features), self.dtype),
                      "h": tf.zeros((batch, self.width, rnn.units), self.dtype)}
            if isinstance(rnn, RowLSTM):
                buffer["c"] = tf.zeros((batch, self.width, rnn.units), self.dtype)
            else:
                buffer["c_before"] = tf.zeros((batch, rnn.units), self.dtype)
            buffers.append(buffer)
        return buffers

    def _pixel(self, padded, i, j, above, buffers):
        """Every layer at pixel (i, j) given the canvas so far: `(logits (B, C, L), new values per block)`."""
        x = self._first(padded, i, j)
        values = []
        for (rnn, expand), row_above, buffer in zip(self.blocks, above, buffers):
            if isinstance(rnn, RowLSTM):
                reach = rnn.kernel_size // 2
                left = tf.concat([self._window(buffer["x"], j, reach, reach), x[:, None]], axis=1)
                h, c = rnn.step(left, self._window(row_above["h"], j, rnn.kernel_size, reach), row_above["c"][:, j])
                out = h
            else:
                h_before = self._window(buffer["h"], j, 1, 1)[:, 0]  # zeros at the row's start
                h, c = rnn.step(0, x, row_above["h"][:, j], h_before, buffer["c_before"])
                out = h + row_above["right"][:, j]
            values.append({"x": x, "h": h, "c": c})
            x = x + self._pointwise(expand, out)
        x = tf.nn.relu(x)
        for conv in self.head:
            x = self._pointwise(conv, x)
        return tf.reshape(tf.cast(x, tf.float32), (-1, self.channels, self.num_levels)), values

    def _store(self, buffers, j, values):
        stored = []
        for (rnn, _), buffer, value in zip(self.blocks, buffers, values):
            new = {"x": self._write(buffer["x"], j, value["x"]), "h": self._write(buffer["h"], j, value["h"])}
            if isinstance(rnn, RowLSTM):
                new["c"] = self._write(buffer["c"], j, value["c"])
            else:
                new["c_before"] = value["c"]
            stored.append(new)
        return stored

    def _finish_row(self, above, buffers, batch):
        """The row above for the next row: this row's states, and the right-to-left LSTMs run along it."""
        rights = [index for index, (rnn, _) in enumerate(self.blocks) if isinstance(rnn, DiagonalBiLSTM)]

        def column(n, states, outputs):
            j = self.width - 1 - n  # right to left
            states, outputs = list(states), list(outputs)
            for slot, index in enumerate(rights):
                rnn = self.blocks[index][0]
                h_before, c_before = states[slot]
                h, c = rnn.step(1, buffers[index]["x"][:, j], above[index]["right"][:, j], h_before, c_before)
                states[slot], outputs[slot] = (h, c), self._write(outputs[slot], j, h)
            return n + 1, states, outputs

        zeros = [tf.zeros((batch, self.blocks[index][0].units), self.dtype) for index in rights]
        rows = [tf.zeros((batch, self.width, self.blocks[index][0].units), self.dtype) for index in rights]
        if rights:
            _, _, rows = tf.while_loop(lambda n, *_: n < self.width, column,
                                       (tf.constant(0), [(z, z) for z in zeros], rows), parallel_iterations=1)
        new_above = []
        for index, ((rnn, _), buffer) in enumerate(zip(self.blocks, buffers)):
            if isinstance(rnn, RowLSTM):
                new_above.append({"h": buffer["h"], "c": buffer["c"]})
            else:
                new_above.append({"h": buffer["h"], "right": rows[rights.index(index)]})
        return new_above

    # ------------------------------------------------------------------ the loop
    def sample_levels(self, noise):
        batch = tf.shape(noise)[0]
        k = self.first.kernel_size
        shape = (self.height, self.width, self.channels)
        grid = tf.reshape(tf.range(self.height * self.width * self.channels), (1, *shape))

        def pixel(i, j, levels, above, buffers):
            values = None
            for channel in range(self.channels):  # sub-pixel c sees channels < c of this pixel
                canvas = tf.cast(self.to_input(levels), self.dtype)
                padded = tf.pad(canvas, [[0, 0], [k[0] // 2, k[0] // 2], [k[1] // 2, k[1] // 2], [0, 0]])
                logits, values = self._pixel(padded, i, j, above, buffers)
                drawn = self.draw(logits[:, channel], noise[:, i, j, channel])
                position = tf.equal(grid, (i * self.width + j) * self.channels + channel)
                levels = tf.where(position, drawn[:, None, None, None], levels)
            return levels, self._store(buffers, j, values)

        def row(i, levels, above):
            def column(j, levels, buffers):
                levels, buffers = pixel(i, j, levels, above, buffers)
                return j + 1, levels, buffers

            _, levels, buffers = tf.while_loop(lambda j, *_: j < self.width, column,
                                               (tf.constant(0), levels, self._row_buffers(batch)),
                                               parallel_iterations=1)
            return i + 1, levels, self._finish_row(above, buffers, batch)

        start = tf.zeros((batch, *shape), tf.int32)
        _, levels, _ = tf.while_loop(lambda i, *_: i < self.height, row,
                                     (tf.constant(0), start, self._start_row(batch)), parallel_iterations=1)
        return levels
