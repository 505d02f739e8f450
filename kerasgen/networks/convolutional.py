"""Convolutional encoders and decoders for small images (28x28, 32x32, 64x64, ...).

Builders return functional `keras.Model`s, so they save, load and plug into
any kerasgen model. Spatial size is halved by stride-2 convolutions once per
entry of `filters`, so height and width must be divisible by 2**len(filters).
Conditional variants take integer class labels `(batch,)` as a second input
and one-hot encode them inside the network.
"""

from __future__ import annotations

import keras
from keras import layers


def _check_image_shape(image_shape, num_downsamples):
    if len(image_shape) != 3:
        raise ValueError(
            f"image_shape must be (height, width, channels), got {tuple(image_shape)}."
        )
    height, width, _ = image_shape
    factor = 2**num_downsamples
    if height % factor or width % factor:
        raise ValueError(
            f"image_shape {tuple(image_shape)} cannot be halved {num_downsamples} times: "
            f"height and width must be divisible by {factor}. Pass filters= with fewer "
            "entries or pad/resize the images."
        )


def label_inputs(num_classes):
    """An int `labels (batch,)` input and its one-hot encoding `(batch, num_classes)`."""
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    one_hot = layers.CategoryEncoding(num_classes, output_mode="one_hot", name="one_hot")(
        layers.Reshape((1,))(labels)
    )
    return labels, one_hot


def latent_inputs(latent_dim, num_classes=None):
    """Inputs of a generator or decoder and the tensor they feed: `(inputs, x)`.

    Unconditional: `z (batch, latent_dim)` is both. Conditional: inputs are
    `[z, labels]` and x is z with the one-hot label appended.
    """
    z = keras.Input(shape=(latent_dim,), name="z")
    if not num_classes:
        return z, z
    labels, one_hot = label_inputs(num_classes)
    return [z, labels], layers.Concatenate()([z, one_hot])


def conv_encoder(
    image_shape,
    latent_dim,
    *,
    num_classes=None,
    probabilistic=False,
    filters=(32, 64),
    hidden_units=256,
    name="encoder",
):
    """Strided-conv encoder: images -> latent codes.

    Args:
        image_shape: `(height, width, channels)`.
        latent_dim: size of the code.
        num_classes: if set, the encoder also takes `labels` (int, `(batch,)`).
        probabilistic: if True, outputs `[z_mean, z_log_var]` (for VAEs);
            otherwise a single code `z`.
        filters: channels of each stride-2 3x3 convolution.
        hidden_units: width of the dense layer before the code (0 to skip).

    Returns:
        A functional model mapping `images (batch, H, W, C)` (and `labels`) to
        `(batch, latent_dim)` (or a pair of them).
    """
    _check_image_shape(image_shape, len(filters))
    images = keras.Input(shape=tuple(image_shape), name="images")
    inputs = [images]
    x = images
    for i, width in enumerate(filters):
        x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(x)
    x = layers.Flatten()(x)
    if num_classes:
        labels, one_hot = label_inputs(num_classes)
        inputs.append(labels)
        x = layers.Concatenate()([x, one_hot])
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    if probabilistic:
        outputs = [
            layers.Dense(latent_dim, name="z_mean")(x),
            layers.Dense(latent_dim, name="z_log_var")(x),
        ]
    else:
        outputs = layers.Dense(latent_dim, name="z")(x)
    return keras.Model(inputs if num_classes else images, outputs, name=name)


def conv_decoder(
    latent_dim,
    image_shape,
    *,
    num_classes=None,
    filters=(64, 32),
    hidden_units=256,
    output_activation=None,
    name="decoder",
):
    """Transposed-conv decoder: latent codes -> images.

    Args:
        latent_dim: size of the input code.
        image_shape: `(height, width, channels)` of the output.
        num_classes: if set, the decoder also takes `labels` (int, `(batch,)`).
        filters: channels of each stride-2 transposed convolution, coarse to fine.
        hidden_units: width of the dense layer after the code (0 to skip).
        output_activation: activation of the last layer; None gives logits or
            unbounded means, which the owning model interprets.

    Returns:
        A functional model mapping `z (batch, latent_dim)` (and `labels`) to
        `(batch, H, W, C)`.
    """
    _check_image_shape(image_shape, len(filters))
    height, width, channels = image_shape
    factor = 2 ** len(filters)
    inputs, x = latent_inputs(latent_dim, num_classes)
    if hidden_units:
        x = layers.Dense(hidden_units, activation="relu", name="hidden")(x)
    x = layers.Dense((height // factor) * (width // factor) * filters[0], activation="relu")(x)
    x = layers.Reshape((height // factor, width // factor, filters[0]))(x)
    for i, width_i in enumerate(filters):
        x = layers.Conv2DTranspose(
            width_i, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}"
        )(x)
    outputs = layers.Conv2D(
        channels, 3, padding="same", activation=output_activation, name="output"
    )(x)
    return keras.Model(inputs, outputs, name=name)
