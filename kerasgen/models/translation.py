"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired).

Both learn a mapping G from images of domain A (the input x) to images of
domain B (the output y) against PatchGAN discriminators:

- `Pix2Pix` (Isola et al., 2017) trains on aligned pairs (x, y): a
  conditional GAN whose discriminator judges (x, y) pairs, plus an L1 term
  pulling G(x) towards y,

      G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G),   lambda = 100.

- `CycleGAN` (Zhu et al., 2017) trains on unpaired sets of A and B images:
  two generators G: A -> B and F: B -> A, two least-squares discriminators,
  and cycle consistency F(G(x)) ~ x, G(F(y)) ~ y,

      L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda L_cyc(G, F) [+ 0.5 lambda L_identity],   lambda = 10.

`fit` takes batches of `(a_images, b_images)`: `kerasgen.datasets.load_pairs`
(aligned) or `load_unpaired` (independently shuffled), or two arrays
`fit(a_images, b_images)`. Images are NHWC floats in `value_range` (default
[-1, 1]); domain A has `source_shape`, domain B `image_shape` (same height
and width; the channels may differ, e.g. edge maps to colour images).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasgen import losses, networks, previews, serving
from kerasgen.layers.image_pool import ImagePool
from kerasgen.models.base import (
    AdversarialOptimizers,
    BATCH_LOCATION,
    GenerativeModel,
    assert_that,
    split_batch,
)
from kerasgen.models.registry import register


def _paper_adam():
    """Adam(2e-4, beta_1=0.5), the optimizer of both papers."""
    return keras.optimizers.Adam(2e-4, beta_1=0.5)


class TranslationModel(AdversarialOptimizers, GenerativeModel):
    """Shared machinery of the translation models: two domains, pairs of batches, `translate`.

    Args:
        image_shape: `(H, W, C)` of domain B, the output of the forward mapping.
        source_shape: `(H, W, C)` of domain A, its input (default `image_shape`).
        adversarial_loss: "non_saturating" or "least_squares"
            (`kerasgen.losses.TRANSLATION_LOSSES`).
        value_range, seed: see `GenerativeModel`. Translation has no latent
            code: passing `latent_dim` is an error.
    """

    DIRECTIONS = ("a2b",)

    def __init__(self, image_shape, *, source_shape=None, adversarial_loss, **kwargs):
        if kwargs.pop("latent_dim", None) is not None:
            raise ValueError(
                f"{type(self).__name__} translates images and has no latent code: do not pass latent_dim."
            )
        super().__init__(None, image_shape, **kwargs)
        source_shape = tuple(int(d) for d in (source_shape or self.image_shape))
        if len(source_shape) != 3 or source_shape[:2] != self.image_shape[:2]:
            raise ValueError(
                f"source_shape {source_shape} must be (height, width, channels) with the height and width "
                f"of image_shape {self.image_shape}: translation keeps the image size."
            )
        losses.check_translation_loss(adversarial_loss)
        self.source_shape = source_shape
        self.adversarial_loss = adversarial_loss

    def default_optimizers(self):
        """Adam(2e-4, beta_1=0.5) for both sides, as in both papers."""
        return _paper_adam(), _paper_adam()

    # ------------------------------------------------------------- helpers
    def domain_shape(self, domain):
        """`source_shape` for "a", `image_shape` for "b"."""
        return self.source_shape if domain == "a" else self.image_shape

    @staticmethod
    def _run(network, inputs, training):
        """A network's output as float32 (networks may compute in bfloat16)."""
        return ops.cast(network(inputs, training=training), "float32")

    def discriminator_loss(self, real_scores, fake_scores):
        """`(batch,)` (halved) discriminator loss, `losses.translation_discriminator_loss` (as `GAN`'s, per example)."""
        return losses.translation_discriminator_loss(real_scores, fake_scores, self.adversarial_loss)

    def generator_loss(self, fake_scores):
        """`(batch,)` adversarial term of the generator, `losses.translation_generator_loss`."""
        return losses.translation_generator_loss(fake_scores, self.adversarial_loss)

    # ---------------------------------------------------------- public API
    def translation_network(self, direction):
        raise NotImplementedError

    def translate(self, images, direction="a2b"):
        """Translates `images` `(batch, H, W, C)` in `value_range`; returns float32 in `value_range`.

        `direction` is "a2b" (domain A to B) or, for CycleGAN, "b2a".
        Inference mode: dropout off, batch norm with its moving statistics.
        """
        if direction not in self.DIRECTIONS:
            raise ValueError(
                f"{type(self).__name__} translates in the directions {list(self.DIRECTIONS)}, got {direction!r}."
            )
        source_domain = direction[0]
        array = images if tf.is_tensor(images) else np.asarray(images)
        self.check_images(
            array.shape, array.dtype, None if tf.is_tensor(array) else array,
            expected_shape=self.domain_shape(source_domain), what=f"domain {source_domain.upper()} images",
        )
        return self._run(self.translation_network(direction), ops.convert_to_tensor(array, "float32"), False)

    # ------------------------------------------------------------- protocol
    default_batch_size = 32  # pairs per update

    def serving_endpoints(self):
        """One signature per direction, `a2b(images) -> {images, images_uint8}` (and CycleGAN's `b2a`),
        on images of its source domain; `serving_default` is `a2b`."""

        def endpoint(direction):
            source = serving.images_input(self.domain_shape(direction[0]), self.value_range)
            return serving.Endpoint(
                (source,), lambda images: serving.image_outputs(self, self.translate(images, direction=direction)))

        endpoints = {direction: endpoint(direction) for direction in self.DIRECTIONS}
        return {"serving_default": endpoints["a2b"], **endpoints}

    def serving_metadata(self):
        return {"source_shape": list(self.source_shape)}  # domain A may differ from domain B

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Translations of domain A `images`: inputs, translations, the `targets` when they are ground
        truth (aligned pairs), and the translation back when the model has one (CycleGAN's cycle)."""
        back = "b2a" if "b2a" in self.DIRECTIONS else None
        return previews.translations(self, images, targets if self.aligned_targets else None, back)

    #: Whether the domain B examples beside domain A ones are their ground truth (aligned pairs).
    aligned_targets = False

    def call(self, inputs, training=False):
        """Domain A images -> domain B images (what `predict` returns)."""
        return self._run(self.translation_network("a2b"), inputs, training)

    def check_batch(self, images, second, whole):
        """Pairs `(a_images, b_images)`: both domains of the right shapes and range, one to one."""
        name = type(self).__name__
        if second is None:
            raise ValueError(
                f"{name} trains on batches of (domain A images, domain B images), got images only. Call "
                "fit(a_images, b_images) or pass a dataset from kerasgen.datasets.load_pairs(...) "
                "(aligned pairs) or kerasgen.datasets.load_unpaired(...)."
            )
        for domain_images, domain in ((images, "a"), (second, "b")):
            values = np.asarray(domain_images)
            self.check_images(
                values.shape, values.dtype, values, expected_shape=self.domain_shape(domain),
                what=f"domain {domain.upper()} images",
            )
        if len(images) != len(second):
            raise ValueError(
                f"{name} got {len(images)} domain A images but {len(second)} domain B images in one batch; "
                "batches must pair them one to one."
            )

    def batch_assertions(self, batch, number):
        """Both domains finite and in `value_range`, paired one to one."""
        a_images, b_images = split_batch(batch)
        sizes = tf.shape(a_images)[0], tf.shape(b_images)[0]
        return [
            self.images_assertion(a_images, number, what="domain A images"),
            self.images_assertion(b_images, number, what="domain B images"),
            assert_that(tf.equal(*sizes), f"{type(self).__name__} got {{}} domain A images but {{}} domain B "
                        f"images{BATCH_LOCATION}; batches must pair them one to one.", *sizes, number),
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "source_shape": self.source_shape,
            "adversarial_loss": self.adversarial_loss,
        }


@register(
    "pix2pix",
    family="translation",
    data="paired",
    summary="paired translation: U-Net generator, 70x70 PatchGAN on (x, y) pairs, L1 lambda = 100, D objective halved",
    paper="Isola et al., 2017",
    small_config={"base_filters": 8},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class Pix2Pix(TranslationModel):
    """pix2pix: a conditional GAN for aligned image pairs (Isola et al., 2017).

    `train_step` is one iteration of the paper's Sec. 3.3 (the authors' code
    in this order): G(x) is computed once; D takes one gradient step on the
    real pair (x, y) and the fake pair (x, G(x)) with its objective divided
    by 2; then G takes one step to fool the updated D and to stay within L1
    of y:

        L_D = 1/2 [-log D(x, y) - log(1 - D(x, G(x)))]
        L_G = -log D(x, G(x)) + lambda * mean|y - G(x)|

    The noise z of the cGAN is dropout in the U-Net decoder, active in
    training only: `translate` is deterministic (the paper notes the
    dropout noise changes outputs only slightly).

    Args:
        image_shape: `(H, W, C)` of the targets y (default 28x28x1).
        source_shape: `(H, W, C)` of the inputs x (default `image_shape`).
        generator: optional Keras model `x -> y` (default
            `networks.unet_generator`).
        discriminator: optional Keras model `[x, y] -> patch logits`
            (default `networks.patchgan_discriminator` with
            `condition_shape=source_shape`, 70x70 patches).
        l1_weight: lambda (100).
        adversarial_loss: "non_saturating" (the paper) or "least_squares".
        base_filters: width of the default networks (64 in the paper).
        value_range, seed: see `GenerativeModel`.

    Reported: `d_loss` (the halved discriminator objective), `g_loss` (the
    generator's adversarial term) and `l1_loss` (mean |y - G(x)|, unweighted).
    `compile()` uses Adam(2e-4, beta_1=0.5) for both networks.
    """

    loss_names = ("d_loss", "g_loss", "l1_loss")
    aligned_targets = True  # its training pairs are (input, ground truth)
    NETWORKS = ("generator", "discriminator")

    def __init__(
        self,
        image_shape=(28, 28, 1),
        *,
        source_shape=None,
        generator=None,
        discriminator=None,
        l1_weight=100.0,
        adversarial_loss="non_saturating",
        base_filters=64,
        **kwargs,
    ):
        super().__init__(image_shape, source_shape=source_shape, adversarial_loss=adversarial_loss, **kwargs)
        if float(l1_weight) < 0:
            raise ValueError(f"l1_weight must be >= 0, got {l1_weight}.")
        self.l1_weight = float(l1_weight)
        self.base_filters = int(base_filters)
        self.generator = generator or networks.unet_generator(
            self.source_shape, self.image_shape[-1], base_filters=self.base_filters, value_range=self.value_range
        )
        self.discriminator = discriminator or networks.patchgan_discriminator(
            self.image_shape, condition_shape=self.source_shape, base_filters=self.base_filters
        )
        self.built = True  # the networks own every weight and are built already

    def translation_network(self, direction):
        return self.generator

    def _discriminate(self, source, images, training=True):
        return self._run(self.discriminator, [source, images], training)

    # ------------------------------------------------------------ algorithm
    def train_step(self, data):
        source, target = split_batch(data)
        with tf.GradientTape() as generator_tape:
            fake = self._run(self.generator, source, training=True)
        # D: one step on real pairs (x, y) and fake pairs (x, G(x)).
        with tf.GradientTape() as discriminator_tape:
            d_loss = ops.mean(self.discriminator_loss(
                self._discriminate(source, target), self._discriminate(source, ops.stop_gradient(fake))
            ))
        self.apply_gradients(discriminator_tape, d_loss, self.discriminator_variables, self.discriminator_optimizer)
        # G: fool the updated D, stay close to y. The tape resumes on the same G(x).
        with generator_tape:
            fake_scores = self._discriminate(source, fake)
            g_loss = ops.mean(self.generator_loss(fake_scores))
            l1_loss = ops.mean(losses.mean_absolute_error(target, fake))
            total = g_loss + self.l1_weight * l1_loss
        self.apply_gradients(generator_tape, total, self.generator_variables)
        return self.record(d_loss=d_loss, g_loss=g_loss, l1_loss=l1_loss)

    def test_step(self, data):
        source, target = split_batch(data)
        fake = self._run(self.generator, source, training=False)
        fake_scores = self._discriminate(source, fake, training=False)
        d_loss = ops.mean(self.discriminator_loss(self._discriminate(source, target, training=False), fake_scores))
        g_loss = ops.mean(self.generator_loss(fake_scores))
        return self.record(d_loss=d_loss, g_loss=g_loss, l1_loss=ops.mean(losses.mean_absolute_error(target, fake)))

    def get_config(self):
        return {**super().get_config(), "l1_weight": self.l1_weight, "base_filters": self.base_filters}


@register(
    "cyclegan",
    family="translation",
    data="unpaired",
    summary="unpaired translation: two ResNet generators, two LSGAN PatchGANs, cycle lambda = 10, identity 0.5 lambda, pools of 50 past fakes",
    paper="Zhu et al., 2017",
    small_config={"base_filters": 8, "num_blocks": 1},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class CycleGAN(TranslationModel):
    """CycleGAN: unpaired translation with cycle consistency (Zhu et al., 2017).

    Networks: G = `generator_a2b` (A -> B), F = `generator_b2a` (B -> A),
    D_B = `discriminator_b` (real B vs G(a)), D_A = `discriminator_a`
    (real A vs F(b)). `train_step` is one iteration of the paper's Sec. 4
    (in the order of the authors' code):

    1. Translate both ways and back: G(a), F(G(a)), F(b), G(F(b)); with
       identity on, also G(b) and F(a).
    2. One step for G and F together on
           L = (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2
               + lambda (|F(G(a)) - a| + |G(F(b)) - b|)
               + identity_weight * lambda (|F(a) - a| + |G(b) - b|).
    3. One step for D_A and D_B together, each on real images and on fakes
       drawn through its `ImagePool` of 50 past fakes:
           L_D_B = 1/2 [(D_B(b) - 1)^2 + D_B(pool_B(G(a)))^2], likewise D_A.

    Args:
        image_shape: `(H, W, C)` of domain B (default 28x28x1).
        source_shape: `(H, W, C)` of domain A (default `image_shape`).
        generator_a2b, generator_b2a: optional Keras models (default
            `networks.resnet_generator`).
        discriminator_a, discriminator_b: optional Keras models (default
            `networks.patchgan_discriminator` with instance norm).
        cycle_weight: lambda (10).
        identity_weight: the identity loss weight as a fraction of lambda
            (0.5, as in the authors' code; the paper's Sec. 5.2). 0 turns it
            off, which domains with different channel counts require.
        pool_size: fakes each discriminator's `ImagePool` keeps (50).
        adversarial_loss: "least_squares" (the paper) or "non_saturating".
        base_filters, num_blocks: width and residual blocks of the default
            generators (64 and 6 or 9 in the paper; `num_blocks=None` picks
            by image size) and width of the default discriminators.
        value_range, seed: see `GenerativeModel`.

    Reported: `d_a_loss`, `d_b_loss` (halved), `g_a2b_loss`, `g_b2a_loss`
    (adversarial terms), `cycle_a_loss` = mean|F(G(a)) - a|, `cycle_b_loss`
    = mean|G(F(b)) - b| and, with identity on, `identity_a_loss` =
    mean|F(a) - a|, `identity_b_loss` = mean|G(b) - b| (all unweighted).
    `compile()` uses Adam(2e-4, beta_1=0.5) for both sides; the paper's
    linear decay is `kerasgen.schedules.ConstantThenLinearDecay`.
    """

    DIRECTIONS = ("a2b", "b2a")
    NETWORKS = ("generator_a2b", "generator_b2a", "discriminator_a", "discriminator_b")
    loss_names = ("d_a_loss", "d_b_loss", "g_a2b_loss", "g_b2a_loss", "cycle_a_loss", "cycle_b_loss")

    def __init__(
        self,
        image_shape=(28, 28, 1),
        *,
        source_shape=None,
        generator_a2b=None,
        generator_b2a=None,
        discriminator_a=None,
        discriminator_b=None,
        cycle_weight=10.0,
        identity_weight=0.5,
        pool_size=50,
        adversarial_loss="least_squares",
        base_filters=64,
        num_blocks=None,
        **kwargs,
    ):
        super().__init__(image_shape, source_shape=source_shape, adversarial_loss=adversarial_loss, **kwargs)
        if float(cycle_weight) < 0 or float(identity_weight) < 0:
            raise ValueError(f"cycle_weight and identity_weight must be >= 0, got {cycle_weight}, {identity_weight}.")
        if float(identity_weight) and self.source_shape != self.image_shape:
            raise ValueError(
                f"The identity loss feeds domain B images {self.image_shape} to G: A -> B, which takes "
                f"{self.source_shape}; pass identity_weight=0 for domains of different shapes."
            )
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.pool_size = int(pool_size)
        self.base_filters = int(base_filters)
        self.num_blocks = None if num_blocks is None else int(num_blocks)

        def generator(source, target, name):
            return networks.resnet_generator(
                source, target[-1], base_filters=self.base_filters, num_blocks=self.num_blocks,
                value_range=self.value_range, name=name,
            )

        def discriminator(shape, name):
            return networks.patchgan_discriminator(
                shape, base_filters=self.base_filters, normalization="instance", name=name
            )

        self.generator_a2b = generator_a2b or generator(self.source_shape, self.image_shape, "generator_a2b")
        self.generator_b2a = generator_b2a or generator(self.image_shape, self.source_shape, "generator_b2a")
        self.discriminator_a = discriminator_a or discriminator(self.source_shape, "discriminator_a")
        self.discriminator_b = discriminator_b or discriminator(self.image_shape, "discriminator_b")
        # Past fakes of each domain, for its discriminator.
        self.pool_a = ImagePool(self.pool_size, name="pool_a")
        self.pool_b = ImagePool(self.pool_size, name="pool_b")
        self.pool_a.build((None, *self.source_shape))
        self.pool_b.build((None, *self.image_shape))
        if self.identity_weight:
            self.add_trackers("identity_a_loss", "identity_b_loss")
        self.built = True

    @property
    def generator_variables(self):
        return self.generator_a2b.trainable_variables + self.generator_b2a.trainable_variables

    @property
    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    def translation_network(self, direction):
        return self.generator_a2b if direction == "a2b" else self.generator_b2a

    # ------------------------------------------------------------ algorithm
    def generator_objective(self, real_a, real_b, training):
        """Step 1 and the generators' loss of step 2: (total, fakes (G(a), F(b)), reported terms)."""
        fake_b = self._run(self.generator_a2b, real_a, training)
        fake_a = self._run(self.generator_b2a, real_b, training)
        cycled_a = self._run(self.generator_b2a, fake_b, training)
        cycled_b = self._run(self.generator_a2b, fake_a, training)
        g_a2b = ops.mean(self.generator_loss(self._run(self.discriminator_b, fake_b, training)))
        g_b2a = ops.mean(self.generator_loss(self._run(self.discriminator_a, fake_a, training)))
        terms = {
            "g_a2b_loss": g_a2b,
            "g_b2a_loss": g_b2a,
            "cycle_a_loss": ops.mean(losses.mean_absolute_error(real_a, cycled_a)),
            "cycle_b_loss": ops.mean(losses.mean_absolute_error(real_b, cycled_b)),
        }
        total = g_a2b + g_b2a + self.cycle_weight * (terms["cycle_a_loss"] + terms["cycle_b_loss"])
        if self.identity_weight:
            terms["identity_a_loss"] = ops.mean(
                losses.mean_absolute_error(real_a, self._run(self.generator_b2a, real_a, training)))
            terms["identity_b_loss"] = ops.mean(
                losses.mean_absolute_error(real_b, self._run(self.generator_a2b, real_b, training)))
            total += self.identity_weight * self.cycle_weight * (terms["identity_a_loss"] + terms["identity_b_loss"])
        return total, (fake_b, fake_a), terms

    def discriminator_losses(self, real_a, real_b, fake_a, fake_b, training):
        """Step 3's losses `(L_D_A, L_D_B)`: each discriminator on real images and fakes of its domain."""
        d_a = ops.mean(self.discriminator_loss(
            self._run(self.discriminator_a, real_a, training), self._run(self.discriminator_a, fake_a, training)))
        d_b = ops.mean(self.discriminator_loss(
            self._run(self.discriminator_b, real_b, training), self._run(self.discriminator_b, fake_b, training)))
        return d_a, d_b

    def train_step(self, data):
        real_a, real_b = split_batch(data)
        with tf.GradientTape() as tape:
            total, (fake_b, fake_a), terms = self.generator_objective(real_a, real_b, training=True)
        self.apply_gradients(tape, total, self.generator_variables)
        # Discriminators train on a history of fakes (CycleGAN Sec. 4, Shrivastava et al.).
        pooled_b = self.pool_b(ops.stop_gradient(fake_b), seed=self.seed_generator)
        pooled_a = self.pool_a(ops.stop_gradient(fake_a), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            d_a_loss, d_b_loss = self.discriminator_losses(real_a, real_b, pooled_a, pooled_b, training=True)
            d_total = d_a_loss + d_b_loss
        self.apply_gradients(tape, d_total, self.discriminator_variables, self.discriminator_optimizer)
        return self.record(d_a_loss=d_a_loss, d_b_loss=d_b_loss, **terms)

    def test_step(self, data):
        real_a, real_b = split_batch(data)
        _, (fake_b, fake_a), terms = self.generator_objective(real_a, real_b, training=False)
        d_a_loss, d_b_loss = self.discriminator_losses(real_a, real_b, fake_a, fake_b, training=False)
        return self.record(d_a_loss=d_a_loss, d_b_loss=d_b_loss, **terms)

    def get_config(self):
        return {
            **super().get_config(),
            "cycle_weight": self.cycle_weight,
            "identity_weight": self.identity_weight,
            "pool_size": self.pool_size,
            "base_filters": self.base_filters,
            "num_blocks": self.num_blocks,
        }
