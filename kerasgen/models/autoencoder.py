"""Deterministic autoencoders: plain and denoising.

- `AutoEncoder`: x -> z = f(x) -> x_hat = g(z), trained to minimize a
  reconstruction loss (Hinton & Salakhutdinov, 2006).
- `DenoisingAutoEncoder`: corrupts x into x~ ~ q(x~|x) and trains g(f(x~)) to
  reconstruct the clean x (Vincent et al., 2008).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import losses, networks, previews, serving
from kerasgen.models.base import GenerativeModel, split_batch
from kerasgen.models.registry import register

_RECONSTRUCTIONS = ("mse", "bce")
_NOISES = ("masking", "gaussian")


@register(
    "ae",
    family="autoencoder",
    summary="conv encoder/decoder, MSE or cross-entropy reconstruction",
    paper="Hinton & Salakhutdinov, 2006",
    small_config={"latent_dim": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class AutoEncoder(GenerativeModel):
    """Convolutional autoencoder.

    Args:
        latent_dim: code size (default 32).
        image_shape: `(H, W, C)` of the images (default 28x28x1).
        encoder: optional Keras model `images -> z (batch, latent_dim)`.
        decoder: optional Keras model `z -> (batch, H, W, C)`: images in
            `value_range` for "mse", logits for "bce".
        reconstruction: "mse" (squared error on the images) or "bce" (binary
            cross-entropy on intensities rescaled to [0, 1]).
        value_range, seed: see `GenerativeModel`.

    `model(images)` and `predict(images)` return reconstructions in
    `value_range`; `fit(images)` trains; reported: `loss` (per-pixel mean).
    """

    def __init__(
        self,
        latent_dim=32,
        image_shape=(28, 28, 1),
        *,
        encoder=None,
        decoder=None,
        reconstruction="mse",
        **kwargs,
    ):
        super().__init__(latent_dim, image_shape, **kwargs)
        if reconstruction not in _RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {_RECONSTRUCTIONS}, got {reconstruction!r}.")
        self.reconstruction = reconstruction
        self.encoder = encoder or networks.conv_encoder(self.image_shape, self.latent_dim)
        self.decoder = decoder or networks.conv_decoder(self.latent_dim, self.image_shape)
        self.built = True  # the networks own every weight and are built already

    # The corruption hook: identity for a plain autoencoder.
    def corrupt(self, images, training=False):
        return images

    def reconstruction_loss(self, images, decoder_output):
        """`(batch,)` per-pixel mean reconstruction loss of clean `images`."""
        if self.reconstruction == "bce":
            return losses.binary_cross_entropy(self.to_unit_interval(images), decoder_output)
        return losses.mean_squared_error(images, decoder_output)

    def output_to_images(self, decoder_output):
        """Decoder output (logits for "bce") -> images in `value_range` (MSE outputs are clipped)."""
        if self.reconstruction == "bce":
            return self.from_unit_interval(ops.sigmoid(decoder_output))
        return ops.clip(decoder_output, *self.value_range)

    def decoder_output(self, images, training=False):
        """Raw decoder output for `images`, float32 even under a mixed-precision policy."""
        output = self.decoder(self.encoder(images, training=training), training=training)
        return ops.cast(output, "float32")

    def call(self, images, training=False):
        return self.output_to_images(self.decoder_output(images, training=training))

    def encode(self, images):
        """`(batch, H, W, C)` images in `value_range` -> `(batch, latent_dim)` codes."""
        return ops.cast(self.encoder(images, training=False), "float32")

    def decode(self, z):
        """`(batch, latent_dim)` codes -> images in `value_range`."""
        return self.output_to_images(ops.cast(self.decoder(z, training=False), "float32"))

    def reconstruct(self, images):
        """Images -> reconstructed images, both in `value_range` (no corruption)."""
        return self(images, training=False)

    def train_step(self, data):
        images, _ = split_batch(data)
        corrupted = self.corrupt(images, training=True)
        with tf.GradientTape() as tape:
            decoder_output = self.decoder_output(corrupted, training=True)
            loss = ops.mean(self.reconstruction_loss(images, decoder_output))
        self.apply_gradients(tape, loss, self.trainable_variables)
        return self.record(loss=loss)

    def test_step(self, data):
        images, _ = split_batch(data)
        decoder_output = self.decoder_output(images, training=False)
        return self.record(loss=ops.mean(self.reconstruction_loss(images, decoder_output)))

    # ------------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`encode(images) -> {z}`, `decode(z)`, `reconstruct(images) -> {images, images_uint8}`;
        `serving_default` is `reconstruct` (an autoencoder has no prior to sample)."""
        images = serving.images_input(self.image_shape, self.value_range)
        reconstruct = serving.Endpoint((images,), lambda images: serving.image_outputs(self, self.reconstruct(images)))
        return {
            "serving_default": reconstruct,
            "encode": serving.Endpoint((images,), lambda images: serving.float_outputs(z=self.encode(images))),
            "decode": serving.Endpoint((serving.latent_input(self.latent_dim),),
                                       lambda z: serving.image_outputs(self, self.decode(z))),
            "reconstruct": reconstruct,
        }

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Reconstructions of `images`; for a 2-D code also its scatter and decoded manifold."""
        pictures = previews.reconstructions(self.reconstruct, images)
        if self.latent_dim == 2:
            pictures.update(previews.latent_map(self.encode, self.decode, images, labels, options.get("manifold_size", 20)))
        return pictures

    def get_config(self):
        config = super().get_config()
        config.update(
            reconstruction=self.reconstruction,
        )
        return config


@register(
    "dae",
    family="autoencoder",
    summary="reconstructs clean inputs from masked (30% by default) or Gaussian-noised ones",
    paper="Vincent et al., 2008",
    small_config={"latent_dim": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class DenoisingAutoEncoder(AutoEncoder):
    """Autoencoder trained to undo input corruption (Vincent et al., 2008).

    Args:
        noise: "masking" sets each pixel independently, with probability
            `corruption`, to the low end of `value_range` (black), as in the
            paper's masking noise; "gaussian" adds N(0, (corruption * (high -
            low))^2) noise and clips to `value_range`.
        corruption: masking probability, or Gaussian std as a fraction of the
            value range. Default 0.3 (30% of pixels destroyed).
        Other arguments as for `AutoEncoder`.

    Corruption is applied in `train_step` only; `call`, `predict`,
    `evaluate` and `reconstruct` see clean inputs.
    """

    def __init__(self, latent_dim=32, image_shape=(28, 28, 1), *, noise="masking", corruption=0.3, **kwargs):
        super().__init__(latent_dim, image_shape, **kwargs)
        if noise not in _NOISES:
            raise ValueError(f"noise must be one of {_NOISES}, got {noise!r}.")
        if noise == "masking" and not 0.0 <= float(corruption) < 1.0:
            raise ValueError(f"corruption is a masking probability in [0, 1), got {corruption}.")
        if noise == "gaussian" and not 0.0 <= float(corruption) <= 1.0:
            raise ValueError(
                f"corruption is the Gaussian noise std as a fraction of the value range, in [0, 1]; got {corruption}."
            )
        self.noise = noise
        self.corruption = float(corruption)

    def corrupt(self, images, training=False):
        """Draws x~ ~ q(x~|x) when `training`, else returns `images` unchanged."""
        if not training or self.corruption == 0.0:
            return images
        low, high = self.value_range
        if self.noise == "masking":
            keep = keras.random.uniform(ops.shape(images), seed=self.seed_generator) >= self.corruption
            return ops.where(keep, images, ops.full_like(images, low))
        noise = keras.random.normal(ops.shape(images), stddev=self.corruption * (high - low), seed=self.seed_generator)
        return ops.clip(images + noise, low, high)

    def get_config(self):
        config = super().get_config()
        config.update(noise=self.noise, corruption=self.corruption)
        return config
