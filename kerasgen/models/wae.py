"""Wasserstein autoencoder with the MMD penalty, WAE-MMD (Tolstikhin, Bousquet,
Gelly & Schoelkopf, 2018, "Wasserstein Auto-Encoders", Algorithm 2).

A deterministic encoder Q(Z|X) and decoder G are trained to minimize

    1/n sum_i c(x_i, G(z~_i)) + lambda * MMD_k({z_1..z_n}, {z~_1..z~_n})

where z~_i = Q(x_i) are the codes of a minibatch and z_i ~ P_Z = N(0, I) are as
many prior draws. Unlike a VAE, each code is penalised only through the
*aggregate* posterior matching the prior, so codes of different images need not
overlap and reconstructions stay sharp. Samples decode prior draws.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import losses, previews
from kerasgen.models.autoencoder import AutoEncoder
from kerasgen.models.base import sampler, split_batch
from kerasgen.models.registry import register


@register(
    "wae",
    family="wae",
    summary="deterministic encoder, unbiased MMD (inverse multiquadratic kernel) to N(0, I), lambda = 10",
    paper="Tolstikhin et al., 2018",
    small_config={"latent_dim": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class WAE(AutoEncoder):
    """WAE-MMD with the paper's MNIST defaults: d_z = 8, lambda = 10, IMQ kernel.

    Args:
        latent_dim: d_z (default 8, the paper's MNIST setting).
        image_shape: `(H, W, C)` (default 28x28x1).
        encoder: optional Keras model `images -> z (batch, latent_dim)`
            (deterministic, as in the paper's experiments).
        decoder: optional Keras model `z -> images in value_range`.
        regularization_weight: lambda (default 10).
        kernel_scales: the IMQ kernel is summed over C = s * 2 * d_z for these
            s (default `losses.WAE_KERNEL_SCALES`, the paper's 0.1 ... 10).
        value_range, seed: see `GenerativeModel`.

    The cost is c(x, y) = ||x - y||^2 summed over pixels, measured on
    intensities rescaled to [0, 1] (the paper's MNIST pixel scale) whatever
    `value_range` is, so lambda = 10 weighs the penalty as in the paper.
    `compile()` with no optimizer uses the paper's Adam(1e-3, beta_1=0.5).

    Reported by `fit` and `evaluate`: `loss` (cost + lambda * MMD),
    `reconstruction_loss` (the mean cost) and `mmd` (the unbiased MMD^2
    estimate of the batch, which is noisy and can be slightly negative).
    `generate(n)` decodes prior draws z ~ N(0, I); `encode`, `decode` and
    `reconstruct` work as for `AutoEncoder`.
    """

    loss_names = ("loss", "reconstruction_loss", "mmd")

    def __init__(
        self,
        latent_dim=8,
        image_shape=(28, 28, 1),
        *,
        regularization_weight=10.0,
        kernel_scales=losses.WAE_KERNEL_SCALES,
        **kwargs,
    ):
        kwargs.pop("reconstruction", None)  # the cost is fixed by the paper (squared L2)
        super().__init__(latent_dim, image_shape, reconstruction="mse", **kwargs)
        if float(regularization_weight) < 0:
            raise ValueError(f"regularization_weight (lambda) must be >= 0, got {regularization_weight}.")
        if not kernel_scales or min(float(s) for s in kernel_scales) <= 0:
            raise ValueError(f"kernel_scales must be positive numbers, got {kernel_scales}.")
        self.regularization_weight = float(regularization_weight)
        self.kernel_scales = tuple(float(s) for s in kernel_scales)

    def compile(self, optimizer=None, **kwargs):
        """`compile()` with no optimizer uses Adam(1e-3, beta_1=0.5) (the paper's Section 4)."""
        super().compile(optimizer=optimizer or keras.optimizers.Adam(1e-3, beta_1=0.5), **kwargs)

    def compute_terms(self, images, training=False):
        """Algorithm 2, lines 2-5, for one minibatch: returns a dict of scalars."""
        codes = ops.cast(self.encoder(images, training=training), "float32")  # z~_i = Q(x_i)
        prior = self.sample_latents(ops.shape(images)[0])  # z_i ~ P_Z
        decoded = ops.cast(self.decoder(codes, training=training), "float32")
        cost = ops.mean(ops.sum(
            ops.reshape(ops.square(self.to_unit_interval(images) - self.to_unit_interval(decoded)),
                        (ops.shape(images)[0], -1)), axis=-1))
        mmd = losses.mmd_penalty(codes, prior, scales=self.kernel_scales)
        return {"loss": cost + self.regularization_weight * mmd, "reconstruction_loss": cost, "mmd": mmd}

    def train_step(self, data):
        images, _ = split_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, training=True)
        self.apply_gradients(tape, terms["loss"], self.trainable_variables)  # line 6: update Q and G
        return self.record(**terms)

    def test_step(self, data):
        images, _ = split_batch(data)
        return self.record(**self.compute_terms(images, training=False))

    @sampler
    def generate(self, num_samples, labels=None, seed=None):
        """Decodes `num_samples` prior draws z ~ N(0, I) into images in `value_range`.

        `seed=None` advances the model's SeedGenerator; an int is reproducible.
        """
        return self.decode(self.sample_latents(num_samples, seed))

    def serving_endpoints(self):
        """The autoencoder's `encode`, `decode`, `reconstruct`, with `serving_default` = `decode` of prior draws."""
        endpoints = super().serving_endpoints()
        return {"serving_default": endpoints["decode"], **{k: v for k, v in endpoints.items() if k != "serving_default"}}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples, then the autoencoder's reconstructions (and 2-D latent map)."""
        return {**previews.samples(self, num_samples, seed), **super().previews(images, labels, **options)}

    def get_config(self):
        config = super().get_config()
        config.pop("reconstruction", None)
        config.update(regularization_weight=self.regularization_weight, kernel_scales=self.kernel_scales)
        return config
