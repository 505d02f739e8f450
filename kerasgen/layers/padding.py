"""Reflection padding, the border handling of Johnson et al.'s and CycleGAN's generators."""

from __future__ import annotations

import keras
from keras import ops


def _pairs(padding):
    """`p`, `(ph, pw)` or `((top, bottom), (left, right))` -> `((top, bottom), (left, right))`."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    height, width = padding
    if isinstance(height, int) and isinstance(width, int):
        return ((height, height), (width, width))
    return (tuple(int(p) for p in height), tuple(int(p) for p in width))


@keras.saving.register_keras_serializable(package="kerasgen")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads the height and width of NHWC images by mirroring them at the border.

    The border pixel itself is not repeated (`[a, b, c] -> [b, a, b, c, b]` for
    a padding of 1), so a following "valid" convolution sees image-like content
    instead of a frame of zeros. Johnson et al. (2016) and Zhu et al. (2017,
    CycleGAN, Appendix 7.2) pad this way to reduce border artifacts.

    Args:
        padding: int `p`, `(p_h, p_w)` or `((top, bottom), (left, right))`;
            each must be smaller than the padded dimension.

    Input `(batch, H, W, C)`; output `(batch, H + top + bottom, W + left + right, C)`.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding)
        if min(min(pair) for pair in self.padding) < 0:
            raise ValueError(f"padding must be non-negative, got {padding}.")

    def build(self, input_shape):
        for size, (before, after), axis in zip(input_shape[1:3], self.padding, ("height", "width")):
            if size is not None and max(before, after) >= size:
                raise ValueError(
                    f"ReflectionPadding2D cannot pad a {axis} of {size} by {max(before, after)}: reflection "
                    f"needs padding < {size}. Use fewer downsamplings or larger images."
                )
        self.built = True

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        (top, bottom), (left, right) = self.padding
        return (
            batch,
            None if height is None else height + top + bottom,
            None if width is None else width + left + right,
            channels,
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
