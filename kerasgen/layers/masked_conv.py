"""Masked convolutions for autoregressive image models (PixelCNN)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

MASK_TYPES = ("A", "B")


def channel_groups(num_features, image_channels):
    """Group of each of `num_features` feature maps: `i * image_channels // num_features`.

    Feature maps are split into `image_channels` contiguous groups; group g
    carries information about colour channel g of the current pixel (R, G, B
    for `image_channels=3`).
    """
    return np.arange(num_features) * image_channels // num_features


def causal_mask(kernel_size, in_features, out_features, mask_type="B", image_channels=1):
    """The `(kh, kw, in_features, out_features)` 0/1 mask of a PixelCNN convolution.

    van den Oord et al. (2016), "Pixel Recurrent Neural Networks", Section 3.4:
    a kernel tap is visible when it lies on a row above the centre, or on the
    centre row left of the centre. At the centre tap, input and output feature
    maps are split into `image_channels` contiguous groups (`channel_groups`)
    and output group g sees input groups < g (mask A, first layer) or <= g
    (mask B, later layers). With one image channel mask A hides the centre
    pixel and mask B shows it. The centre is at `((kh - 1) // 2, (kw - 1) // 2)`,
    the tap aligned with the output pixel under "same" padding.
    """
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
    kh, kw = kernel_size
    mask = np.zeros((kh, kw, in_features, out_features), dtype="float32")
    row, col = (kh - 1) // 2, (kw - 1) // 2
    mask[:row] = 1.0
    mask[row, :col] = 1.0
    in_groups = channel_groups(in_features, image_channels)[:, None]
    out_groups = channel_groups(out_features, image_channels)[None, :]
    visible = in_groups < out_groups if mask_type == "A" else in_groups <= out_groups
    mask[row, col] = visible.astype("float32")
    return mask


@keras.saving.register_keras_serializable(package="kerasgen")
class MaskedConv2D(keras.layers.Conv2D):
    """A `Conv2D` whose kernel is masked so each output only sees earlier pixels.

    van den Oord et al. (2016), "Pixel Recurrent Neural Networks", Section 3.4
    and Figure 4 (masks A and B); see `causal_mask` for the exact mask. The
    kernel W stays the trainable parameter; the forward pass convolves with
    `W * mask`, the mask being a constant built in `build`, so masked taps
    get zero gradient and never influence the output.

    Args:
        filters, kernel_size: as for `Conv2D`; kernel sizes must be odd
            (`(1, k)` kernels, as in the Gated PixelCNN's horizontal stack, too).
        mask_type: "A" (first layer: the current sub-pixel is hidden) or "B"
            (later layers: a feature map sees the current sub-pixel's features
            of its own channel group).
        image_channels: colour channels of the modelled image; feature maps of
            the current pixel are masked by channel group (R before G before B).
        **kwargs: other `Conv2D` arguments. Padding must be "same" (the default
            here) and strides 1, so that the kernel centre sits on the output
            pixel; data must be channels_last.
    """

    def __init__(self, filters, kernel_size, mask_type="B", image_channels=1, **kwargs):
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
        if int(image_channels) < 1:
            raise ValueError(f"image_channels must be a positive integer, got {image_channels}.")
        kwargs.setdefault("padding", "same")
        super().__init__(filters, kernel_size, **kwargs)
        if self.padding != "same" or tuple(self.strides) != (1, 1) or tuple(self.dilation_rate) != (1, 1):
            raise ValueError(
                "MaskedConv2D needs padding='same', strides=1 and dilation_rate=1 so each output "
                f"stays aligned with its pixel; got padding={self.padding!r}, strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}."
            )
        if self.data_format != "channels_last":
            raise ValueError("MaskedConv2D supports data_format='channels_last' only.")
        if self.groups != 1:
            raise ValueError(f"MaskedConv2D does not support groups; got groups={self.groups}.")
        if any(size % 2 == 0 for size in self.kernel_size):
            raise ValueError(f"MaskedConv2D needs odd kernel sizes (e.g. 3, 7 or (1, 3)), got {self.kernel_size}.")
        self.mask_type = mask_type
        self.image_channels = int(image_channels)
        self.kernel_mask = None

    def build(self, input_shape):
        super().build(input_shape)
        in_features = int(input_shape[-1])
        if min(in_features, self.filters) < self.image_channels:
            raise ValueError(
                f"MaskedConv2D with image_channels={self.image_channels} needs at least that many input "
                f"and output feature maps (one group per channel), got {in_features} -> {self.filters}."
            )
        # A NumPy constant: not a weight, so it is neither trained nor saved.
        self.kernel_mask = causal_mask(
            self.kernel_size, in_features, self.filters, self.mask_type, self.image_channels
        )

    def convolution_op(self, inputs, kernel):
        kernel = ops.cast(kernel, self.compute_dtype) * ops.convert_to_tensor(self.kernel_mask, self.compute_dtype)
        return super().convolution_op(inputs, kernel)

    def get_config(self):
        return {**super().get_config(), "mask_type": self.mask_type, "image_channels": self.image_channels}
