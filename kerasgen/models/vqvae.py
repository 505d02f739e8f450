"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, 2017, "Neural Discrete Representation Learning").

An encoder maps an image to a grid of D-dimensional vectors z_e(x); each is
replaced by its nearest vector of a learned codebook of K codes, and a
decoder reconstructs the image from the quantized grid z_q(x). Training
minimizes eq. 3,

    L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2,

with the decoder's gradient copied straight through the quantization to the
encoder. The codes of the training set then get an autoregressive prior, a
PixelCNN over the code grid with K levels, and sampling draws a code grid
from the prior and decodes it.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import losses, previews, serving
from kerasgen.layers.vector_quantizer import VectorQuantizer, code_statistics
from kerasgen.models.base import GenerativeModel, sampler, split_batch, values_at_hand
from kerasgen.models.pixelcnn import PixelCNN
from kerasgen.models.registry import register
from kerasgen.networks.vqvae import vqvae_decoder, vqvae_encoder


@register(
    "vqvae",
    family="discrete latent",
    summary="nearest-code quantization with straight-through gradients, codebook and commitment losses (beta = 0.25), EMA codebook optional; PixelCNN prior over the code grid",
    paper="van den Oord et al., 2017",
    small_config={"num_codes": 16, "code_dim": 4, "filters": 16, "num_residual_blocks": 1,
                  "prior_filters": 8, "prior_layers": 1, "prior_embedding_dim": 4},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class VQVAE(GenerativeModel):
    """Vector-quantized autoencoder with a PixelCNN prior over its codes.

    Args:
        image_shape: `(H, W, C)`, H and W divisible by 2^num_downsamples.
        num_codes: K, the codebook size (the paper's 512).
        code_dim: D, the size of each code (the paper's 64).
        filters, num_residual_blocks, num_downsamples: the paper's encoder and
            decoder (`kerasgen.networks.vqvae_encoder`/`vqvae_decoder`):
            256 hidden units, 2 residual blocks, 2 stride-2 layers (a 7x7 code
            grid for 28x28 images).
        beta: weight of the commitment loss (the paper's 0.25).
        ema: learn the codebook by exponential moving averages (Appendix A.1)
            instead of by the codebook loss; `decay` is their gamma (0.99).
        prior_filters, prior_layers, prior_gated, prior_embedding_dim: the
            PixelCNN prior (`kerasgen.models.PixelCNN` with K levels on the
            `(h, w, 1)` code grid, each code entering as a learned vector of
            `prior_embedding_dim`).
        encoder, decoder, prior: optional networks replacing the defaults:
            `images -> (B, h, w, D)`, `(B, h, w, D) -> images`, and a
            `PixelCNN(image_shape=(h, w, 1), num_levels=K, value_range=(0, K - 1))`.
        value_range, seed: see `GenerativeModel`.

    Reported by `fit` and `evaluate`: `loss` (eq. 3: reconstruction +
    codebook + beta * commitment; the codebook term is left out with
    `ema=True`), `reconstruction_loss` (per-pixel mean squared error, the
    Gaussian log-likelihood up to constants), `codebook_loss`,
    `commitment_loss`, `perplexity` (exp of the entropy of the batch's code
    frequencies: K when all codes are used equally), `codebook_usage` (the
    fraction of codes the batch uses), `prior_loss` (the prior's -log p of
    the batch's code grids, nats) and `prior_bits_per_code`.

    Training: each `train_step` takes one step of eq. 3 on the autoencoder
    and, with a second optimizer, one maximum-likelihood step of the prior on
    the batch's codes (held fixed: the prior's loss reaches no autoencoder
    weight), so that one `fit` gives a model that samples. The paper fits
    the prior after the VQ-VAE, on the codes of the finished encoder:
    `fit_prior(images)` does that stage, the autoencoder frozen. Adam with
    the paper's learning rate 2e-4 for the autoencoder, Adam 1e-3 for the prior.
    """

    loss_names = ("loss", "reconstruction_loss", "codebook_loss", "commitment_loss", "perplexity",
                  "codebook_usage", "prior_loss", "prior_bits_per_code")
    NETWORKS = ("encoder", "decoder", "prior")

    def __init__(self, image_shape=(28, 28, 1), *, num_codes=512, code_dim=64, filters=256, num_residual_blocks=2,
                 num_downsamples=2, beta=0.25, ema=False, decay=0.99, prior_filters=64, prior_layers=7,
                 prior_gated=False, prior_embedding_dim=32, encoder=None, decoder=None, prior=None, **kwargs):
        if kwargs.pop("latent_dim", None) is not None:
            raise ValueError("VQVAE's latent is a grid of codes: size it with num_codes and code_dim, "
                             "not latent_dim.")
        super().__init__(None, image_shape, **kwargs)
        if float(beta) < 0.0:
            raise ValueError(f"beta must be >= 0, got {beta}.")
        self.num_codes, self.code_dim = int(num_codes), int(code_dim)
        self.filters, self.num_residual_blocks = int(filters), int(num_residual_blocks)
        self.num_downsamples, self.beta = int(num_downsamples), float(beta)
        self.ema, self.decay = bool(ema), float(decay)
        self.prior_filters, self.prior_layers = int(prior_filters), int(prior_layers)
        self.prior_gated, self.prior_embedding_dim = bool(prior_gated), int(prior_embedding_dim)

        network_sizes = dict(filters=self.filters, num_residual_blocks=self.num_residual_blocks,
                             num_downsamples=self.num_downsamples)
        self.encoder = encoder or vqvae_encoder(self.image_shape, self.code_dim, **network_sizes)
        self.decoder = decoder or vqvae_decoder(self.image_shape, self.code_dim, **network_sizes)
        self.quantizer = VectorQuantizer(self.num_codes, self.code_dim, ema=self.ema, decay=self.decay,
                                         name="quantizer")
        factor = 2 ** self.num_downsamples
        self.code_shape = (self.image_shape[0] // factor, self.image_shape[1] // factor)
        encoded = tuple(self.encoder.compute_output_shape((None, *self.image_shape))[1:])
        if encoded != (*self.code_shape, self.code_dim):
            raise ValueError(f"The encoder must map (batch, {', '.join(map(str, self.image_shape))}) images to a "
                             f"(batch, {self.code_shape[0]}, {self.code_shape[1]}, {self.code_dim}) code grid, got "
                             f"(batch, {', '.join(map(str, encoded))}).")
        self.prior = prior or PixelCNN(
            (*self.code_shape, 1), num_levels=self.num_codes, value_range=(0.0, self.num_codes - 1.0),
            filters=self.prior_filters, num_layers=self.prior_layers, gated=self.prior_gated,
            embedding_dim=self.prior_embedding_dim, seed=None if self.seed is None else self.seed + 1,
            name="prior")
        expected = ((*self.code_shape, 1), self.num_codes, (0.0, self.num_codes - 1.0))
        if (self.prior.image_shape, self.prior.num_levels, self.prior.value_range) != expected:
            raise ValueError(f"The prior must be a PixelCNN with image_shape {expected[0]}, num_levels {expected[1]} "
                             f"and value_range {expected[2]} (one level per code), got {self.prior.image_shape}, "
                             f"{self.prior.num_levels} and {self.prior.value_range}.")
        self.built = True

    # ------------------------------------------------------------ optimizers
    def compile(self, autoencoder_optimizer=None, prior_optimizer=None, *, optimizer=None, **kwargs):
        """`model.optimizer` (`autoencoder_optimizer`, or `optimizer`; default Adam(2e-4), the paper's)
        trains eq. 3; the prior is compiled with `prior_optimizer` (default Adam(1e-3)), which `fit` and
        `fit_prior` both step and which is saved with the prior. Both are built here, each for its own
        variables, so none is created inside a replicated step."""
        super().compile(optimizer=autoencoder_optimizer or optimizer or keras.optimizers.Adam(2e-4), **kwargs)
        self.prior.compile(optimizer=keras.optimizers.get(prior_optimizer or keras.optimizers.Adam(1e-3)),
                           jit_compile=kwargs.get("jit_compile", "auto"))
        self.optimizer.build(self.autoencoder_variables)
        self.prior_optimizer.build(self.prior_variables)

    @property
    def prior_optimizer(self):
        """The prior's optimizer (`model.prior.optimizer`)."""
        return self.prior.optimizer

    def named_optimizers(self):
        return {"optimizer": self.optimizer, "prior_optimizer": self.prior_optimizer}

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {"autoencoder_optimizer": keras.saving.serialize_keras_object(self.optimizer),
                "prior_optimizer": keras.saving.serialize_keras_object(self.prior_optimizer)}

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))

    @property
    def autoencoder_variables(self):
        """Encoder, decoder and (unless `ema`) codebook weights: what eq. 3 trains."""
        return (self.encoder.trainable_variables + self.decoder.trainable_variables
                + self.quantizer.trainable_variables)

    @property
    def prior_variables(self):
        return self.prior.trainable_variables

    # ----------------------------------------------------------- the model
    def encode(self, images):
        """Images `(B, H, W, C)` in `value_range` -> int32 code indices `(B, h, w)` in [0, K)."""
        return self.quantizer.nearest(self.encoder(ops.cast(images, "float32"), training=False))

    def decode(self, codes):
        """Int code indices `(B, h, w)` -> float32 images in `value_range` (clipped to it)."""
        quantized = self.quantizer.lookup(codes)
        return ops.clip(ops.cast(self.decoder(quantized, training=False), "float32"), *self.value_range)

    def reconstruct(self, images):
        """Images -> their reconstructions through the nearest codes, in `value_range`."""
        return self.decode(self.encode(images))

    def call(self, images, training=False):
        """Images -> reconstructions (see `reconstruct`)."""
        return self.reconstruct(images)

    def _codes_as_levels(self, codes):
        """Code indices `(B, h, w)` -> the prior's images `(B, h, w, 1)`: float32 levels in [0, K - 1]."""
        return ops.cast(codes, "float32")[..., None]

    # -------------------------------------------------------------- training
    def _terms(self, images, training):
        """Eq. 3's terms, the code statistics and the prior's loss for a batch."""
        images = ops.cast(images, "float32")
        encodings = ops.cast(self.encoder(images, training=training), "float32")
        quantized, codes = self.quantizer(encodings)  # straight-through: forward z_q, gradient to z_e
        decoded = ops.cast(self.decoder(quantized, training=training), "float32")
        selected = self.quantizer.lookup(codes)
        reconstruction = ops.mean(losses.mean_squared_error(images, decoded))
        codebook = ops.mean(losses.vq_codebook_loss(encodings, selected))
        commitment = ops.mean(losses.vq_commitment_loss(encodings, selected))
        loss = reconstruction + self.beta * commitment + (0.0 if self.ema else codebook)
        perplexity, usage = code_statistics(codes, self.num_codes)
        prior_loss = ops.mean(self.prior.negative_log_likelihood(self._codes_as_levels(codes), training=training))
        terms = dict(loss=loss, reconstruction_loss=reconstruction, codebook_loss=codebook,
                     commitment_loss=commitment, perplexity=perplexity, codebook_usage=usage,
                     prior_loss=prior_loss, prior_bits_per_code=self.prior.to_bits_per_dim(prior_loss))
        return terms, encodings, codes

    def train_step(self, data):
        """One step of eq. 3 on the autoencoder, one of maximum likelihood on the prior, then (with
        `ema`) the codebook's moving averages."""
        images, _ = split_batch(data)
        with tf.GradientTape() as tape:
            terms, encodings, codes = self._terms(images, training=True)
            # The two losses share no weights: one backward pass of their sum gives each group its own gradient.
            objective = terms["loss"] + terms["prior_loss"]
        self.apply_gradient_groups(tape, objective, [(self.autoencoder_variables, self.optimizer),
                                                     (self.prior_variables, self.prior_optimizer)])
        if self.ema:
            self.quantizer.update_codebook(encodings, codes)
        return self.record(**terms)

    def test_step(self, data):
        images, _ = split_batch(data)
        return self.record(**self._terms(images, training=False)[0])

    def code_dataset(self, x, batch_size=None):
        """Images (a `tf.data.Dataset` of batches, `(images, labels)` pairs included, or an array) -> a
        dataset of their code grids as the prior's images, `(B, h, w, 1)` float32 levels, prefetched."""
        if not isinstance(x, tf.data.Dataset):
            x = tf.data.Dataset.from_tensor_slices(x).batch(batch_size or self.default_batch_size)
        encode = tf.function(lambda images: self._codes_as_levels(self.encode(images)))
        return x.map(lambda *batch: encode(split_batch(batch)[0]), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE)

    def fit_prior(self, x, epochs=1, batch_size=None, **fit_kwargs):
        """The paper's second stage: fits the prior to the codes of `x` with the autoencoder frozen.

        `x` as for `code_dataset`; `fit_kwargs` go to `PixelCNN.fit` (callbacks, verbose, ...). Uses the
        model's `prior_optimizer`, so its state carries on from `fit` and is saved with the model.
        Returns the prior's `History` (`loss` in nats per code grid, `bits_per_dim` in bits per code).
        """
        if not self.compiled:
            raise RuntimeError("Compile the VQVAE (model.compile()) before fit_prior: the prior trains with "
                               "its prior_optimizer.")
        return self.prior.fit(self.code_dataset(x, batch_size), epochs=epochs, **fit_kwargs)

    # -------------------------------------------------------------- sampling
    def sample_from_uniform(self, noise):
        """Uniform noise `(B, h, w, 1)` in [0, 1) -> images: the prior's codes (drawn by inverse CDF,
        `PixelCNN.sample_from_uniform`), decoded. Equal noise gives equal images."""
        levels = self.prior.sample_from_uniform(noise)
        return self.decode(ops.cast(ops.round(levels[..., 0]), "int32"))

    @sampler
    def generate(self, num_samples, seed=None):
        """`num_samples` images in `value_range`: code grids drawn from the prior, decoded.

        `seed=None` advances the model's SeedGenerator; an int is reproducible.
        """
        noise = keras.random.uniform((num_samples, *self.code_shape, 1),
                                     seed=self.seed_generator if seed is None else seed)
        return self.sample_from_uniform(noise)

    def check_codes(self, codes):
        """ValueError unless `codes` are integer code indices `(B, h, w)` in [0, num_codes)."""
        codes, values = values_at_hand(codes)
        name = type(self).__name__
        if len(codes.shape) != 3 or tuple(codes.shape[1:]) != self.code_shape:
            raise ValueError(f"{name} expects code indices of shape (batch, {self.code_shape[0]}, "
                             f"{self.code_shape[1]}), got {tuple(codes.shape)}.")
        if not tf.as_dtype(codes.dtype).is_integer:
            raise ValueError(f"{name} expects integer code indices, got dtype {tf.as_dtype(codes.dtype).name}.")
        if values is not None and values.size and (values.min() < 0 or values.max() >= self.num_codes):
            raise ValueError(f"{name} expects code indices in [0, {self.num_codes}), "
                             f"got values in [{values.min()}, {values.max()}].")

    # -------------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`sample(noise) -> {images, images_uint8}` (also `serving_default`): uniform `noise`
        `(batch, h, w, 1)` in [0, 1) picks each code of the prior by inverse CDF, so equal noise gives
        equal images; `reconstruct(images) -> {images, images_uint8}` through the nearest codes."""
        sample = serving.Endpoint((serving.noise_input((*self.code_shape, 1)),),
                                  lambda noise: serving.image_outputs(self, self.sample_from_uniform(noise)))
        reconstruct = serving.Endpoint((serving.images_input(self.image_shape, self.value_range),),
                                       lambda images: serving.image_outputs(self, self.reconstruct(images)))
        return {"serving_default": sample, "sample": sample, "reconstruct": reconstruct}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Reconstructions of `images` and samples from the prior."""
        pictures = previews.reconstructions(self.reconstruct, images) if images is not None else {}
        pictures.update(previews.samples(self, num_samples, seed))
        return pictures

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim", None)
        config.update(num_codes=self.num_codes, code_dim=self.code_dim, filters=self.filters,
                      num_residual_blocks=self.num_residual_blocks, num_downsamples=self.num_downsamples,
                      beta=self.beta, ema=self.ema, decay=self.decay, prior_filters=self.prior_filters,
                      prior_layers=self.prior_layers, prior_gated=self.prior_gated,
                      prior_embedding_dim=self.prior_embedding_dim)
        return config
