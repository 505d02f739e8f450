"""RealNVP (Dinh, Sohl-Dickstein & Bengio, 2017, "Density estimation using Real NVP").

A normalizing flow: an invertible map f with a tractable Jacobian turns a
standard normal prior p_Z into an exact density of the data (eq. 3):

    log p_X(x) = log p_Z(f(x)) + log |det(df(x) / dx^T)|.

8-bit images are dequantized with uniform noise, v = k + u, u ~ U[0, 1)^D,
and mapped to logit space, y = logit(alpha + (1 - 2 alpha) v / 256) with
alpha = 0.05 (Sec. 4.1), whose Jacobian enters log p, so the reported
bits/dim are those of v on [0, 256)^D: a bound on the 8-bit images'
discrete bits/dim, comparable with PixelCNN's. `RealNVP.train_step`
maximizes it by stochastic gradient ascent.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from kerasgen import losses, previews, serving
from kerasgen.models.base import GenerativeModel, sampler, split_batch, values_at_hand
from kerasgen.models.registry import register
from kerasgen.networks.flows import realnvp_flow

#: The 8-bit images' intensity levels.
LEVELS = 256


@register(
    "realnvp",
    family="flow",
    summary="affine couplings (checkerboard and channel masks), squeeze, multi-scale factor-out, batch-norm bijectors, dequantized logit inputs; exact log-likelihood in bits/dim",
    paper="Dinh et al., 2017",
    small_config={"num_scales": 2, "filters": 8, "num_blocks": 0},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class RealNVP(GenerativeModel):
    """RealNVP: exact-likelihood generative model by change of variables.

    Args:
        image_shape: `(H, W, C)`, H and W divisible by 2^(num_scales - 1).
        num_scales, filters, num_blocks: the multi-scale flow
            (`kerasgen.networks.realnvp_flow`). Defaults are the paper's
            CIFAR-10 network: 2 scales (it downscales once), conditioners of 8
            residual blocks with 64 feature maps.
        alpha: the logit transform's margin (the paper's 0.05).
        flow: optional bijector with `forward(x, training) -> (z, log_det)`
            and `inverse(z)` on logit-space images (overrides the three above).
        value_range, seed: see `GenerativeModel`. Images are 8-bit data in
            `value_range`: level k at low + (high - low) k / 255.

    Reported by `fit` and `evaluate`: `loss`, -log p(v) per image in nats with
    fresh dequantization noise, and `bits_per_dim`, loss / (D ln 2).

    Training follows the paper's Sec. 4.1 with Adam at its default settings
    and batches of 64. kerasgen deviates in one respect: the conditioners use
    batch normalization but not weight normalization, so there are no weight
    scales to regularize with the paper's L2 term (5e-5).
    """

    loss_names = ("loss", "bits_per_dim")
    NETWORKS = ("flow",)
    default_batch_size = 64

    def __init__(self, image_shape=(28, 28, 1), *, num_scales=2, filters=64, num_blocks=8, alpha=0.05, flow=None,
                 **kwargs):
        if kwargs.pop("latent_dim", None) is not None:
            raise ValueError("RealNVP's latent has the image's shape: do not pass latent_dim.")
        super().__init__(None, image_shape, **kwargs)
        if not 0.0 <= float(alpha) < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5), got {alpha}.")
        self.num_scales, self.filters, self.num_blocks = int(num_scales), int(filters), int(num_blocks)
        self.alpha = float(alpha)
        self.flow = flow or realnvp_flow(self.image_shape, self.num_scales, self.filters, self.num_blocks)
        self.built = True

    # ------------------------------------------------------------ the bijection
    def _to_logits(self, images):
        """Images in `value_range` -> (y = logit(alpha + (1 - 2 alpha) u), log |dy/dimages| `(B,)`),
        u = (images - low) / (high - low). The symmetric margin keeps u = 0 and u = 1 finite."""
        low, high = self.value_range
        p = self.alpha + (1.0 - 2.0 * self.alpha) * self.to_unit_interval(ops.cast(images, "float32"))
        y = ops.log(p) - ops.log1p(-p)
        per_dim = math.log((1.0 - 2.0 * self.alpha) / (high - low)) - ops.log(p) - ops.log1p(-p)
        return y, ops.sum(ops.reshape(per_dim, (ops.shape(y)[0], -1)), axis=1)

    def _from_logits(self, y):
        u = (ops.sigmoid(ops.cast(y, "float32")) - self.alpha) / (1.0 - 2.0 * self.alpha)
        return self.from_unit_interval(ops.clip(u, 0.0, 1.0))

    def forward(self, images, training=False):
        """Continuous images `(B, H, W, C)` in `value_range` -> (z `(B, H, W, C)`, log_det `(B,)`).

        log_det = log |det dz/dimages|: the logit transform's and the flow's.
        """
        y, log_det = self._to_logits(images)
        z, flow_log_det = self.flow.forward(y, training=training)
        return z, log_det + flow_log_det

    def inverse(self, z):
        """Latents `(B, H, W, C)` -> continuous float32 images in `value_range` (clipped to it)."""
        return self._from_logits(self.flow.inverse(z))

    def call(self, images, training=False):
        """Images -> z, the flow's forward map (see `forward`)."""
        return self.forward(images, training=training)[0]

    # --------------------------------------------------------------- likelihood
    def dequantize(self, images, noise):
        """8-bit images in `value_range` and noise `(B, H, W, C)` in [0, 1) -> continuous images.

        Level k = round(255 u) of each sub-pixel becomes v = k + noise in [k, k + 1), returned on the
        images' scale as low + (high - low) v / 256, in [low, high).
        """
        levels = ops.round(ops.clip(self.to_unit_interval(ops.cast(images, "float32")), 0.0, 1.0) * (LEVELS - 1))
        return self.from_unit_interval((levels + ops.cast(noise, "float32")) / LEVELS)

    def negative_log_likelihood(self, images, noise, training=False):
        """`(B,)` -log p(v) in nats, v = k + noise on [0, 256)^D (see `dequantize`)."""
        low, high = self.value_range
        z, log_det = self.forward(self.dequantize(images, noise), training=training)
        # d(images) / dv = (high - low) / 256 per dimension
        prior = -losses.gaussian_negative_log_likelihood(z, ops.zeros_like(z), 1.0)  # log N(z; 0, I)
        log_p = prior + log_det + self.num_dims * math.log((high - low) / LEVELS)
        return -log_p

    def log_prob(self, images):
        """`(B,)` float32 log p(v) in nats of 8-bit `images` (in `value_range`) dequantized to the centre
        of their cells, v = k + 1/2: deterministic, so a served model returns the live model's values.
        (`evaluate` averages over uniform noise instead, the paper's estimate.)"""
        images, values = values_at_hand(images)
        self.check_images(images.shape, images.dtype, values)
        images = ops.convert_to_tensor(images, "float32")
        return -self.negative_log_likelihood(images, ops.full(ops.shape(images), 0.5))

    def bits_per_dim(self, images):
        """`(B,)` float32 -log2 p(v) / (H * W * C) (see `log_prob`)."""
        return self.to_bits_per_dim(-self.log_prob(images))

    def _terms(self, images, training):
        images = ops.cast(images, "float32")
        noise = keras.random.uniform(ops.shape(images), seed=self.seed_generator)
        loss = ops.mean(self.negative_log_likelihood(images, noise, training=training))
        return {"loss": loss, "bits_per_dim": self.to_bits_per_dim(loss)}

    def train_step(self, data):
        """Maximum likelihood: one gradient step on the mean -log p(k + u) over the batch, u ~ U[0, 1)^D."""
        images, _ = split_batch(data)
        with tf.GradientTape() as tape:
            terms = self._terms(images, training=True)
        self.apply_gradients(tape, terms["loss"], self.trainable_variables)
        return self.record(**terms)

    def test_step(self, data):
        images, _ = split_batch(data)
        return self.record(**self._terms(images, training=False))

    # ----------------------------------------------------------------- sampling
    def decode(self, z):
        """Latents `(B, H, W, C)` -> 8-bit images in `value_range`: v = inverse(z) on [0, 256), level
        k = floor(v), the draw of the discrete model that dequantization defines."""
        unit = self.to_unit_interval(self.inverse(z))
        levels = ops.clip(ops.floor(unit * LEVELS), 0.0, LEVELS - 1)
        return self.from_unit_interval(levels / (LEVELS - 1))

    @sampler
    def generate(self, num_samples, temperature=1.0, seed=None):
        """`num_samples` 8-bit images in `value_range`: z ~ N(0, temperature^2 I), decoded.

        `temperature` < 1 trades diversity for typicality (Kingma & Dhariwal, 2018).
        `seed=None` advances the model's SeedGenerator; an int is reproducible.
        """
        if float(temperature) < 0.0:
            raise ValueError(f"temperature must be >= 0, got {temperature}.")
        z = keras.random.normal((int(num_samples), *self.image_shape),
                                seed=self.seed_generator if seed is None else seed)
        return self.decode(float(temperature) * z)

    # ----------------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`serving_default(z) -> {images, images_uint8}` (also `decode`): z `(batch, H, W, C)` ~ N(0, I)
        (scale it for a temperature) decoded to 8-bit images; `encode(images) -> {z, log_det}`, the
        forward map of continuous images; `log_prob(images) -> {log_prob, bits_per_dim}`."""
        z = serving.latent_input(self.image_shape, name="z")
        images = serving.images_input(self.image_shape, self.value_range)
        decode = serving.Endpoint((z,), lambda z: serving.image_outputs(self, self.decode(z)))

        def encode(images):
            z, log_det = self.forward(images)
            return serving.float_outputs(z=z, log_det=log_det)

        log_prob = serving.Endpoint(
            (images,),
            lambda images: serving.float_outputs(log_prob=self.log_prob(images), bits_per_dim=self.bits_per_dim(images)))
        return {"serving_default": decode, "decode": decode, "encode": serving.Endpoint((images,), encode),
                "log_prob": log_prob}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples at temperature 1."""
        return previews.samples(self, num_samples, seed)

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim", None)
        config.update(num_scales=self.num_scales, filters=self.filters, num_blocks=self.num_blocks, alpha=self.alpha)
        return config
