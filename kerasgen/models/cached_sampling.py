"""Cached autoregressive sampling for convolutional PixelCNN networks.

Ramachandran et al. (2017), "Fast Generation for Convolutional Autoregressive
Models": drawing sub-pixel p changes only the activations that depend on p, so
a sampler that keeps every layer's activations and computes, at each step, only
the new ones does the work of one network evaluation in all, instead of one per
sub-pixel. This module does that exactly for any functional network built from
convolutions (masked or not, "same" or "valid", stride 1), zero padding,
cropping and per-pixel layers (Add, Multiply, Concatenate, activations,
`LevelEmbedding`, ...): kerasgen's PixelCNN and Gated PixelCNN.

How it is scheduled. Every tensor of the network is read off the graph with
its *frontier*: the last image position, in raster order, that its value at
array position (a, b) depends on, as an offset (dy, dx) from (a, b) (the
lexicographic maximum of the offsets it depends on; composing layers adds
frontiers, merging takes the maximum, so one pass over the graph finds them).
Tensors fall into two kinds:

- *pixel* tensors (frontier (0, dx <= 0), image-sized): their value at pixel p
  depends on pixels up to p only. They are computed one position at a time, at
  the step that draws p (once per colour channel, since feature group g at p
  sees channels < g of p): a gather of the kernel taps the mask leaves visible
  and one small matmul. The logits are one of them.
- *row* tensors (frontier dy < 0, e.g. the Gated PixelCNN's down-shifted
  vertical stack; or dy = 0, dx > 0, e.g. its vertical stack, which sees the
  current row to the right): row r is computed in one piece once image row
  r + dy is complete, by the layer itself applied to the rows it reads.

A first evaluation of the whole network on the empty canvas fills every cache;
the values it gets right (those that depend on no pixel) are never recomputed,
all others are recomputed before anything reads them. Caches are TensorArrays
indexed by flat position (in-place writes inside `tf.while_loop`; a scattered
update of a dense tensor would copy it at every step).

The same uniforms give the same images as the full-canvas sampler up to the
float rounding of a matmul against a convolution of the same numbers: a level
can only differ where a uniform falls within ~1e-6 of a CDF step.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from kerasgen.layers.level_embedding import LevelEmbedding
from kerasgen.layers.masked_conv import MaskedConv2D

#: Layers that act on each position separately (in inference).
POINTWISE = (
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average, keras.layers.Maximum,
    keras.layers.Minimum, keras.layers.Concatenate, keras.layers.Activation, keras.layers.ReLU,
    keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.Softmax, keras.layers.Dropout,
    keras.layers.BatchNormalization, keras.layers.LayerNormalization, LevelEmbedding, keras.layers.Reshape,
)


class UncacheableNetwork(ValueError):
    """The network holds a layer or connection the cached sampler cannot follow."""


@dataclasses.dataclass
class _Tensor:
    """One tensor of the network: its producing layer, inputs, shape and schedule."""

    index: int
    layer: object  # None for the network input
    inputs: tuple  # indices of input tensors
    shape: tuple  # (height, width, *features) of the array, batch excluded
    frontier: tuple  # (dy, dx): the last image position its value at (a, b) depends on, relative to (a, b)
    kind: str = "pixel"  # "pixel" or "row"
    taps: tuple = ()  # conv layers: visible taps (ki, kj) of the kernel
    tap_offsets: tuple = ()  # conv layers: input array offset of each visible tap
    keras_tensor: object = None
    sees_pixel: bool = False  # its value at p depends on the last colour channel of pixel p itself


def _conv_taps(layer):
    """Visible kernel taps and their input offsets for an output position of a stride-1 convolution."""
    kh, kw = layer.kernel_size
    if tuple(layer.strides) != (1, 1) or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
        raise UncacheableNetwork(f"{layer.name}: only stride 1, dilation 1, groups 1 convolutions can be cached.")
    if layer.data_format != "channels_last":
        raise UncacheableNetwork(f"{layer.name}: only channels_last convolutions can be cached.")
    if layer.padding == "same":
        if kh % 2 == 0 or kw % 2 == 0:
            raise UncacheableNetwork(f"{layer.name}: 'same' padding with an even kernel is not symmetric.")
        origin = ((kh - 1) // 2, (kw - 1) // 2)
    elif layer.padding == "valid":
        origin = (0, 0)
    else:
        raise UncacheableNetwork(f"{layer.name}: padding {layer.padding!r} cannot be cached.")
    visible = np.ones((kh, kw), bool)
    if isinstance(layer, MaskedConv2D):
        visible = np.asarray(layer.kernel_mask).any(axis=(2, 3))
    taps = tuple((int(i), int(j)) for i, j in zip(*np.nonzero(visible)))
    return taps, tuple((i - origin[0], j - origin[1]) for i, j in taps)


def _pads(layer, kind):
    pad = layer.padding if kind == "pad" else layer.cropping
    (top, bottom), (left, right) = pad
    if layer.data_format != "channels_last":
        raise UncacheableNetwork(f"{layer.name}: only channels_last padding/cropping can be cached.")
    return top, bottom, left, right


def analyse(network):
    """The network's tensors in topological order, with their kinds and frontiers.

    Raises `UncacheableNetwork` for layers outside the supported set, shared
    layers, several inputs or outputs, or a network that is not causal.
    """
    if len(network.inputs) != 1 or len(network.outputs) != 1:
        raise UncacheableNetwork("the cached sampler needs a network with one input and one output.")
    (image,) = network.inputs
    height, width = int(image.shape[1]), int(image.shape[2])
    tensors = [_Tensor(0, None, (), tuple(image.shape[1:]), (0, 0), keras_tensor=image, sees_pixel=True)]
    by_id = {id(image): 0}
    for layer in network.operations:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        nodes = [node for node in layer._inbound_nodes if all(id(t) in by_id for t in node.input_tensors)]
        if len(nodes) != 1 or len(nodes[0].output_tensors) != 1:
            raise UncacheableNetwork(f"{layer.name}: shared layers and layers with several outputs cannot be cached.")
        node = nodes[0]
        inputs = tuple(by_id[id(t)] for t in node.input_tensors)
        (output,) = node.output_tensors
        shape = tuple(output.shape[1:])
        if len(shape) < 3 or None in shape[:2]:
            raise UncacheableNetwork(f"{layer.name}: outputs must keep the image's two spatial axes.")
        tensor = _Tensor(len(tensors), layer, inputs, shape, (0, 0), keras_tensor=output)
        sources = [tensors[i] for i in inputs]
        if isinstance(layer, keras.layers.Conv2D):
            tensor.taps, tensor.tap_offsets = _conv_taps(layer)
            (source,) = sources
            tensor.frontier = _add(source.frontier, max(tensor.tap_offsets))
            # Mask A's centre shows output group g the input groups < g only: never the last channel.
            tensor.sees_pixel = source.sees_pixel and (0, 0) in tensor.tap_offsets and not (
                isinstance(layer, MaskedConv2D) and layer.mask_type == "A")
        elif isinstance(layer, keras.layers.ZeroPadding2D):
            top, _, left, _ = _pads(layer, "pad")
            tensor.frontier = _add(sources[0].frontier, (-top, -left))
        elif isinstance(layer, keras.layers.Cropping2D):
            top, _, left, _ = _pads(layer, "crop")
            tensor.frontier = _add(sources[0].frontier, (top, left))
        elif isinstance(layer, POINTWISE):
            if any(s.shape[:2] != shape[:2] for s in sources):
                raise UncacheableNetwork(f"{layer.name}: a per-position layer must keep the spatial shape.")
            if isinstance(layer, keras.layers.Concatenate) and layer.axis not in (-1, len(shape)):
                raise UncacheableNetwork(f"{layer.name}: only concatenation along features can be cached.")
            if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization)):
                axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
                if axis not in (-1, 3, (3,), (-1,)):
                    raise UncacheableNetwork(f"{layer.name}: only normalization over features can be cached.")
            tensor.frontier = max(s.frontier for s in sources)
            tensor.sees_pixel = any(s.sees_pixel for s in sources)
        else:
            raise UncacheableNetwork(f"{layer.name}: {type(layer).__name__} layers are not supported by the cached sampler.")
        if tensor.frontier[0] > 0:
            raise UncacheableNetwork(f"{layer.name}: depends on later rows, so the network is not causal.")
        tensor.kind = _kind(tensor, sources, (height, width))
        by_id[id(output)] = tensor.index
        tensors.append(tensor)
    (output,) = network.outputs
    out = tensors[by_id[id(output)]]
    if out.kind != "pixel" or out.shape[:2] != (height, width):
        raise UncacheableNetwork("the network's logits at a pixel depend on later pixels: it is not causal.")
    return tensors, out.index


def _add(a, b):
    return (a[0] + b[0], a[1] + b[1])


def _kind(tensor, sources, image_hw):
    """ "pixel" when computable at the step of its own pixel, else "row"."""
    if isinstance(tensor.layer, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
        return "row"
    if tensor.shape[:2] != image_hw or tensor.frontier[0] < 0 or tensor.frontier[1] > 0:
        return "row"
    # A pixel tensor may read a row tensor only in rows that are complete before its own row.
    reach = max((i for i, _ in tensor.tap_offsets), default=0)
    if any(s.kind == "row" and reach + s.frontier[0] > -1 for s in sources):
        return "row"  # frontier dy = 0: computed at the end of its row
    return "pixel"


class CachedSampler:
    """Exact ancestral sampling of a causal network with per-layer activation caches.

    Args:
        network: functional Keras model `images (B, H, W, C) -> logits
            (B, H, W, C, L)`, causal in raster order with channels innermost.
        to_input: int32 levels `(B, C)` -> the network's input values of a pixel.
        draw: `(logits (B, L) float32, uniforms (B,)) -> int32 levels (B,)`.

    `sample_levels(noise)` maps uniforms `(B, H, W, C)` to int32 levels
    `(B, H, W, C)`; it is traceable in a `tf.function` (one `tf.while_loop`
    over rows with one over columns inside) and reads the layers' current
    weights, so it stays right as the network trains.
    """

    def __init__(self, network, to_input, draw):
        self.network, self.to_input, self.draw = network, to_input, draw
        self.tensors, self.output_index = analyse(network)
        self.height, self.width, self.channels = (int(d) for d in network.inputs[0].shape[1:])
        self.pixel_tensors = [t for t in self.tensors[1:] if t.kind == "pixel"]
        self.row_tensors = [t for t in self.tensors if t.kind == "row"]
        # Pixel tensors that see the complete pixel: computed once more after its last channel is drawn.
        self.final_tensors = [t for t in self.pixel_tensors if t.sees_pixel]
        # Only tensors read somewhere else than at the position being computed need a cache: most
        # of a PixelCNN (1x1 convolutions, activations, residual sums) lives within one step.
        self.cached = sorted({t.index for t in self.row_tensors} | {
            source for t in self.tensors[1:] for source in t.inputs
            if t.kind == "row" or any(offset != (0, 0) for offset in t.tap_offsets)})
        # One forward pass yielding every cached tensor: fills the caches from the empty canvas.
        self._probe = keras.Model(network.inputs, [self.tensors[i].keras_tensor for i in self.cached],
                                  name=f"{network.name}_probe")

    # ------------------------------------------------------------ schedule
    @property
    def summary(self):
        """Counts of pixel and row tensors (what one step computes)."""
        return {"pixel": len(self.pixel_tensors), "row": len(self.row_tensors)}

    def sample_levels(self, noise):
        height, width, channels = self.height, self.width, self.channels
        batch = tf.shape(noise)[0]
        uniforms = tf.transpose(tf.reshape(noise, (batch, height * width, channels)), (1, 0, 2))  # (HW, B, C)
        start = tf.zeros((batch, height, width, channels), tf.int32)
        values = self._probe(self.to_input(start), training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        caches = {i: self._cache(self.tensors[i], value) for i, value in zip(self.cached, values)}
        levels = tf.TensorArray(tf.int32, size=height * width, element_shape=(None, channels))
        kernels = {t.index: self._pixel_kernel(t) for t in self.pixel_tensors if t.taps}

        def compute(tensors, position, caches, current):
            for tensor in tensors:
                current[tensor.index] = value = self._pixel_value(tensor, position, caches, current, kernels)
                if tensor.index in caches:
                    cache = caches[tensor.index]
                    caches[tensor.index] = cache.write(position, tf.cast(value, cache.dtype))

        def pixel(position, caches, levels):
            drawn = tf.zeros((batch, channels), tf.int32)
            current = {"drawn": drawn}  # this step's values at `position`, by tensor index
            pixel_uniforms = uniforms[position]  # (B, C)
            for channel in range(channels):
                compute([self.tensors[0], *self.pixel_tensors], position, caches, current)
                logits = tf.reshape(tf.cast(current[self.output_index], tf.float32), (batch, channels, -1))
                level = self.draw(logits[:, channel], pixel_uniforms[:, channel])
                drawn = drawn + tf.one_hot(channel, channels, dtype=tf.int32)[None] * level[:, None]
                current["drawn"] = drawn
            # The complete pixel, and what sees it whole (e.g. a level embedding).
            compute([self.tensors[0], *self.final_tensors], position, caches, current)
            return caches, levels.write(position, drawn)

        def row(r, caches, levels):
            def column(c, caches, levels):
                caches, levels = pixel(r * width + c, caches, levels)
                return c + 1, caches, levels

            _, caches, levels = tf.while_loop(lambda c, *_: c < width, column, (tf.constant(0), caches, levels),
                                              parallel_iterations=1)
            for tensor in self.row_tensors:  # rows that image row r completes (clamped: a recomputed last row is final)
                out_row = tf.minimum(r - tensor.frontier[0], tensor.shape[0] - 1)
                caches[tensor.index] = self._write_row(tensor, out_row, caches)
            return r + 1, caches, levels

        _, caches, levels = tf.while_loop(lambda r, *_: r < height, row, (tf.constant(0), caches, levels),
                                          parallel_iterations=1)
        return tf.reshape(tf.transpose(levels.stack(), (1, 0, 2)), (batch, height, width, channels))

    # ------------------------------------------------------------- caches
    def _cache(self, tensor, value):
        """A TensorArray of the tensor's values by flat position: `H_t * W_t` elements `(B, *features)`,
        and one more that stays zero, where reads outside the array (zero padding) point."""
        h, w, *features = tensor.shape
        value = tf.convert_to_tensor(value)
        flat = tf.reshape(value, (-1, h * w, *features))
        flat = tf.transpose(flat, (1, 0, *range(2, 2 + len(features))))
        flat = tf.concat([flat, tf.zeros_like(flat[:1])], 0)
        cache = tf.TensorArray(value.dtype, size=h * w + 1, element_shape=(None, *features), clear_after_read=False)
        return cache.unstack(flat)

    @staticmethod
    def _flat_index(shape, rows, cols):
        """Flat cache index of array positions (rows, cols); the zero element outside the array."""
        h, w = shape[:2]
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        return np.where(inside, rows * w + cols, h * w).astype(np.int32) if isinstance(rows, np.ndarray) else \
            tf.where(inside, rows * w + cols, h * w)

    def _split_taps(self, tensor):
        """(taps read from the input's cache, whether the centre tap comes from this step's value)."""
        from_step = self.tensors[tensor.inputs[0]].kind == "pixel"
        cached = [k for k, offset in enumerate(tensor.tap_offsets) if not (from_step and offset == (0, 0))]
        return cached, len(cached) < len(tensor.taps)

    def _tap_table(self, tensor, taps):
        """`(H * W, taps)` int32: cache index, in the input's cache, of each given tap at each position."""
        grid = np.arange(self.height * self.width)
        rows, cols = grid // self.width, grid % self.width
        offsets = np.asarray([tensor.tap_offsets[k] for k in taps], np.int32)
        source = self.tensors[tensor.inputs[0]].shape
        return tf.constant(self._flat_index(source, rows[:, None] + offsets[None, :, 0],
                                            cols[:, None] + offsets[None, :, 1]))

    # ------------------------------------------------------- pixel tensors
    def _pixel_kernel(self, tensor):
        """A convolution's visible taps, `(kernel (taps * in_features, out_features), tap table or None)`:
        the cached taps first, then the centre tap when it comes from this step's value."""
        layer = tensor.layer
        kernel = tf.convert_to_tensor(layer.kernel)
        if isinstance(layer, MaskedConv2D):
            kernel = kernel * tf.constant(layer.kernel_mask, kernel.dtype)
        cached, centre = self._split_taps(tensor)
        order = cached + ([tensor.tap_offsets.index((0, 0))] if centre else [])
        picked = tf.gather_nd(kernel, tf.constant([tensor.taps[k] for k in order], tf.int32))  # (taps, in, out)
        table = self._tap_table(tensor, cached) if cached else None
        return tf.cast(tf.reshape(picked, (-1, kernel.shape[-1])), layer.compute_dtype), table

    def _pixel_value(self, tensor, position, caches, current, kernels):
        """The tensor's value at `position` `(B, *features)`, from the caches and this step's values."""
        layer = tensor.layer
        if layer is None:  # the network input: the pixel drawn so far
            return self.to_input(current["drawn"])
        if tensor.taps:  # a convolution at one position: visible taps x kernel
            kernel, table = kernels[tensor.index]
            source = tensor.inputs[0]
            pieces = []
            if table is not None:  # (taps, B, in) -> B x (taps * in): concatenating beats a transpose here
                gathered = caches[source].gather(tf.gather(table, position))
                pieces = tf.unstack(gathered, num=int(table.shape[1]))
            if len(pieces) < len(tensor.taps):
                pieces.append(current[source])
            patch = pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=1)
            if patch.dtype != kernel.dtype:
                patch = tf.cast(patch, kernel.dtype)
            value = tf.matmul(patch, kernel)
            if layer.use_bias:
                value = tf.nn.bias_add(value, tf.cast(layer.bias, kernel.dtype))
            return layer.activation(value) if layer.activation is not None else value
        inputs = [current[i] if self.tensors[i].kind == "pixel" else caches[i].read(position) for i in tensor.inputs]
        return self._pointwise(tensor, inputs)

    def _pointwise(self, tensor, inputs):
        """A per-position layer on values `(B, ..., features)` (leading axes kept)."""
        layer = tensor.layer
        if isinstance(layer, keras.layers.Reshape):  # spatial axes kept: reshapes the features
            (value,) = inputs
            source_features = len(self.tensors[tensor.inputs[0]].shape) - 2
            lead = tf.shape(value)[:value.shape.rank - source_features]
            return tf.reshape(value, tf.concat([lead, tf.constant(tensor.shape[2:], tf.int32)], 0))
        if isinstance(layer, LevelEmbedding):  # needs (B, H, W, C) in and gives (B, H, W, C * E)
            (value,) = inputs
            lead = tf.shape(value)[:-1]
            out = layer(tf.reshape(value, (-1, 1, 1, value.shape[-1])))
            return tf.reshape(out, tf.concat([lead, [out.shape[-1]]], 0))
        args = inputs if len(tensor.inputs) > 1 else inputs[0]
        if isinstance(layer, (keras.layers.Dropout, keras.layers.BatchNormalization)):
            return layer(args, training=False)
        return layer(args)

    # --------------------------------------------------------- row tensors
    def _write_row(self, tensor, out_row, caches):
        """Computes row `out_row` of a row tensor from its inputs and writes it to its cache."""
        h, w = tensor.shape[:2]
        value = self._row_value(tensor, out_row, caches)  # (B, 1, w, *features)
        flat = tf.transpose(value[:, 0], (1, 0, *range(2, value.shape.rank - 1)))  # (w, B, *features)
        cache = caches[tensor.index]
        return cache.scatter(out_row * w + tf.range(w), tf.cast(flat, cache.dtype))

    def _rows(self, caches, index, first_row, count):
        """Rows first_row .. first_row + count - 1 of tensor `index` as `(B, count, W_t, *features)`, zero outside."""
        source = self.tensors[index]
        h, w = source.shape[:2]
        rows = tf.repeat(first_row + tf.range(count), w)
        cols = tf.tile(tf.range(w), [count])
        values = caches[index].gather(self._flat_index(source.shape, rows, cols))  # (count * w, B, *f)
        values = tf.reshape(values, (count, w, -1, *source.shape[2:]))
        return tf.transpose(values, (2, 0, 1, *range(3, values.shape.rank)))

    def _row_value(self, tensor, out_row, caches):
        layer = tensor.layer
        if isinstance(layer, keras.layers.Conv2D):
            kh = layer.kernel_size[0]
            top = (kh - 1) // 2 if layer.padding == "same" else 0
            band = self._rows(caches, tensor.inputs[0], out_row - top, kh)
            out = layer(band)
            return out[:, top:top + 1]
        if isinstance(layer, keras.layers.ZeroPadding2D):
            top, _, left, right = _pads(layer, "pad")
            source = self._rows(caches, tensor.inputs[0], out_row - top, 1)
            pad = [[0, 0], [0, 0], [left, right]] + [[0, 0]] * (source.shape.rank - 3)
            return tf.pad(source, pad)
        if isinstance(layer, keras.layers.Cropping2D):
            top, _, left, right = _pads(layer, "crop")
            source = self._rows(caches, tensor.inputs[0], out_row + top, 1)
            return source[:, :, left:source.shape[2] - right]
        inputs = [self._rows(caches, i, out_row, 1) for i in tensor.inputs]
        return self._pointwise(tensor, inputs)
