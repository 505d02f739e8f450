"""The VQ-VAE's encoder and decoder (van den Oord, Vinyals & Kavukcuoglu, 2017, Sec. 4.1).

"The encoder consists of 2 strided convolutional layers with stride 2 and
window size 4 x 4, followed by two residual 3 x 3 blocks (implemented as
ReLU, 3x3 conv, ReLU, 1x1 conv), all having 256 hidden units. The decoder
similarly has two residual 3 x 3 blocks, followed by two transposed
convolutions with stride 2 and window size 4 x 4." A 1x1 convolution maps the
encoder's features to the D channels of the code grid, as in the authors'
Sonnet implementation.
"""

from __future__ import annotations

import keras
from keras import layers


def _check(image_shape, num_downsamples):
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {tuple(image_shape)}.")
    factor = 2 ** int(num_downsamples)
    if image_shape[0] % factor or image_shape[1] % factor:
        raise ValueError(f"Height and width must be divisible by 2^num_downsamples = {factor} for the code "
                         f"grid to tile the image, got {tuple(image_shape)}.")


def _residual_stack(x, filters, num_blocks, prefix):
    """`num_blocks` x (x + conv1x1(ReLU(conv3x3(ReLU(x))))), then ReLU."""
    for index in range(num_blocks):
        y = layers.ReLU()(x)
        y = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{prefix}_res{index}_conv3")(y)
        y = layers.Conv2D(filters, 1, name=f"{prefix}_res{index}_conv1")(y)
        x = layers.Add(name=f"{prefix}_res{index}_add")([x, y])
    return layers.ReLU()(x)


def vqvae_encoder(image_shape, code_dim=64, *, filters=256, num_residual_blocks=2, num_downsamples=2,
                  name="encoder"):
    """Images `(B, H, W, C)` -> encodings z_e(x) `(B, H / 2^n, W / 2^n, code_dim)`, n = `num_downsamples`.

    Stride-2 4x4 convolutions with ReLU (the first with filters / 2 maps, as
    in the authors' code), a 3x3 convolution, the residual stack and the 1x1
    projection to `code_dim`. 28x28 images give a 7x7 code grid.
    """
    _check(image_shape, num_downsamples)
    images = keras.Input(shape=tuple(image_shape), name="images")
    x = images
    for index in range(int(num_downsamples)):
        width = filters // 2 if index < num_downsamples - 1 else filters
        x = layers.Conv2D(width, 4, strides=2, padding="same", activation="relu", name=f"down{index}")(x)
    x = layers.Conv2D(filters, 3, padding="same", name="conv")(x)
    x = _residual_stack(x, filters, int(num_residual_blocks), "encoder")
    encodings = layers.Conv2D(int(code_dim), 1, name="to_codes")(x)
    return keras.Model(images, encodings, name=name)


def vqvae_decoder(image_shape, code_dim=64, *, filters=256, num_residual_blocks=2, num_downsamples=2,
                  name="decoder"):
    """Codes `(B, H / 2^n, W / 2^n, code_dim)` -> images `(B, H, W, C)`, unbounded (the model clips).

    A 3x3 convolution, the residual stack and stride-2 4x4 transposed
    convolutions (ReLU between them), the last to the image's channels.
    """
    _check(image_shape, num_downsamples)
    height, width, channels = (int(d) for d in image_shape)
    factor = 2 ** int(num_downsamples)
    codes = keras.Input(shape=(height // factor, width // factor, int(code_dim)), name="codes")
    x = layers.Conv2D(filters, 3, padding="same", name="conv")(codes)
    x = _residual_stack(x, filters, int(num_residual_blocks), "decoder")
    for index in range(int(num_downsamples)):
        last = index == num_downsamples - 1
        x = layers.Conv2DTranspose(channels if last else filters // 2, 4, strides=2, padding="same",
                                   activation=None if last else "relu", name=f"up{index}")(x)
    return keras.Model(codes, x, name=name)
