"""Networks for image-to-image translation: U-Net and ResNet generators, PatchGAN discriminators.

- `unet_generator`: pix2pix's generator (Isola et al., 2017, Sec. 3.2.1 and
  Appendix 6.1.1): an encoder of 4x4 stride-2 convolutions down to a 1x1
  bottleneck, a decoder of 4x4 stride-2 transposed convolutions, and skip
  connections joining encoder layer i to decoder layer n - i.
- `resnet_generator`: CycleGAN's generator (Zhu et al., 2017, Appendix 7.2,
  after Johnson et al., 2016): c7s1-64, d128, d256, R256 x n, u128, u64, c7s1-C.
- `patchgan_discriminator`: the 70x70 PatchGAN of both papers (Isola et al.,
  Sec. 3.2.2 and Appendix 6.1.2): C64-C128-C256-C512 then a 1-channel
  convolution, so it scores every overlapping patch of the image instead of
  the whole image. `patch_receptive_field` gives the patch size.

Widths follow the papers' `base_filters * min(2**i, 8)` (64, 128, 256, 512,
512, ... for the default 64). Kernels start from N(0, 0.02) as in both papers.
Generators map images in `value_range` to images in `value_range` (tanh,
rescaled); discriminators return one logit per patch, `(batch, h, w, 1)`.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from kerasgen.layers.padding import ReflectionPadding2D
from kerasgen.networks.adversarial import _batch_norm, _normalization, _to_value_range, papers_init as _init


def _width(base_filters, level):
    """Channels at `level`: base * min(2**level, 8) (64, 128, 256, 512, 512, ... for base 64)."""
    return int(base_filters) * min(2**level, 8)


def _check_shape(shape, what):
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{what} must be (height, width, channels), got {tuple(shape)}.")
    return tuple(int(d) for d in shape)


def _norm(x, kind, name):
    """Normalizes `x` by `kind` ("batch", "instance" or None; see `_normalization`).

    Batch norm is set up as in the authors' PyTorch code, the same as the DCGAN
    networks' (`adversarial._batch_norm`): momentum 0.9 (PyTorch's 0.1),
    epsilon 1e-5, gamma ~ N(1, 0.02), synchronized over replicas.
    """
    layer = _batch_norm(name) if kind == "batch" else _normalization(kind, name)
    return x if layer is None else layer(x)


def unet_generator(
    input_shape,
    output_channels=None,
    *,
    base_filters=64,
    depth=None,
    dropout_layers=3,
    dropout_rate=0.5,
    normalization="batch",
    value_range=(-1.0, 1.0),
    name="generator",
):
    """The pix2pix U-Net: images `(batch, H, W, C_in)` -> images `(batch, H, W, C_out)` in `value_range`.

    Encoder: `depth` blocks LeakyReLU(0.2) -> Conv 4x4 stride 2 -> norm (no
    activation before the first block, no norm on the first block, as in the
    paper, nor on the innermost, a 1x1 map, as in the authors' code). Decoder:
    ReLU -> ConvTranspose 4x4 stride 2 -> norm [-> Dropout] back up, each
    concatenated with the encoder output of the same size; the first
    `dropout_layers` decoder blocks use dropout (pix2pix's only source of
    noise z), then ReLU -> ConvTranspose to `output_channels` with tanh.

    Args:
        input_shape: `(H, W, C_in)`.
        output_channels: channels of the output (default C_in).
        base_filters: width of the first block (64 in the paper).
        depth: stride-2 blocks; default `ceil(log2(min(H, W)))`, down to a
            1x1 bottleneck as in the paper (8 for 256x256 images, 5 for 28x28).
            Images whose size is not a multiple of `2**depth` are reflection
            padded up to one (28 -> 32) and the output is cropped back.
        dropout_layers: decoder blocks with dropout (3 in the paper).
        dropout_rate: their rate (0.5).
        normalization: "batch" (pix2pix), "instance" or None.
        value_range: the images' `(low, high)`.
    """
    height, width, channels = _check_shape(input_shape, "input_shape")
    output_channels = int(output_channels or channels)
    depth = int(depth or math.ceil(math.log2(max(2, min(height, width)))))
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}.")
    multiple = 2**depth
    pad_h, pad_w = -height % multiple, -width % multiple
    padding = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))

    use_bias = normalization != "batch"  # as in the authors' code: batch norm's shift replaces biases
    images = keras.Input(shape=(height, width, channels), name="images")
    x = ReflectionPadding2D(padding, name="pad_to_multiple")(images) if pad_h or pad_w else images
    skips = []
    for level in range(depth):
        if level > 0:
            x = layers.LeakyReLU(0.2)(x)
        x = layers.Conv2D(
            _width(base_filters, level), 4, strides=2, padding="same", kernel_initializer=_init(),
            use_bias=use_bias, name=f"down_{level}",
        )(x)
        if 0 < level < depth - 1:
            x = _norm(x, normalization, f"down_{level}_norm")
        skips.append(x)
    for step, level in enumerate(reversed(range(depth - 1))):  # up to the size of skips[level]
        x = layers.ReLU()(x)
        x = layers.Conv2DTranspose(
            _width(base_filters, level), 4, strides=2, padding="same", kernel_initializer=_init(),
            use_bias=use_bias, name=f"up_{level}",
        )(x)
        x = _norm(x, normalization, f"up_{level}_norm")
        if step < dropout_layers:
            x = layers.Dropout(dropout_rate, name=f"up_{level}_dropout")(x)
        x = layers.Concatenate(name=f"skip_{level}")([skips[level], x])
    x = layers.ReLU()(x)
    x = layers.Conv2DTranspose(
        output_channels, 4, strides=2, padding="same", activation="tanh", kernel_initializer=_init(), name="to_image"
    )(x)
    if pad_h or pad_w:
        x = layers.Cropping2D(padding, name="crop")(x)
    return keras.Model(images, _to_value_range(x, value_range), name=name)


def resnet_generator(
    input_shape,
    output_channels=None,
    *,
    base_filters=64,
    num_blocks=None,
    num_downsamples=2,
    normalization="instance",
    value_range=(-1.0, 1.0),
    name="generator",
):
    """CycleGAN's ResNet generator: images `(batch, H, W, C_in)` -> `(batch, H, W, C_out)` in `value_range`.

    Zhu et al. (2017), Appendix 7.2: c7s1-64, d128, d256, R256 x `num_blocks`,
    u128, u64, c7s1-C_out, where c7s1-k is a 7x7 stride-1 Conv-Norm-ReLU, dk
    a 3x3 stride-2 Conv-Norm-ReLU, Rk a residual block of two 3x3 convolutions
    (Conv-Norm-ReLU-Conv-Norm plus the input) and uk a 3x3 stride-1/2
    transposed Conv-Norm-ReLU. Reflection padding before the 7x7 and residual
    convolutions; the last layer has tanh and no norm.

    Args:
        input_shape: `(H, W, C_in)`; H and W divisible by `2**num_downsamples`.
        output_channels: channels of the output (default C_in).
        base_filters: width of the first layer (64 in the paper).
        num_blocks: residual blocks; default 9 for images of 256 pixels or
            more, else 6 (the paper's choices for 256x256 and 128x128).
        num_downsamples: stride-2 layers (2 in the paper: 28 -> 14 -> 7).
        normalization: "instance" (the paper), "batch" or None.
        value_range: the images' `(low, high)`.
    """
    height, width, channels = _check_shape(input_shape, "input_shape")
    output_channels = int(output_channels or channels)
    num_blocks = int(num_blocks if num_blocks is not None else (9 if min(height, width) >= 256 else 6))
    factor = 2**num_downsamples
    if height % factor or width % factor:
        raise ValueError(
            f"input_shape {(height, width, channels)} cannot be halved {num_downsamples} times: height and "
            f"width must be divisible by {factor}. Pass num_downsamples= with a smaller value or resize the images."
        )
    use_bias = normalization != "batch"

    def conv_norm_relu(x, filters, kernel, name, strides=1, transpose=False, relu=True):
        conv = layers.Conv2DTranspose if transpose else layers.Conv2D
        padding = "valid" if strides == 1 else "same"  # stride-1 convolutions follow a reflection pad
        x = conv(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
                 kernel_initializer=_init(), name=name)(x)
        x = _norm(x, normalization, f"{name}_norm")
        return layers.ReLU()(x) if relu else x

    images = keras.Input(shape=(height, width, channels), name="images")
    x = ReflectionPadding2D(3, name="c7s1_pad")(images)
    x = conv_norm_relu(x, base_filters, 7, "c7s1")
    for level in range(1, num_downsamples + 1):
        x = conv_norm_relu(x, base_filters * 2**level, 3, f"d{level}", strides=2)
    filters = base_filters * factor
    for block in range(num_blocks):
        y = ReflectionPadding2D(1)(x)
        y = conv_norm_relu(y, filters, 3, f"r{block}_a")
        y = ReflectionPadding2D(1)(y)
        y = conv_norm_relu(y, filters, 3, f"r{block}_b", relu=False)
        x = layers.Add(name=f"r{block}")([x, y])
    for level in reversed(range(num_downsamples)):
        x = conv_norm_relu(x, base_filters * 2**level, 3, f"u{level}", strides=2, transpose=True)
    x = ReflectionPadding2D(3, name="to_image_pad")(x)
    x = layers.Conv2D(output_channels, 7, activation="tanh", kernel_initializer=_init(), name="to_image")(x)
    return keras.Model(images, _to_value_range(x, value_range), name=name)


def patch_receptive_field(num_downsamples=3):
    """Side in pixels of the image patch each PatchGAN score sees.

    Computed back from one output unit through the `num_downsamples` stride-2
    and the two stride-1 4x4 convolutions: r <- (r - 1) * stride + 4. This is
    70 for the default 3 (the paper's 70x70 PatchGAN), 16 for 1 and 286 for 5
    (Isola et al., Sec. 4.4).
    """
    field = 1
    for stride in [1, 1] + [2] * int(num_downsamples):
        field = (field - 1) * stride + 4
    return field


def patchgan_discriminator(
    image_shape,
    *,
    condition_shape=None,
    base_filters=64,
    num_downsamples=3,
    normalization="batch",
    name="discriminator",
):
    """PatchGAN: images [with their condition] -> one logit per patch, `(batch, H/2^n, W/2^n, 1)`.

    `num_downsamples` blocks of Conv 4x4 stride 2 -> norm -> LeakyReLU(0.2)
    (no norm on the first), one Conv 4x4 stride 1 -> norm -> LeakyReLU, then a
    1-channel Conv 4x4 stride 1. With the default 3 this is C64-C128-C256-C512
    of Isola et al. (Appendix 6.1.2), each score seeing a 70x70 patch
    (`patch_receptive_field`).

    Args:
        image_shape: `(H, W, C)` of the images judged.
        condition_shape: for a conditional discriminator (pix2pix, which
            judges (x, y) pairs), the shape of the condition x; the model then
            takes `[condition, images]` and concatenates them on the channels.
        base_filters: width of the first layer (64).
        num_downsamples: stride-2 layers (3 for 70x70 patches).
        normalization: "batch" (pix2pix), "instance" (CycleGAN) or None.
    """
    image_shape = _check_shape(image_shape, "image_shape")
    images = keras.Input(shape=image_shape, name="images")
    inputs, x = images, images
    if condition_shape is not None:
        condition_shape = _check_shape(condition_shape, "condition_shape")
        if condition_shape[:2] != image_shape[:2]:
            raise ValueError(
                f"condition_shape {condition_shape} and image_shape {image_shape} must have the same height and width."
            )
        condition = keras.Input(shape=condition_shape, name="condition")
        inputs, x = [condition, images], layers.Concatenate(name="pair")([condition, images])
    use_bias = normalization != "batch"
    for level in range(num_downsamples + 1):
        strides = 2 if level < num_downsamples else 1
        x = layers.Conv2D(
            _width(base_filters, level), 4, strides=strides, padding="same", kernel_initializer=_init(),
            use_bias=use_bias or level == 0, name=f"conv_{level}",
        )(x)
        if level > 0:
            x = _norm(x, normalization, f"conv_{level}_norm")
        x = layers.LeakyReLU(0.2)(x)
    scores = layers.Conv2D(1, 4, padding="same", kernel_initializer=_init(), name="patch_scores")(x)
    return keras.Model(inputs, scores, name=name)
