"""PixelCNN (van den Oord et al., 2016, "Pixel Recurrent Neural Networks") and
the Gated PixelCNN ("Conditional Image Generation with PixelCNN Decoders").

An autoregressive model of images quantized to `num_levels` intensity levels:

    p(x) = prod_{i=1}^{H*W*C} p(x_i | x_1, ..., x_{i-1})

in raster order with colour channels innermost, each factor a softmax over
the levels computed by masked convolutions (`kerasgen.networks.
pixelcnn_network`). Training maximizes the exact log-likelihood, all sub-pixels
in parallel; sampling fills in one sub-pixel per network evaluation.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import losses, networks, previews, serving
from kerasgen.models.cached_sampling import CachedSampler, UncacheableNetwork
from kerasgen.models.base import GenerativeModel, sampler, split_batch, values_at_hand
from kerasgen.models.registry import register


def inverse_cdf(logits, uniform):
    """Levels drawn from `softmax(logits)` by inverse CDF with the given uniforms.

    Args:
        logits: `(batch, num_levels)` float32.
        uniform: `(batch,)` float32 in [0, 1).

    Returns:
        `(batch,)` int32: the smallest level k with `CDF(k) > u * CDF(last)`
        (normalizing by the last CDF value guards against rounding). A draw
        u = 0 gives the lowest level of nonzero (float32) probability.
    """
    probabilities = tf.nn.softmax(logits, axis=-1)
    cdf = tf.cumsum(probabilities, axis=-1)
    threshold = uniform[:, None] * cdf[:, -1:]
    level = tf.reduce_sum(tf.cast(cdf <= threshold, tf.int32), axis=-1)
    return tf.minimum(level, tf.shape(logits)[-1] - 1)


@register(
    "pixelcnn",
    family="autoregressive",
    summary="masked convolutions (A/B), 256-way softmax, exact log-likelihood in bits/dim, cached autoregressive sampling (Ramachandran et al., 2017); gated blocks optional",
    paper="van den Oord et al., 2016",
    small_config={"filters": 16, "num_layers": 2},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class PixelCNN(GenerativeModel):
    """PixelCNN: an exact-likelihood autoregressive model of quantized images.

    Images come in the model's `value_range` (default [-1, 1], as the data
    pipeline gives them) and are quantized to integer levels

        level = round((x - low) / (high - low) * (num_levels - 1)),

    so 8-bit images map to their 256 grey values exactly; `num_levels=2` is
    the binarized variant (threshold at the midpoint of the range). The network
    sees the levels rescaled to [-1, 1] and returns a softmax over levels for
    every sub-pixel.

    Args:
        image_shape: `(H, W, C)` (default 28x28x1).
        num_levels: intensity levels per sub-pixel (default 256).
        filters, num_layers, gated: see `kerasgen.networks.pixelcnn_network`
            (defaults 64, 12, False: the paper's PixelCNN with 12 residual
            blocks after the 7x7 layer; `gated=True` gives the Gated
            PixelCNN). Twelve blocks see 15 rows up and 15 columns either
            side, more than half the 28x28 canvas, and reached a lower test
            bits/dim than 7 in equal training time (BENCHMARKS.md, "PixelCNN's
            default network").
            `compile()` without an optimizer uses Adam(2e-3), the better of
            2e-3 and 1e-3 for this network in that comparison.
        embedding_dim: None (levels enter as intensities), or the size of a
            learned vector per level, for categorical levels (the VQ-VAE's
            prior over its codes).
        network: optional Keras model `images (B, H, W, C) in [-1, 1] ->
            logits (B, H, W, C, num_levels)`, causal in raster order
            (overrides filters/num_layers/gated).
        value_range, seed: see `GenerativeModel`.

    Reported by `fit` and `evaluate`: `loss`, the mean negative log-likelihood
    -log p(x) per image in nats, and `bits_per_dim`, the same in bits per
    sub-pixel, nll / (H * W * C * ln 2).

    Sampling (`generate`, `sample_from_uniform`) is one `tf.function` over the
    H * W * C sub-pixels that draws each level by inverse CDF from a uniform
    noise value, so equal noise gives equal images. By default it caches every
    layer's activations and computes, at each step, only those the drawn
    sub-pixel changes (Ramachandran et al., 2017, "Fast Generation for
    Convolutional Autoregressive Models"; `kerasgen.models.cached_sampling`);
    `cached=False` runs the network on the whole canvas at every step instead.
    """

    loss_names = ("loss", "bits_per_dim")
    NETWORKS = ("network",)

    def default_optimizer(self):
        """Adam(2e-3): 3.035 test bits/dim after 15 minutes against 3.108 for Adam(1e-3) (BENCHMARKS.md)."""
        return keras.optimizers.Adam(2e-3)

    def __init__(
        self,
        image_shape=(28, 28, 1),
        *,
        num_levels=256,
        filters=64,
        num_layers=12,
        gated=False,
        embedding_dim=None,
        network=None,
        **kwargs,
    ):
        if kwargs.pop("latent_dim", None) is not None:
            raise ValueError("PixelCNN has no latent code: do not pass latent_dim.")
        super().__init__(None, image_shape, **kwargs)
        if int(num_levels) < 2:
            raise ValueError(f"num_levels must be >= 2, got {num_levels}.")
        self.num_levels = int(num_levels)
        self.filters = int(filters)
        self.num_layers = int(num_layers)
        self.gated = bool(gated)
        self.embedding_dim = None if embedding_dim is None else int(embedding_dim)
        self.network = network or networks.pixelcnn_network(
            self.image_shape, self.num_levels, self.filters, self.num_layers, self.gated, self.embedding_dim
        )
        expected = (*self.image_shape, self.num_levels)
        try:  # functional networks know their output shape; subclassed ones are trusted
            output_shape = tuple(self.network.output.shape[1:])
        except (AttributeError, ValueError):
            output_shape = None
        if output_shape is not None and output_shape != expected:
            raise ValueError(
                f"The network must map (batch, {', '.join(map(str, self.image_shape))}) images to logits "
                f"(batch, {', '.join(map(str, expected))}), got output shape (batch, {', '.join(map(str, output_shape))})."
            )
        self.built = True  # the network owns every weight and is built already
        height, width, channels = self.image_shape
        # No jit_compile: XLA made each network call slower on CPU (benchmarks/pixelcnn.py
        # measures both), and the exported `sample` signature would then need XLA to run.
        signature = [tf.TensorSpec((None, height, width, channels), tf.float32)]
        self._sampler = tf.function(self._sample_levels, input_signature=signature)
        try:  # the fast sampler follows kerasgen's networks and most functional ones
            self._cache = self._cached_sampling_schedule()
            # Python loops over layers unroll at trace time: no autograph.
            self._cached_sampler = tf.function(self._cache.sample_levels, input_signature=signature, autograph=False)
            self.uncacheable_reason = None
        except UncacheableNetwork as error:
            self._cache = self._cached_sampler = None
            self.uncacheable_reason = str(error)

    def _cached_sampling_schedule(self):
        """The exact fast sampler of this network (raises `UncacheableNetwork` where there is none)."""
        return CachedSampler(self.network, self._scaled, inverse_cdf)

    # ------------------------------------------------------- quantization
    def to_levels(self, images):
        """Images in `value_range` -> int32 levels in [0, num_levels)."""
        unit = ops.clip(self.to_unit_interval(ops.cast(images, "float32")), 0.0, 1.0)
        return ops.cast(ops.round(unit * (self.num_levels - 1)), "int32")

    def from_levels(self, levels):
        """Integer levels -> float32 images in `value_range`."""
        return self.from_unit_interval(ops.cast(levels, "float32") / (self.num_levels - 1))

    def _scaled(self, levels):
        """Integer levels -> the network's inputs, float32 in [-1, 1]."""
        return ops.cast(levels, "float32") * (2.0 / (self.num_levels - 1)) - 1.0

    def _network_logits(self, levels, training=False):
        """Levels `(B, H, W, C)` -> float32 logits `(B, H, W, C, num_levels)`."""
        return ops.cast(self.network(self._scaled(levels), training=training), "float32")

    def _check(self, images, what="images"):
        images, values = values_at_hand(images)
        shape = images.shape
        if what == "images":
            self.check_images(shape, images.dtype, values)
            return
        name = type(self).__name__
        if len(shape) != 4 or tuple(shape[1:]) != self.image_shape:
            raise ValueError(
                f"{name} expects noise of shape (batch, {', '.join(map(str, self.image_shape))}) "
                f"(one uniform draw per sub-pixel), got {tuple(shape)}."
            )
        if values is not None and values.size and (values.min() < 0.0 or values.max() >= 1.0):
            raise ValueError(f"{name} expects noise in [0, 1), got values in [{values.min():g}, {values.max():g}].")

    # -------------------------------------------------------- likelihood
    def negative_log_likelihood(self, images, training=False):
        """`(B,)` -log p(x) in nats of the quantized images."""
        levels = self.to_levels(images)
        return losses.categorical_pixel_nll(levels, self._network_logits(levels, training=training))

    def log_prob(self, images):
        """`(B,)` float32 log p(x) in nats of `images` (in `value_range`) quantized to the levels."""
        self._check(images)
        return -self.negative_log_likelihood(ops.convert_to_tensor(images, "float32"))

    def bits_per_dim(self, images):
        """`(B,)` float32 -log2 p(x) / (H * W * C): bits per sub-pixel."""
        return self.to_bits_per_dim(-self.log_prob(images))

    def call(self, images, training=False):
        """Images in `value_range` -> float32 logits `(B, H, W, C, num_levels)` of their levels."""
        return self._network_logits(self.to_levels(images), training=training)

    # ---------------------------------------------------------- training
    def _terms(self, nll):
        loss = ops.mean(nll)
        return {"loss": loss, "bits_per_dim": self.to_bits_per_dim(loss)}

    def train_step(self, data):
        images, _ = split_batch(data)
        with tf.GradientTape() as tape:
            terms = self._terms(self.negative_log_likelihood(images, training=True))
        self.apply_gradients(tape, terms["loss"], self.trainable_variables)
        return self.record(**terms)

    def test_step(self, data):
        images, _ = split_batch(data)
        return self.record(**self._terms(self.negative_log_likelihood(images)))

    # ---------------------------------------------------------- sampling
    def _fill(self, levels, step, flat_noise):
        """Draws sub-pixel `step` (raster order, channels innermost) of every canvas in `levels`."""
        batch = tf.shape(levels)[0]
        logits = tf.reshape(self._network_logits(levels), (batch, self.num_dims, self.num_levels))
        drawn = inverse_cdf(tf.gather(logits, step, axis=1), tf.gather(flat_noise, step, axis=1))
        position = tf.reshape(tf.one_hot(step, self.num_dims, dtype=tf.int32), (1, *self.image_shape))
        return levels + position * drawn[:, None, None, None]

    def _sample_levels(self, noise):
        """The compiled sampler's body: uniform noise `(B, H, W, C)` -> int32 levels."""
        flat_noise = tf.reshape(noise, (tf.shape(noise)[0], self.num_dims))
        start = tf.zeros(tf.shape(noise), tf.int32)
        _, levels = tf.while_loop(
            lambda step, levels: step < self.num_dims,
            lambda step, levels: (step + 1, self._fill(levels, step, flat_noise)),
            (tf.constant(0), start),
            parallel_iterations=1,
        )
        return levels

    def sample_from_uniform(self, noise, cached=None):
        """Deterministic ancestral sampling: noise `(B, H, W, C)` in [0, 1) -> images.

        Sub-pixel i takes the level F_i^{-1}(u_i) of its conditional
        categorical given the sub-pixels drawn before it (see `inverse_cdf`).
        Returns float32 images in `value_range`. Traceable inside a
        `tf.function` (the SavedModel `sample` signature calls it) for a fixed
        image shape and any batch size.

        `cached`: None (default) uses the cached sampler
        (`kerasgen.models.cached_sampling`: each step computes only the
        activations the last drawn sub-pixel changes) when the network allows
        it, as kerasgen's networks do, else the full-canvas loop; True
        requires the cached sampler; False runs the whole network on the whole
        canvas at every step. Both give the same images for the same noise
        (up to float rounding where a uniform falls within ~1e-6 of a CDF step).
        """
        self._check(noise, "noise")
        if cached and self._cached_sampler is None:
            raise ValueError(f"This network cannot be sampled with caches ({self.uncacheable_reason}); "
                             "use cached=None or cached=False for the full-canvas sampler.")
        use_cache = self._cached_sampler is not None and cached is not False
        run = self._cached_sampler if use_cache else self._sampler
        return self.from_levels(run(tf.cast(noise, tf.float32)))

    @sampler
    def generate(self, num_samples, seed=None, cached=None):
        """`num_samples` images in `value_range` drawn from the model.

        `seed=None` advances the model's SeedGenerator; an int is reproducible.
        `cached`: see `sample_from_uniform` (default: the fast cached sampler).
        """
        return self.sample_from_uniform(self._uniform_noise(num_samples, seed), cached=cached)

    def naive_generate(self, num_samples, seed=None):
        """`generate` with a Python loop over sub-pixels calling the network eagerly.

        The same algorithm and noise as `generate`, H * W * C eager network
        calls; kept to measure what the compiled loop saves.
        """
        return self.naive_sample_from_uniform(self._uniform_noise(num_samples, seed))

    def naive_sample_from_uniform(self, noise):
        """`sample_from_uniform` as a Python loop over sub-pixels with eager network calls."""
        flat_noise = tf.reshape(noise, (tf.shape(noise)[0], self.num_dims))
        levels = tf.zeros(tf.shape(noise), tf.int32)
        for step in range(self.num_dims):
            levels = self._fill(levels, tf.constant(step), flat_noise)
        return self.from_levels(levels)

    def _uniform_noise(self, num_samples, seed):
        return keras.random.uniform(
            (int(num_samples), *self.image_shape),
            seed=self.seed_generator if seed is None else seed,
            dtype="float32",
        )

    # ------------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`sample(noise) -> {images, images_uint8}` (also `serving_default`): uniform `noise` in [0, 1)
        picks each sub-pixel by inverse CDF, so equal noise gives equal images; `log_prob(images) ->
        {log_prob, bits_per_dim}` (nats per image, bits per sub-pixel of the quantized images)."""
        sample = serving.Endpoint((serving.noise_input(self.image_shape),),
                                  lambda noise: serving.image_outputs(self, self.sample_from_uniform(noise)))
        log_prob = serving.Endpoint(
            (serving.images_input(self.image_shape, self.value_range),),
            lambda images: serving.float_outputs(log_prob=self.log_prob(images), bits_per_dim=self.bits_per_dim(images)))
        return {"serving_default": sample, "sample": sample, "log_prob": log_prob}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples."""
        return previews.samples(self, num_samples, seed)

    # ------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim", None)
        config.update(
            num_levels=self.num_levels,
            filters=self.filters,
            num_layers=self.num_layers,
            gated=self.gated,
        )
        if self.embedding_dim is not None:
            config["embedding_dim"] = self.embedding_dim
        return config
