"""Variational autoencoders (Kingma & Welling, 2014) and the conditional VAE
(Sohn, Lee & Yan, 2015).

The training step is the paper's Algorithm 1 with L = 1 sample per data point:
encode x into q(z|x) = N(mu, diag(sigma^2)), draw z = mu + sigma * eps with
the reparameterization trick, decode p(x|z), and ascend the ELBO

    L(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))

whose KL term is computed in closed form (Appendix B).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import losses, networks, previews, serving
from kerasgen.layers import Sampling
from kerasgen.models.base import GenerativeModel, sampler, split_batch
from kerasgen.models.registry import register

_LIKELIHOODS = ("bernoulli", "gaussian")


@register(
    "vae",
    family="vae",
    summary="reparameterization trick, closed-form KL, Bernoulli or Gaussian decoder, `beta`",
    paper="Kingma & Welling, 2014",
    small_config={"latent_dim": 4},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class VAE(GenerativeModel):
    """Variational autoencoder with a diagonal-Gaussian encoder and N(0, I) prior.

    Args:
        latent_dim: size of z (default 16).
        image_shape: `(H, W, C)` (default 28x28x1).
        encoder: optional Keras model `images [, labels] -> [z_mean, z_log_var]`.
        decoder: optional Keras model `z [, labels] -> (batch, H, W, C)`:
            logits for "bernoulli", means in `value_range` for "gaussian".
        likelihood: "bernoulli" (default; pixel intensities rescaled to
            [0, 1] are the targets, as for MNIST in the paper) or "gaussian"
            (fixed standard deviation `decoder_std` in image units).
        decoder_std: std of the Gaussian decoder (default 0.1).
        beta: weight of the KL term (1 gives the ELBO; beta-VAE otherwise).
        num_classes: condition encoder and decoder on labels (see
            `ConditionalVAE`).
        value_range, seed: see `GenerativeModel`.

    Reported by `fit` and `evaluate` (means over examples, nats per image):
    `loss` (the objective, reconstruction + beta * KL), `reconstruction_loss`
    (-log p(x|z)), `kl_loss` and `neg_elbo` (reconstruction + KL, the
    negative ELBO whatever beta is).
    """

    loss_names = ("loss", "reconstruction_loss", "kl_loss", "neg_elbo")

    def __init__(
        self,
        latent_dim=16,
        image_shape=(28, 28, 1),
        *,
        encoder=None,
        decoder=None,
        likelihood="bernoulli",
        decoder_std=0.1,
        beta=1.0,
        **kwargs,
    ):
        super().__init__(latent_dim, image_shape, **kwargs)
        if likelihood not in _LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}.")
        if float(decoder_std) <= 0 or float(beta) < 0:
            raise ValueError(f"decoder_std must be > 0 and beta >= 0, got {decoder_std} and {beta}.")
        self.likelihood = likelihood
        self.decoder_std = float(decoder_std)
        self.beta = float(beta)
        self.encoder = encoder or networks.conv_encoder(
            self.image_shape, self.latent_dim, num_classes=self.num_classes, probabilistic=True
        )
        self.decoder = decoder or networks.conv_decoder(
            self.latent_dim, self.image_shape, num_classes=self.num_classes
        )
        self.sampling = Sampling(name="sampling")
        self.built = True  # the networks own every weight and are built already

    # ------------------------------------------------------------ networks
    def _network_inputs(self, tensor, labels):
        return [tensor, labels] if self.num_classes else tensor

    def _encode(self, images, labels=None, training=False):
        # Casts keep the loss in float32 under a mixed-precision policy.
        z_mean, z_log_var = self.encoder(self._network_inputs(images, labels), training=training)
        return ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")

    def _decode(self, z, labels=None, training=False):
        return ops.cast(self.decoder(self._network_inputs(z, labels), training=training), "float32")

    def output_to_images(self, decoder_output):
        """Decoder output -> mean of p(x|z) as images in `value_range`.

        Gaussian means are clipped to the range; the loss uses them unclipped.
        """
        if self.likelihood == "bernoulli":
            return self.from_unit_interval(ops.sigmoid(decoder_output))
        return ops.clip(decoder_output, *self.value_range)

    def reconstruction_loss(self, images, decoder_output):
        """`(batch,)` -log p(x|z) in nats."""
        if self.likelihood == "bernoulli":
            return losses.bernoulli_negative_log_likelihood(self.to_unit_interval(images), decoder_output)
        return losses.gaussian_negative_log_likelihood(images, decoder_output, self.decoder_std)

    # ------------------------------------------------------------ algorithm
    def compute_terms(self, images, labels=None, training=False):
        """One-sample ELBO terms for a batch: returns a dict of scalar means."""
        z_mean, z_log_var = self._encode(images, labels, training=training)
        z = self.sampling([z_mean, z_log_var], seed=self.seed_generator)
        decoder_output = self._decode(z, labels, training=training)
        reconstruction = ops.mean(self.reconstruction_loss(images, decoder_output))
        kl = ops.mean(losses.kl_divergence_standard_normal(z_mean, z_log_var))
        return {
            "loss": reconstruction + self.beta * kl,
            "reconstruction_loss": reconstruction,
            "kl_loss": kl,
            "neg_elbo": reconstruction + kl,
        }

    def train_step(self, data):
        images, labels = split_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, labels, training=True)
        self.apply_gradients(tape, terms["loss"], self.trainable_variables)
        return self.record(**terms)

    def test_step(self, data):
        images, labels = split_batch(data)
        return self.record(**self.compute_terms(images, labels, training=False))

    # --------------------------------------------------------- public API
    def call(self, inputs, training=False):
        """Reconstruction: decodes the posterior mean (a sample when training)."""
        if self.num_classes and not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} is called on [images, labels], got a single tensor.")
        images, labels = inputs if self.num_classes else (inputs, None)
        z_mean, z_log_var = self._encode(images, labels, training=training)
        z = self.sampling([z_mean, z_log_var], seed=self.seed_generator) if training else z_mean
        return self.output_to_images(self._decode(z, labels, training=training))

    def encode(self, images, labels=None):
        """Images `(batch, H, W, C)` in `value_range` -> `(z_mean, z_log_var)`."""
        return self._encode(ops.convert_to_tensor(images, "float32"), self._labels(labels, images))

    def decode(self, z, labels=None):
        """Codes `(batch, latent_dim)` -> mean images in `value_range`."""
        return self.output_to_images(self._decode(ops.convert_to_tensor(z, "float32"), self._labels(labels, z)))

    def reconstruct(self, images, labels=None):
        """Images -> decoded posterior means, in `value_range`."""
        z_mean, _ = self.encode(images, labels)
        return self.decode(z_mean, labels)

    @sampler
    def generate(self, num_samples, labels=None, seed=None):
        """Decodes `num_samples` prior draws z ~ N(0, I) into images in `value_range`.

        `seed=None` advances the model's SeedGenerator; an int is reproducible.
        Conditional models take `labels` `(num_samples,)` (default 0, 1, 2, ...).
        """
        z = self.sample_latents(num_samples, seed)
        return self.output_to_images(self._decode(z, self._labels(labels, num_samples)))

    # ------------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`serving_default(z[, labels])` = `decode` (prior draws into the means of p(x|z)),
        `encode(images[, labels]) -> {z_mean, z_log_var}`, `reconstruct(images[, labels])` (decodes z_mean)."""
        labels = (serving.labels_input(self.num_classes),) if self.num_classes else ()
        images = (serving.images_input(self.image_shape, self.value_range), *labels)
        z = (serving.latent_input(self.latent_dim), *labels)

        def encode(images, labels=None):
            z_mean, z_log_var = self.encode(images, labels)
            return serving.float_outputs(z_mean=z_mean, z_log_var=z_log_var)

        decode = serving.Endpoint(z, lambda z, labels=None: serving.image_outputs(self, self.decode(z, labels)))
        return {
            "serving_default": decode,
            "encode": serving.Endpoint(images, encode),
            "decode": decode,
            "reconstruct": serving.Endpoint(
                images, lambda images, labels=None: serving.image_outputs(self, self.reconstruct(images, labels))),
        }

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples, reconstructions of `images`, and for a 2-D latent space its scatter and manifold
        (Kingma & Welling's Fig. 4; conditional manifolds decode class 0)."""
        pictures = previews.samples(self, num_samples, seed)
        if images is None:
            return pictures
        conditional = self.num_classes is not None
        own_labels = labels if conditional else None
        pictures.update(previews.reconstructions(lambda x: self.reconstruct(x, None if own_labels is None else own_labels[: len(x)]), images))
        if self.latent_dim == 2:
            pictures.update(previews.latent_map(
                lambda x: self.encode(x, own_labels), lambda z: self.decode(z, [0] * len(z) if conditional else None),
                images, labels, options.get("manifold_size", 20)))
        return pictures

    def _labels(self, labels, batch):
        """int32 labels for `batch` (a count or a batch of inputs): checked, or 0, 1, 2, ... by default."""
        if not self.num_classes:
            return None
        if tf.is_tensor(labels) and not tf.executing_eagerly():
            return ops.cast(labels, "int32")  # traced (a serving signature): its graph checks them
        return ops.convert_to_tensor(self.default_labels(batch if isinstance(batch, int) else len(batch), labels))

    def get_config(self):
        config = super().get_config()
        config.update(
            likelihood=self.likelihood,
            decoder_std=self.decoder_std,
            beta=self.beta,
        )
        return config


@register(
    "cvae",
    family="vae",
    data="labelled_images",
    summary="VAE with the class label fed to encoder and decoder",
    paper="Sohn et al., 2015",
    small_config={"latent_dim": 4},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class ConditionalVAE(VAE):
    """VAE conditioned on class labels (Sohn et al., 2015): q(z|x, y), p(x|z, y).

    Train with `fit(images, labels)` or a dataset of `(images, labels)`;
    sample a class with `generate(n, labels=[...])`. `num_classes` defaults
    to 10 (Fashion-MNIST).
    """

    def __init__(self, latent_dim=16, image_shape=(28, 28, 1), *, num_classes=10, **kwargs):
        super().__init__(latent_dim, image_shape, num_classes=num_classes, **kwargs)
