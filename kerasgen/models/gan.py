"""Adversarial models: GAN and its named configurations.

`GAN.train_step` is Goodfellow et al. (2014), Algorithm 1:

    for number of training iterations:
        for k steps:
            sample a minibatch of m noise samples z and m real examples x
            update the discriminator by descending its loss
        sample a minibatch of m noise samples z
        update the generator by descending its loss

Each `fit` batch holds the k real minibatches of one iteration, so feed
batches of k * m images (with the default k = 1, just m). The loss pair
(minimax, non-saturating, least squares, Wasserstein, hinge) and the
penalties (WGAN-GP, R1, consistency regularization, drift) are constructor
arguments; DCGAN, ConditionalGAN, LSGAN, WGAN, WGANGP and SNGAN below are
thin configurations of this one machine with their papers' defaults.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import augment, losses, networks
from kerasgen.models.base import (
    AdversarialOptimizers,
    BATCH_LOCATION,
    GenerativeModel,
    assert_that,
    sampler,
    split_batch,
)
from kerasgen.models.registry import register
from kerasgen import previews, serving


@register(
    "gan",
    family="gan",
    summary="Algorithm 1: k discriminator steps per generator step; MLP networks; any loss pair and penalty",
    paper="Goodfellow et al., 2014",
    small_config={"latent_dim": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class GAN(AdversarialOptimizers, GenerativeModel):
    """Generative adversarial network trained with Goodfellow et al.'s Algorithm 1.

    Args:
        latent_dim: size of z ~ N(0, I) (default 64).
        image_shape: `(H, W, C)` (default 28x28x1).
        generator: optional Keras model `z [, labels] -> images` in `value_range`.
        discriminator: optional Keras model `images [, labels] -> (batch, 1)` scores.
        adversarial_loss: "non_saturating" (default, the paper's recommended
            generator objective), "minimax", "least_squares", "wasserstein"
            or "hinge" (see `kerasgen.losses.ADVERSARIAL_LOSSES`).
        discriminator_steps: k, discriminator updates per generator update.
        gradient_penalty_weight: lambda of the WGAN-GP penalty (0 = off).
        one_sided_penalty: penalize only gradient norms above 1.
        r1_gamma: gamma of the R1 penalty on real data (0 = off).
        consistency_weight: lambda of consistency regularization (0 = off),
            with `kerasgen.augment.flip_and_translate` as T.
        drift_weight: weight of the drift term on real scores (0 = off).
        clip_value: clip every discriminator weight to [-c, c] after each of
            its updates (WGAN); None = off.
        label_smoothing: one-sided label smoothing of real targets for the
            cross-entropy losses.
        ema_decay: keep an exponential moving average of the generator's
            weights, used by `generate` and `call` (e.g. 0.999); None = off.
        num_classes, value_range, seed: see `GenerativeModel`.

    Reported: `d_loss` and `g_loss` (the adversarial terms), and each active
    penalty (`gradient_penalty`, `r1_penalty`, `consistency_penalty`,
    `drift_penalty`), averaged over the k discriminator steps.
    """

    def __init__(
        self,
        latent_dim=64,
        image_shape=(28, 28, 1),
        *,
        generator=None,
        discriminator=None,
        adversarial_loss="non_saturating",
        discriminator_steps=1,
        gradient_penalty_weight=0.0,
        one_sided_penalty=False,
        r1_gamma=0.0,
        consistency_weight=0.0,
        drift_weight=0.0,
        clip_value=None,
        label_smoothing=0.0,
        ema_decay=None,
        **kwargs,
    ):
        super().__init__(latent_dim, image_shape, **kwargs)
        losses.adversarial_loss_pair(adversarial_loss)  # validates the name
        if int(discriminator_steps) < 1:
            raise ValueError(f"discriminator_steps (k) must be >= 1, got {discriminator_steps}.")
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay}.")
        if clip_value is not None and float(clip_value) <= 0:
            raise ValueError(f"clip_value must be > 0, got {clip_value}.")
        self.adversarial_loss = adversarial_loss
        self.discriminator_steps = int(discriminator_steps)
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.one_sided_penalty = bool(one_sided_penalty)
        self.r1_gamma = float(r1_gamma)
        self.consistency_weight = float(consistency_weight)
        self.drift_weight = float(drift_weight)
        self.clip_value = None if clip_value is None else float(clip_value)
        self.label_smoothing = float(label_smoothing)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.generator = generator or self.build_generator()
        self.discriminator = discriminator or self.build_discriminator()
        self.ema_generator = self.ema_copy(self.generator) if self.ema_decay else None
        self.add_trackers("d_loss", "g_loss", *self.active_penalties())
        self.built = True  # the networks own every weight and are built already

    loss_names = ()

    # ------------------------------------------------------------- networks
    def build_generator(self):
        return networks.mlp_generator(
            self.latent_dim, self.image_shape, num_classes=self.num_classes, value_range=self.value_range
        )

    def build_discriminator(self):
        return networks.mlp_discriminator(self.image_shape, num_classes=self.num_classes)

    def default_optimizers(self):
        """(generator, discriminator) optimizers used by `compile()` without arguments.

        Adam(2e-4, beta_1=0.5) for both, the setting of Radford et al. (2016)
        that has become the default for GAN training.
        """
        return (keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))

    def active_penalties(self):
        names = []
        if self.gradient_penalty_weight:
            names.append("gradient_penalty")
        if self.r1_gamma:
            names.append("r1_penalty")
        if self.consistency_weight:
            names.append("consistency_penalty")
        if self.drift_weight:
            names.append("drift_penalty")
        return names

    def _inputs(self, tensor, labels):
        return [tensor, labels] if self.num_classes else tensor

    def _generate(self, z, labels, training, generator=None):
        generator = generator or self.generator
        return ops.cast(generator(self._inputs(z, labels), training=training), "float32")

    def _discriminate(self, images, labels, training):
        return ops.cast(self.discriminator(self._inputs(images, labels), training=training), "float32")

    # --------------------------------------------------------------- losses
    def discriminator_loss(self, real_scores, fake_scores):
        """`(batch,)` adversarial loss of the discriminator (no penalties)."""
        loss_fn, _ = losses.adversarial_loss_pair(self.adversarial_loss)
        if loss_fn is losses.discriminator_cross_entropy:
            return loss_fn(real_scores, fake_scores, label_smoothing=self.label_smoothing)
        return loss_fn(real_scores, fake_scores)

    def generator_loss(self, fake_scores):
        """`(batch,)` adversarial loss of the generator."""
        _, loss_fn = losses.adversarial_loss_pair(self.adversarial_loss)
        return loss_fn(fake_scores)

    def discriminator_penalties(self, real, fake, labels, real_scores):
        """Each active penalty's batch mean, weights included: {name: scalar}."""
        def critic(images):
            return self._discriminate(images, labels, training=True)

        penalties = {}
        batch = ops.shape(real)[0]
        if self.gradient_penalty_weight:
            epsilon = keras.random.uniform((batch,), seed=self.seed_generator)  # U[0, 1] per example
            penalties["gradient_penalty"] = self.gradient_penalty_weight * ops.mean(
                losses.gradient_penalty(critic, real, fake, epsilon, one_sided=self.one_sided_penalty)
            )
        if self.r1_gamma:
            penalties["r1_penalty"] = ops.mean(losses.r1_penalty(critic, real, gamma=self.r1_gamma))
        if self.consistency_weight:
            augmented = augment.flip_and_translate(real, self.seed_generator)
            penalties["consistency_penalty"] = ops.mean(
                losses.consistency_penalty(real_scores, critic(augmented), weight=self.consistency_weight)
            )
        if self.drift_weight:
            penalties["drift_penalty"] = ops.mean(losses.drift_penalty(real_scores, weight=self.drift_weight))
        return penalties

    # ------------------------------------------------------------ algorithm
    def train_step(self, data):
        real, real_labels = self.discriminator_updates(data)
        self.generator_step(ops.shape(real)[0], real_labels)
        return self.record()

    def discriminator_updates(self, data):
        """"for k steps do": a discriminator update per real minibatch; returns the last (real, labels)."""
        images, labels = split_batch(data)
        for real, real_labels in self.minibatches(images, labels):
            self.discriminator_step(real, real_labels)
        return real, real_labels

    def minibatches(self, images, labels):
        """Splits a fit batch into the k real minibatches of one iteration (m = batch // k)."""
        k = self.discriminator_steps
        size = ops.shape(images)[0] // k
        for step in range(k):
            window = slice(step * size, (step + 1) * size)
            yield images[window], (None if labels is None else labels[window])

    def discriminator_step(self, real, labels):
        """One discriminator update on a real minibatch and as many fresh fakes."""
        z = self.sample_latents(ops.shape(real)[0])
        fake = ops.stop_gradient(self._generate(z, labels, training=True))
        with tf.GradientTape() as tape:
            real_scores = self._discriminate(real, labels, training=True)
            fake_scores = self._discriminate(fake, labels, training=True)
            adversarial = ops.mean(self.discriminator_loss(real_scores, fake_scores))
            penalties = self.discriminator_penalties(real, fake, labels, real_scores)
            total = adversarial + sum(penalties.values())
        self.apply_gradients(tape, total, self.discriminator_variables, self.discriminator_optimizer)
        if self.clip_value:
            self.clip_discriminator_weights()
        self.record(d_loss=adversarial, **penalties)

    def generator_step(self, batch_size, labels):
        """One generator update on a fresh minibatch of m noise samples."""
        z = self.sample_latents(batch_size)
        with tf.GradientTape() as tape:
            fake = self._generate(z, labels, training=True)
            g_loss = ops.mean(self.generator_loss(self._discriminate(fake, labels, training=True)))
        self.apply_gradients(tape, g_loss, self.generator_variables)
        if self.ema_generator is not None:
            self.update_ema(self.ema_generator, self.generator, self.ema_decay)
        self.record(g_loss=g_loss)

    def clip_discriminator_weights(self):
        """WGAN (Arjovsky et al., 2017), Algorithm 1 line 7: w <- clip(w, -c, c)."""
        for weight in self.discriminator.trainable_variables:
            weight.assign(ops.clip(weight, -self.clip_value, self.clip_value))

    def test_step(self, data):
        images, labels = split_batch(data)
        z = self.sample_latents(ops.shape(images)[0])
        fake_scores = self._discriminate(self._generate(z, labels, training=False), labels, training=False)
        real_scores = self._discriminate(images, labels, training=False)
        return self.record(
            d_loss=ops.mean(self.discriminator_loss(real_scores, fake_scores)),
            g_loss=ops.mean(self.generator_loss(fake_scores)),
        )

    # ---------------------------------------------------------- public API
    @property
    def critic(self):
        """The discriminator, under the name WGAN papers give it."""
        return self.discriminator

    @property
    def sampling_generator(self):
        """The generator `generate` uses: the EMA copy when `ema_decay` is set."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs, training=False):
        """z `(batch, latent_dim)` (or `[z, labels]`) -> images in `value_range`."""
        z, labels = (inputs if self.num_classes else (inputs, None))
        return self._generate(z, labels, training=training, generator=self.sampling_generator)

    @sampler
    def generate(self, num_samples, labels=None, seed=None):
        """`num_samples` images in `value_range` from z ~ N(0, I) (int `seed` = reproducible).

        Conditional models take `labels` `(num_samples,)` (default 0, 1, 2, ...).
        """
        z = self.sample_latents(num_samples, seed)
        labels = ops.convert_to_tensor(self.default_labels(num_samples, labels)) if self.num_classes else None
        return self._generate(z, labels, training=False, generator=self.sampling_generator)

    # ------------------------------------------------------------- protocol
    default_batch_size = 64  # m, the real minibatch of each discriminator step
    drop_remainder = True  # every fit batch must split into k full minibatches

    def fit_batch_size(self, batch_size):
        """k * m images per fit batch: the k real minibatches of one iteration of Algorithm 1."""
        return self.discriminator_steps * int(batch_size)

    def serving_endpoints(self):
        """`serving_default(z[, labels]) -> {images, images_uint8}`, sampled with the EMA generator if any."""
        return {"serving_default": serving.generator_endpoint(self)}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples (one class per column for conditional models)."""
        return previews.samples(self, num_samples, seed)

    def _batch_size_template(self, location=""):
        k = self.discriminator_steps
        return (
            f"{type(self).__name__} makes k={k} discriminator updates per generator update and "
            f"splits each fit batch into k minibatches of m real images, but got batches of {{}}{location}. "
            f"Use a batch size that is a multiple of {k}, e.g. {64 * k} for m = 64, and "
            "drop_remainder=True so that the last batch is full."
        )

    def check_training_data(self, x, y=None, batch_size=None):
        first_batch = super().check_training_data(x, y, batch_size)
        k = self.discriminator_steps
        if first_batch is not None and k > 1 and first_batch % k:
            raise ValueError(self._batch_size_template().format(first_batch))
        return first_batch

    def batch_assertions(self, batch, number):
        checks = super().batch_assertions(batch, number)
        size = tf.shape(split_batch(batch)[0])[0]
        checks.append(assert_that(tf.equal(size % self.discriminator_steps, 0),
                                  self._batch_size_template(BATCH_LOCATION), size, number))
        return checks

    def get_config(self):
        config = super().get_config()
        config.update(
            adversarial_loss=self.adversarial_loss,
            discriminator_steps=self.discriminator_steps,
            gradient_penalty_weight=self.gradient_penalty_weight,
            one_sided_penalty=self.one_sided_penalty,
            r1_gamma=self.r1_gamma,
            consistency_weight=self.consistency_weight,
            drift_weight=self.drift_weight,
            clip_value=self.clip_value,
            label_smoothing=self.label_smoothing,
            ema_decay=self.ema_decay,
        )
        return config


@register(
    "dcgan",
    family="gan",
    summary="all-convolutional networks with batch norm (28x28, 32x32, 64x64), Adam(2e-4, 0.5)",
    paper="Radford et al., 2016",
    small_config={"latent_dim": 8, "base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class DCGAN(GAN):
    """GAN with the DCGAN architecture and recipe of Radford et al. (2016).

    Networks: `kerasgen.networks.dcgan_generator` / `dcgan_discriminator`
    (28x28, 32x32 and 64x64 images), weights from N(0, 0.02) and batch norm
    with momentum 0.9 (Sec. 4 and the authors' Torch code). `base_filters`
    sets the width (64 in the paper); z in R^100. Optimizer: Adam(2e-4,
    beta_1=0.5) for both networks (Sec. 4); minibatches of m = 128 in the
    paper (`default_batch_size`, the minibatch of each discriminator step).
    """

    default_batch_size = 128

    def __init__(self, latent_dim=100, image_shape=(28, 28, 1), *, base_filters=64, **kwargs):
        self.base_filters = int(base_filters)
        super().__init__(latent_dim, image_shape, **kwargs)

    discriminator_normalization = "batch"
    spectral_norm = False

    def build_generator(self):
        return networks.dcgan_generator(
            self.latent_dim, self.image_shape, num_classes=self.num_classes,
            base_filters=self.base_filters, value_range=self.value_range,
        )

    def build_discriminator(self):
        return networks.dcgan_discriminator(
            self.image_shape, num_classes=self.num_classes, base_filters=self.base_filters,
            normalization=self.discriminator_normalization, spectral_norm=self.spectral_norm,
        )

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters}


@register(
    "cgan",
    family="gan",
    data="labelled_images",
    summary="class labels into both networks; `generate(n, labels=...)`",
    paper="Mirza & Osindero, 2014",
    small_config={"latent_dim": 8, "base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class ConditionalGAN(DCGAN):
    """DCGAN whose generator and discriminator both see the class label.

    Train with `fit(images, labels)` or a dataset of `(images, labels)`;
    `generate(n, labels=[...])` samples chosen classes.
    """

    def __init__(self, latent_dim=100, image_shape=(28, 28, 1), *, num_classes=10, **kwargs):
        super().__init__(latent_dim, image_shape, num_classes=num_classes, **kwargs)


@register(
    "lsgan",
    family="gan",
    summary="least-squares losses with targets a, b, c",
    paper="Mao et al., 2017",
    small_config={"latent_dim": 8, "base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class LSGAN(DCGAN):
    """DCGAN trained with the least-squares losses of Mao et al. (2017), eq. 2.

    Args:
        a, b: discriminator targets for fake and real data (0 and 1).
        c: the value the generator wants the discriminator to believe (1).
    """

    default_batch_size = 64  # kerasgen's GAN default, not DCGAN's 128

    def __init__(self, latent_dim=100, image_shape=(28, 28, 1), *, a=0.0, b=1.0, c=1.0, **kwargs):
        self.a, self.b, self.c = float(a), float(b), float(c)
        kwargs.setdefault("adversarial_loss", "least_squares")
        super().__init__(latent_dim, image_shape, **kwargs)

    def discriminator_loss(self, real_scores, fake_scores):
        return losses.least_squares_discriminator_loss(real_scores, fake_scores, a=self.a, b=self.b)

    def generator_loss(self, fake_scores):
        return losses.least_squares_generator_loss(fake_scores, c=self.c)

    def get_config(self):
        return {**super().get_config(), "a": self.a, "b": self.b, "c": self.c}


@register(
    "sngan",
    family="gan",
    summary="standard-CNN discriminator, spectrally normalized; hinge loss, Adam(2e-4, 0.5, 0.999), n_dis = 1",
    paper="Miyato et al., 2018",
    small_config={"latent_dim": 8, "base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class SNGAN(DCGAN):
    """SN-GAN with the standard CNN and setting C of Miyato et al. (2018).

    - Discriminator: the "standard CNN" of Table 3(b)
      (`kerasgen.networks.sngan_discriminator`: seven 3x3/4x4 convolutions,
      LeakyReLU(0.1), no batch norm), every layer wrapped in
      `kerasgen.layers.SpectralNormalization` (W / sigma(W), with the
      gradient through sigma).
    - Loss: the hinge loss (eq. 17).
    - Optimizer and n_dis: Table 1's setting C, alpha = 0.0002, beta_1 = 0.5,
      beta_2 = 0.999, n_dis = 1, the setting of the authors' standard-CNN run
      (chainer-gan-lib's `example.sh`, `--n_dis 1 --adam_beta1 0.5
      --adam_beta2 0.999`). Their ResNet runs use setting (2e-4, 0, 0.9) with
      n_dis = 5 instead; pass `discriminator_steps=5` and those optimizers to
      `compile` for that.
    - z in R^128 from N(0, I).

    The generator is DCGAN's (`dcgan_generator`): Table 3(a)'s generator
    upsamples 4x4 three times, which reaches 32x32 but not 28x28.
    """

    discriminator_normalization = None
    spectral_norm = True
    default_batch_size = 64  # the paper's minibatch

    def __init__(self, latent_dim=128, image_shape=(28, 28, 1), **kwargs):
        kwargs.setdefault("adversarial_loss", "hinge")
        kwargs.setdefault("discriminator_steps", 1)
        super().__init__(latent_dim, image_shape, **kwargs)

    def build_discriminator(self):
        return networks.sngan_discriminator(
            self.image_shape, num_classes=self.num_classes, base_filters=self.base_filters,
            spectral_norm=self.spectral_norm,
        )

    def default_optimizers(self):
        """Setting C of Miyato et al. (2018), Table 1: Adam(2e-4, beta_1=0.5, beta_2=0.999) for both networks."""
        return (
            keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999),
            keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999),
        )
