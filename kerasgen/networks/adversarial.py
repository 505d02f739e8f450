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

`sngan_discriminator` is the "standard CNN" of Miyato et al. (2018), Table 3(b).
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


def papers_init():
    """N(0, 0.02), a fresh (differently seeded) initializer per layer.

    Radford et al. (2016), Sec. 4: "All weights were initialized from a
    zero-centered Normal distribution with standard deviation 0.02". The
    WGAN and pix2pix/CycleGAN authors' code keeps it.
    """
    return keras.initializers.RandomNormal(0.0, 0.02)


#: Batch-norm moving-average momentum: Torch's 0.1 (the DCGAN authors' code), i.e.
#: Keras's 0.9. Keras's default 0.99 averages over ~100 steps and lags far behind the
#: weights in runs of a few thousand steps, so `generate` (inference mode) would trail
#: training.
BATCH_NORM_MOMENTUM = 0.9


def _batch_norm(name):
    """Batch norm as in the DCGAN authors' Torch code: momentum 0.9 (Torch's 0.1),
    epsilon 1e-5, gamma ~ N(1, 0.02), beta = 0.

    Synchronized: under a tf.distribute strategy, batch statistics (and so the
    moving averages) are computed over the global batch, identical on every
    replica, as on one device; without a strategy it is plain batch norm.
    """
    return layers.BatchNormalization(
        momentum=BATCH_NORM_MOMENTUM, epsilon=1e-5, gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
        synchronized=True, name=name,
    )


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


def image_inputs(image_shape, num_classes=None):
    """A discriminator's inputs and the tensor its first layer reads: `(inputs, x)`.

    Unconditional: `images (batch, H, W, C)` is both. Conditional: inputs are
    `[images, labels]` and x is the images with one one-hot label map per
    class appended to the channels (Mirza & Osindero, 2014).
    """
    images = keras.Input(shape=tuple(image_shape), name="images")
    if not num_classes:
        return images, images
    labels, one_hot = label_inputs(num_classes)
    label_maps = layers.UpSampling2D(size=tuple(image_shape[:2]))(layers.Reshape((1, 1, num_classes))(one_hot))
    return [images, labels], layers.Concatenate()([images, label_maps])


def dcgan_generator(latent_dim, image_shape, *, num_classes=None, base_filters=64, value_range=(-1.0, 1.0),
                    kernel_initializer=None, name="generator"):
    """DCGAN generator: z `(batch, latent_dim)` [, labels] -> images `(batch, H, W, C)` in `value_range`.

    Project z to a `base x base x (base_filters * 2**(n-1))` map, then n
    stride-2 5x5 transposed convolutions, halving the channels each time; the
    last one produces C channels with tanh. `kernel_initializer`: None for
    the paper's N(0, 0.02) (`papers_init`), or any Keras initializer.
    """
    def init():
        return papers_init() if kernel_initializer is None else keras.initializers.get(kernel_initializer)

    (base_h, base_w), steps = base_resolution(image_shape)
    inputs, x = latent_inputs(latent_dim, num_classes)
    filters = base_filters * 2 ** (steps - 1)
    x = layers.Dense(base_h * base_w * filters, use_bias=False, kernel_initializer=init(), name="project")(x)
    x = layers.Reshape((base_h, base_w, filters))(x)
    x = layers.ReLU()(_batch_norm("project_bn")(x))
    for i in range(steps - 1):
        filters //= 2
        x = layers.Conv2DTranspose(
            filters, 5, strides=2, padding="same", use_bias=False, kernel_initializer=init(), name=f"up_{i}"
        )(x)
        x = layers.ReLU()(_batch_norm(f"up_{i}_bn")(x))
    x = layers.Conv2DTranspose(
        image_shape[-1], 5, strides=2, padding="same", activation="tanh", kernel_initializer=init(), name="to_image"
    )(x)
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
    inputs, x = image_inputs(image_shape, num_classes)
    filters = base_filters
    for i in range(steps):
        conv = layers.Conv2D(filters, 5, strides=2, padding="same", kernel_initializer=papers_init(), name=f"down_{i}")
        x = _maybe_spectral(conv, spectral_norm)(x)
        norm = _normalization(normalization, f"down_{i}_norm") if i > 0 else None
        if norm is not None:
            x = norm(x)
        x = layers.LeakyReLU(0.2)(x)
        filters *= 2
    x = layers.Flatten()(x)
    scores = _maybe_spectral(layers.Dense(1, kernel_initializer=papers_init(), name="score"), spectral_norm)(x)
    return keras.Model(inputs, scores, name=name)


#: Miyato et al. (2018), Table 3(b), the "standard CNN" discriminator for 32x32 images:
#: (kernel, stride, channels as a multiple of base_filters) per convolution.
STANDARD_CNN_LAYERS = ((3, 1, 1), (4, 2, 1), (3, 1, 2), (4, 2, 2), (3, 1, 4), (4, 2, 4), (3, 1, 8))


def sngan_discriminator(image_shape, *, num_classes=None, base_filters=64, spectral_norm=True, name="discriminator"):
    """Miyato et al.'s (2018) standard CNN: images [, labels] -> scores `(batch, 1)`.

    Table 3(b): 3x3 stride-1 conv 64, 4x4 stride-2 conv 64, 3x3 conv 128,
    4x4 stride-2 conv 128, 3x3 conv 256, 4x4 stride-2 conv 256, 3x3 conv 512,
    each followed by LeakyReLU(0.1), then a linear unit; no normalization
    layers, every conv/dense layer spectrally normalized. Widths scale with
    `base_filters` (64 = the paper's). Three stride-2 convolutions take
    32x32 to 4x4 (the paper's M = 4) and 28x28 to 4x4 ("same" padding).
    Kernels start from Keras's Glorot uniform: spectral normalization divides
    each kernel by its largest singular value, so the initial scale does not
    reach the output. Conditional: one-hot label maps appended to the image
    channels, as in `dcgan_discriminator`.
    """
    if len(image_shape) != 3 or min(image_shape[0], image_shape[1]) < 8:
        raise ValueError(
            f"sngan_discriminator needs (height, width, channels) images of at least 8x8, got {tuple(image_shape)}."
        )
    inputs, x = image_inputs(image_shape, num_classes)
    for i, (kernel, stride, multiple) in enumerate(STANDARD_CNN_LAYERS):
        conv = layers.Conv2D(base_filters * multiple, kernel, strides=stride, padding="same", name=f"conv_{i}")
        x = layers.LeakyReLU(0.1)(_maybe_spectral(conv, spectral_norm)(x))
    x = layers.Flatten()(x)
    scores = _maybe_spectral(layers.Dense(1, name="score"), spectral_norm)(x)
    return keras.Model(inputs, scores, name=name)


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
