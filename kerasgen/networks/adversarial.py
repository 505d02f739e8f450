"""Generators and discriminators: DCGAN convolutional nets and small MLPs.

DCGAN nets follow Radford et al. (2016), "Unsupervised Representation Learning
with Deep Convolutional GANs", Section 3: strided convolutions instead of
pooling, batch normalization in both networks (not on the generator output or
the discriminator input), no fully connected hidden layers, ReLU in the
generator with tanh at the output, LeakyReLU(0.2) in the discriminator.
They work for 28x28 (7 -> 14 -> 28), 32x32 (4 -> 8 -> 16 -> 32) and 64x64
(4 -> ... -> 64) images, and any size that halves down to a small base.

Generators output images in `value_range` (tanh rescaled); discriminators output
one unbounded score per image (a logit for the cross-entropy losses).
Conditional variants take int labels `(batch,)` as a second input: the generator
concatenates a one-hot label to z, the discriminator appends one-hot label maps
to the image channels (Mirza & Osindero, 2014).
"""

from __future__ import annotations

import keras
from keras import layers

from kerasgen.networks.convolutional import label_inputs, latent_inputs


def base_resolution(image_shape):
    """(base size, number of 2x upsamplings): halve H while even and >= 8."""
    height, width = image_shape[0], image_shape[1]
    steps = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) >= 8:
        height, width, steps = height // 2, width // 2, steps + 1
    if steps == 0:
        raise ValueError(
            f"image_shape {tuple(image_shape)} cannot be built by 2x upsampling from a small base; "
            "use even sizes such as 28, 32 or 64, or pass your own generator/discriminator."
        )
    return (height, width), steps


def _to_value_range(x, value_range):
    low, high = value_range
    if (low, high) == (-1.0, 1.0):
        return x
    return layers.Rescaling(scale=(high - low) / 2.0, offset=(high + low) / 2.0, name="to_value_range")(x)


def _batch_norm(name):
    # synchronized: under a tf.distribute strategy, batch statistics (and so the
    # moving averages) are computed over the global batch, identical on every
    # replica, as on one device; without a strategy it is plain batch norm.
    return layers.BatchNormalization(synchronized=True, name=name)


def _normalization(kind, name):
    """A normalization layer by name, or None for `kind=None`.

    "batch": (synchronized) batch norm; "layer": layer norm over H, W, C;
    "instance": instance norm, each image's channels normalized over H, W
    with no learned scale or shift (Ulyanov et al., 2016; CycleGAN's choice).
    """
    if kind == "batch":
        return _batch_norm(name)
    if kind == "layer":
        return layers.LayerNormalization(axis=(1, 2, 3), name=name)
    if kind == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False, name=name)
    if kind is None:
        return None
    raise ValueError(f"normalization must be 'batch', 'layer', 'instance' or None, got {kind!r}.")


def _maybe_spectral(layer, spectral_norm):
    if not spectral_norm:
        return layer
    from kerasgen.layers import SpectralNormalization

    return SpectralNormalization(layer, name=f"sn_{layer.name}")


def dcgan_generator(latent_dim, image_shape, *, num_classes=None, base_filters=64, value_range=(-1.0, 1.0), name="generator"):
    """DCGAN generator: z `(batch, latent_dim)` [, labels] -> images `(batch, H, W, C)` in `value_range`.

    Project z to a `base x base x (base_filters * 2**(n-1))` map, then n
    stride-2 5x5 transposed convolutions, halving the channels each time; the
    last one produces C channels with tanh.
    """
    (base_h, base_w), steps = base_resolution(image_shape)
    inputs, x = latent_inputs(latent_dim, num_classes)
    filters = base_filters * 2 ** (steps - 1)
    x = layers.Dense(base_h * base_w * filters, use_bias=False, name="project")(x)
    x = layers.Reshape((base_h, base_w, filters))(x)
    x = layers.ReLU()(_batch_norm("project_bn")(x))
    for i in range(steps - 1):
        filters //= 2
        x = layers.Conv2DTranspose(filters, 5, strides=2, padding="same", use_bias=False, name=f"up_{i}")(x)
        x = layers.ReLU()(_batch_norm(f"up_{i}_bn")(x))
    x = layers.Conv2DTranspose(image_shape[-1], 5, strides=2, padding="same", activation="tanh", name="to_image")(x)
    return keras.Model(inputs, _to_value_range(x, value_range), name=name)


def dcgan_discriminator(image_shape, *, num_classes=None, base_filters=64, normalization="batch", spectral_norm=False, name="discriminator"):
    """DCGAN discriminator: images [, labels] -> scores `(batch, 1)`.

    n stride-2 5x5 convolutions with LeakyReLU(0.2), doubling the channels,
    normalization on all but the first, then a linear unit.

    Args:
        normalization: "batch" (DCGAN, WGAN), "layer" (WGAN-GP: batch norm
            would make each score depend on the whole batch, which the
            per-example gradient penalty forbids) or None (SNGAN).
        spectral_norm: wrap every conv/dense layer in
            `kerasgen.layers.SpectralNormalization` (Miyato et al., 2018).
    """
    _, steps = base_resolution(image_shape)
    images = keras.Input(shape=tuple(image_shape), name="images")
    inputs, x = [images], images
    if num_classes:
        labels, one_hot = label_inputs(num_classes)
        inputs.append(labels)
        label_maps = layers.UpSampling2D(size=tuple(image_shape[:2]))(layers.Reshape((1, 1, num_classes))(one_hot))
        x = layers.Concatenate()([images, label_maps])
    filters = base_filters
    for i in range(steps):
        x = _maybe_spectral(layers.Conv2D(filters, 5, strides=2, padding="same", name=f"down_{i}"), spectral_norm)(x)
        norm = _normalization(normalization, f"down_{i}_norm") if i > 0 else None
        if norm is not None:
            x = norm(x)
        x = layers.LeakyReLU(0.2)(x)
        filters *= 2
    x = layers.Flatten()(x)
    scores = _maybe_spectral(layers.Dense(1, name="score"), spectral_norm)(x)
    return keras.Model(inputs if num_classes else images, scores, name=name)


def mlp_generator(latent_dim, image_shape, *, num_classes=None, hidden_units=(256, 256), value_range=(-1.0, 1.0), name="generator"):
    """MLP generator (as in Goodfellow et al., 2014, with LeakyReLU units): z -> images in `value_range`."""
    inputs, x = latent_inputs(latent_dim, num_classes)
    for i, units in enumerate(hidden_units):
        x = layers.LeakyReLU(0.2)(layers.Dense(units, name=f"hidden_{i}")(x))
    size = 1
    for dim in image_shape:
        size *= dim
    x = layers.Dense(size, activation="tanh", name="to_image")(x)
    x = layers.Reshape(tuple(image_shape))(x)
    return keras.Model(inputs, _to_value_range(x, value_range), name=name)


def mlp_discriminator(image_shape, *, num_classes=None, hidden_units=(256, 256), spectral_norm=False, name="discriminator"):
    """MLP discriminator: images [, labels] -> scores `(batch, 1)`."""
    images = keras.Input(shape=tuple(image_shape), name="images")
    inputs, x = [images], layers.Flatten()(images)
    if num_classes:
        labels, one_hot = label_inputs(num_classes)
        inputs.append(labels)
        x = layers.Concatenate()([x, one_hot])
    for i, units in enumerate(hidden_units):
        x = layers.LeakyReLU(0.2)(_maybe_spectral(layers.Dense(units, name=f"hidden_{i}"), spectral_norm)(x))
    scores = _maybe_spectral(layers.Dense(1, name="score"), spectral_norm)(x)
    return keras.Model(inputs if num_classes else images, scores, name=name)
