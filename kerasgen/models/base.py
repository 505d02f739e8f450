"""Shared machinery for kerasgen models.

`GenerativeModel` holds what every model in the zoo has in common: the
image shape and value range it expects (and checks), a `SeedGenerator`
that owns its randomness (one stream per replica under a strategy),
`keras.metrics.Mean` trackers for every reported loss, gradient steps that
average over the global batch under a `tf.distribute` strategy, and
`get_config` for the shared arguments.
Subclasses add their networks and write `train_step` / `test_step` as the
algorithm box of their paper.
"""

from __future__ import annotations

import copy
import contextlib
import functools
import math
import operator
import re
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasgen.serving import RANGE_TOLERANCE as _RANGE_TOLERANCE  # one tolerance for fit and serving


def values_at_hand(array):
    """`(array, values)`: `array` (as NumPy if it was neither a tensor nor an array) and its values as
    NumPy where they can be read now (NumPy, eager tensors), None while tracing, so that checks of
    values run whenever they can and never force a graph tensor."""
    if getattr(array, "shape", None) is None:
        array = np.asarray(array)
    if isinstance(array, np.ndarray):
        return array, array
    eager = tf.is_tensor(array) and tf.executing_eagerly() and not keras.backend.is_keras_tensor(array)
    return array, (np.asarray(array) if eager else None)


def split_batch(data):
    """Splits a Keras batch into `(images, second or None)`.

    `second` is whatever the model's `TrainingData` pairs with the images:
    class labels, image indices (GLO, GLANN) or domain B images (translation).
    Accepts what `fit` passes to `train_step`: `images`, `(images,)`,
    `(images, second)` or `(images, second, sample_weight)`.
    """
    images, second, _ = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(images, (list, tuple)) and len(images) == 2 and second is None:
        images, second = images
    return images, second


# Messages of the in-pipeline input checks travel inside TensorFlow's
# InvalidArgumentError between these marks; `fit`/`evaluate` raise them as ValueError.
_CHECK_OPEN, _CHECK_CLOSE = "<<kerasgen input check: ", " :kerasgen input check>>"
#: Where an in-pipeline check failed; its `{}` is filled with the batch number.
BATCH_LOCATION = " in batch {} of the epoch"


@contextlib.contextmanager
def input_errors_as_value_errors():
    """Re-raises a failed in-pipeline input check (`GenerativeModel.batch_assertions`) as ValueError."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        found = re.search(re.escape(_CHECK_OPEN) + "(.*?)" + re.escape(_CHECK_CLOSE), error.message, re.S)
        if found is None:
            raise
        raise ValueError(found.group(1)) from None


def assert_that(condition, template, *values):
    """A `tf.debugging.Assert` op whose message is `template` with `{}` filled by `values` in graph.

    The message is raised by `fit`/`evaluate` as a ValueError (see `input_errors_as_value_errors`).
    """
    message = tf.strings.format(_CHECK_OPEN + template + _CHECK_CLOSE, values, summarize=-1)
    return tf.debugging.Assert(condition, [message])


def sampler(generate):
    """Decorates `generate(num_samples, ...)`: ValueError unless `num_samples` is an int >= 0, and
    `(0, H, W, C)` float32 images for 0 (some networks mis-shape empty batches)."""

    @functools.wraps(generate)
    def checked(self, num_samples, *args, **kwargs):
        try:
            count = operator.index(num_samples)
        except TypeError:
            raise ValueError(f"num_samples must be an int >= 0, got {num_samples!r}.") from None
        if count < 0:
            raise ValueError(f"num_samples must be an int >= 0, got {count}.")
        if count == 0:
            return ops.zeros((0, *self.image_shape), "float32")
        return generate(self, count, *args, **kwargs)

    return checked


def scale_gradient(gradient, scale):
    """gradient * scale for dense gradients and IndexedSlices (gathered rows of a table); None stays None."""
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values * ops.cast(scale, gradient.values.dtype), gradient.indices,
                                gradient.dense_shape)
    return gradient * ops.cast(scale, gradient.dtype)


def _loss_scale(optimizer):
    """The current loss scale of a `LossScaleOptimizer` (float32 scalar), else None."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.scale_loss(ops.ones((), "float32"))
    return None


def num_replicas():
    """Replicas in sync under the current `tf.distribute` strategy (1 outside one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


# Odd multiplier (2**32 / golden ratio) spreading replica ids over the counter
# half of the seed; Keras's TF backend reduces seeds mod 2**31 - 2, where this
# is still 506952115, so replica streams are ~5e8 draws apart.
_REPLICA_SEED_STRIDE = 0x9E3779B1


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A `keras.random.SeedGenerator` that gives each replica its own stream.

    Under a `tf.distribute` strategy every replica holds a mirrored copy of
    the generator's `state` and advances it identically, so a plain
    SeedGenerator hands every replica the same seed: the same z in a GAN step,
    the same eps in a VAE. `next()` here returns the parent's seed with the
    replica id (`replica_id_in_sync_group`, global across workers) folded in,
    `seed + [0, replica_id * _REPLICA_SEED_STRIDE]`; the state itself is
    advanced exactly as by the parent, so it stays identical on all replicas
    and saves/loads unchanged. Outside a strategy, in the default replica
    context and in cross-replica context the id is 0 and the seed is returned
    untouched: single-device streams are bit-identical to a plain
    SeedGenerator's.
    """

    def next(self, ordered=True):
        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()  # None in cross-replica context
        replica_id = 0 if context is None else context.replica_id_in_sync_group
        if isinstance(replica_id, int) and replica_id == 0:  # a Python 0: no strategy
            return seed
        offset = tf.cast(replica_id, seed.dtype) * _REPLICA_SEED_STRIDE
        return seed + tf.stack([tf.zeros_like(offset), offset])


class GenerativeModel(keras.Model):
    """Base class: shapes, value range, randomness, trackers and optimizer steps.

    Args:
        latent_dim: size of the latent code (None for models without one).
        image_shape: `(height, width, channels)` of the NHWC float32 images.
        value_range: `(low, high)` the images live in; inputs outside it are
            refused by `fit`/`evaluate` and generated images come back in it.
        num_classes: number of classes for conditional models, else None.
        seed: seed of the model's `ReplicaSeedGenerator` (a
            `keras.random.SeedGenerator` whose draws differ between replicas
            of a `tf.distribute` strategy); None draws one from Keras's global
            seed (`keras.utils.set_random_seed`).
    """

    #: Names of the scalar terms each step reports; subclasses override.
    loss_names = ("loss",)
    #: Network attributes that get_config serializes and from_config rebuilds.
    NETWORKS = ("encoder", "decoder", "generator", "discriminator")

    def __init__(
        self,
        latent_dim,
        image_shape,
        *,
        value_range=(-1.0, 1.0),
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_jit = self.xla_unsupported is None  # Keras reads it for jit_compile="auto"
        if latent_dim is not None and int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}.")
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(
                f"image_shape must be (height, width, channels), got {tuple(image_shape)}. "
                "Grayscale images need a channel axis, e.g. (28, 28, 1)."
            )
        low, high = (float(v) for v in value_range)
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}.")
        self.latent_dim = None if latent_dim is None else int(latent_dim)  # None: no latent code (PixelCNN)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.value_range = (low, high)
        self.num_classes = int(num_classes) if num_classes else None
        self.seed = seed
        # Draws differ between replicas under a tf.distribute strategy.
        self.seed_generator = ReplicaSeedGenerator(seed, name="seed_generator")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.loss_names}

    # ------------------------------------------------------------- protocol
    # What the tooling asks a model instead of switching on its family: the CLI,
    # kerasgen.export, SampleGrid, kerasgen.testing and the zoo benchmark.

    #: Images per update that `kerasgen train` uses without --batch-size.
    default_batch_size = 128
    #: Whether training batches must be full (a model that splits each batch, like a GAN's k minibatches).
    drop_remainder = False

    def fit_batch_size(self, batch_size):
        """Images per `fit` batch for `batch_size` images per update (a GAN takes k minibatches)."""
        return int(batch_size)

    def serving_endpoints(self):
        """`{signature name: kerasgen.serving.Endpoint}`, `serving_default` first, for `kerasgen.export`.

        Each endpoint names its batched inputs and computes its named outputs
        with the model's public methods; one endpoint under two names is one
        signature with an alias. The base class serves nothing.
        """
        return {}

    def serving_metadata(self):
        """Extra entries for the export's `kerasgen_export.json` (e.g. a translation model's source_shape)."""
        return {}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """`{name: kerasgen.previews picture}`: what `SampleGrid` draws after an epoch.

        `images`, `labels`, `targets`: held-out examples of the model's
        `TrainingData` (`TrainingData.examples`); `num_samples` images are
        sampled with `seed`; `options` (e.g. `manifold_size`, the side of a
        2-D latent manifold) tune particular pictures. The base class draws nothing.
        """
        return {}

    # --------------------------------------------------------- weight averages
    def ema_copy(self, network):
        """A frozen copy of `network` holding the exponential moving average of its weights.

        Sampling with averaged weights (Karras et al., 2018; Ho et al., 2020)
        removes the step-to-step jitter of the live ones; `update_ema` moves it.
        """
        average = keras.models.clone_model(network)
        average.set_weights(network.get_weights())
        average.trainable = False
        return average

    def update_ema(self, average, network, decay, step=None):
        """theta_ema <- d * theta_ema + (1 - d) * theta, d = min(decay, (1 + t) / (10 + t)).

        The warm-up of `tf.train.ExponentialMovingAverage(num_updates=t)`:
        with `decay` = 0.999 the first averages would otherwise stay ~1000
        steps dominated by the initial weights. `t` is `step`, by default
        `model.optimizer.iterations` (the updates of `network`'s optimizer).
        """
        t = ops.cast(self.optimizer.iterations if step is None else step, "float32")
        d = ops.minimum(ops.cast(decay, "float32"), (1.0 + t) / (10.0 + t))
        for mean, weight in zip(average.weights, network.weights):
            mean.assign(ops.cast(d, mean.dtype) * mean + ops.cast(1.0 - d, mean.dtype) * ops.cast(weight, mean.dtype))

    # ----------------------------------------------------------------- metrics
    def add_trackers(self, *names):
        """Adds `keras.metrics.Mean` trackers for terms decided by constructor arguments."""
        for name in names:
            self.trackers.setdefault(name, keras.metrics.Mean(name=name))

    @property
    def metrics(self):
        # Listing the trackers here makes Keras reset them every epoch.
        return list(self.trackers.values())

    def record(self, **values):
        """Updates the named trackers and returns every tracker's current mean."""
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # -------------------------------------------------------------- optimizing
    def apply_gradients(self, tape, loss, variables, optimizer=None):
        """One optimizer step on `variables` for a per-replica mean `loss` (see `apply_gradient_groups`)."""
        self.apply_gradient_groups(tape, loss, [(variables, optimizer or self.optimizer)])

    def apply_gradient_groups(self, tape, loss, groups):
        """One backward pass of `loss`, then a step of each `(variables, optimizer)` group.

        Under a `tf.distribute` strategy the optimizer sums gradients over
        replicas, so the per-replica mean's gradients are divided by the
        replica count to give the gradient of the global-batch mean. (The
        scaling is applied to the gradients, not the loss, because the loss was
        recorded on `tape`.)

        Loss scaling (mixed_float16, where `compile` wraps every optimizer in a
        `keras.optimizers.LossScaleOptimizer`): the backward pass starts from
        the first group's loss scale S instead of 1 (`output_gradients`, so it
        differentiates S * loss, keeping float16 gradients above underflow);
        each group's gradients are brought to its own optimizer's scale, and
        that optimizer divides them by it, skips its step if any is not finite
        (halving its scale) and otherwise grows the scale every 2000 steps.
        """
        variables = [v for group, _ in groups for v in group]
        scales = [_loss_scale(optimizer) for _, optimizer in groups]
        first = scales[0]
        gradients = tape.gradient(
            loss, variables, output_gradients=None if first is None else ops.cast(first, loss.dtype)
        )
        start = 0
        for (group, optimizer), own in zip(groups, scales):
            factor = 1.0 / num_replicas()
            if own is not None or first is not None:
                factor = factor * (1.0 if own is None else own) / (1.0 if first is None else first)
            pairs = zip(gradients[start : start + len(group)], group)
            optimizer.apply_gradients([(scale_gradient(g, factor), v) for g, v in pairs])
            start += len(group)

    def named_optimizers(self):
        """`{attribute: optimizer}` of every optimizer the model steps (`optimizer` first)."""
        return {"optimizer": self.optimizer}

    def loss_scaled(self, optimizer):
        """`optimizer`, wrapped in a `LossScaleOptimizer` when this model computes in float16.

        Keras's `compile` wraps `model.optimizer` only; models call this for
        each further optimizer (a GAN's discriminator's, GLO's codes', ...).
        """
        if self.dtype_policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return keras.optimizers.LossScaleOptimizer(optimizer, name=f"loss_scale_{optimizer.name}")
        return optimizer

    def optimizer_updates_after(self, fit_steps, from_start=False):
        """`model.optimizer.iterations` after `fit_steps` more fit steps (from an untrained model
        with `from_start=True`): one update per step, unless a model's schedule skips some."""
        return (0 if from_start else int(self.optimizer.iterations.numpy())) + int(fit_steps)

    def default_optimizer(self):
        """The optimizer `compile()` uses when given none: Adam(1e-3) unless a model says otherwise."""
        return keras.optimizers.Adam(1e-3)

    def compile(self, optimizer=None, **kwargs):
        """`compile()` with no optimizer uses `default_optimizer()` (GANs override with two optimizers).

        `jit_compile` is Keras's (default "auto": XLA on a single GPU). A model
        whose step XLA cannot compile says so in `xla_unsupported`; it then
        trains in graph mode with a one-line warning instead of failing.
        """
        kwargs["jit_compile"] = self._checked_jit_compile(kwargs.get("jit_compile", "auto"))
        super().compile(optimizer=optimizer or self.default_optimizer(), **kwargs)

    #: Why XLA cannot compile this model's train step (a sentence), or None when it can.
    xla_unsupported = None

    def _checked_jit_compile(self, jit_compile):
        """`jit_compile`, or False (with a warning) where XLA was asked for but cannot compile the step."""
        blockers = [layer.name for layer in self._flatten_layers() if not layer.supports_jit]
        if (self.xla_unsupported is None and not blockers) or jit_compile is False:
            return jit_compile
        if jit_compile == "auto" and not any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
            return False  # "auto" means no XLA on CPU-only machines anyway
        reason = self.xla_unsupported or f"its layer {blockers[0]!r} does not support XLA"
        warnings.warn(f"{type(self).__name__} trains without XLA (jit_compile=False): {reason}.", stacklevel=3)
        return False

    def compile_from_config(self, config):
        # Keras skips compile() on load for models that override it; ours only
        # add defaults, so re-compiling from the saved config is safe, and
        # building the optimizer lets load_model restore its state.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------ value range
    def to_unit_interval(self, images):
        """Maps images from `value_range` to [0, 1]."""
        low, high = self.value_range
        return (images - low) / (high - low)

    def from_unit_interval(self, images):
        """Maps images from [0, 1] to `value_range`."""
        low, high = self.value_range
        return low + images * (high - low)

    # ------------------------------------------------------------ likelihoods
    @property
    def num_dims(self):
        """Sub-pixels per image, H * W * C."""
        return int(np.prod(self.image_shape))

    def to_bits_per_dim(self, nats):
        """A negative log-likelihood per image in nats -> bits per sub-pixel, nats / (H * W * C * ln 2)."""
        return nats / (self.num_dims * math.log(2.0))

    # -------------------------------------------------------- input checking
    def fit(self, x=None, y=None, *args, check_inputs=True, **kwargs):
        """`keras.Model.fit` after checking its data (see `check_training_data`).

        With `check_inputs=True` (the default) every batch of a `tf.data.Dataset`
        is checked in the input pipeline too (`batch_assertions`: value range, NaN,
        labels), so a bad batch late in an epoch fails with the same ValueError as
        a bad first batch. `check_inputs=False` skips the per-batch checks.
        """
        self.check_training_data(x, y, kwargs.get("batch_size"))
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # the pipeline shuffles; Keras would warn
            if check_inputs:
                x = self.checked_batches(x)
        validation = kwargs.get("validation_data")
        if check_inputs and isinstance(validation, tf.data.Dataset):
            kwargs["validation_data"] = self.checked_batches(validation)
        with input_errors_as_value_errors():
            return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, check_inputs=True, **kwargs):
        """`keras.Model.evaluate` after the checks of `fit`."""
        self.check_training_data(x, y)
        if check_inputs and isinstance(x, tf.data.Dataset):
            x = self.checked_batches(x)
        with input_errors_as_value_errors():
            return super().evaluate(x, y, *args, **kwargs)

    def checked_batches(self, dataset):
        """`dataset` with `batch_assertions` run on every batch inside the pipeline.

        The checks run in tf.data's threads, beside the prefetching, not in the
        (possibly XLA-compiled) training step.
        """

        def check(index, batch):
            with tf.control_dependencies(self.batch_assertions(batch, index + 1)):
                return tf.nest.map_structure(tf.identity, batch)

        return dataset.enumerate().map(check, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def batch_assertions(self, batch, number):
        """Assertion ops on one batch (`number`: its 1-based position in the epoch).

        Images must be finite and in `value_range`, labels of conditional models
        in `[0, num_classes)`. Subclasses with other batch structures or
        constraints extend it.
        """
        images, labels = split_batch(batch)
        checks = [self.images_assertion(images, number)]
        if self.num_classes and labels is not None:
            checks.append(self.labels_assertion(labels, number))
        return checks

    def _range_template(self, what, location=""):
        low, high = self.value_range
        return (
            f"{type(self).__name__} expects {what} in [{low:g}, {high:g}], got values in [{{}}, {{}}]{location}. "
            f"Load them with kerasgen.datasets.load(..., value_range=({low:g}, {high:g})) "
            "or build the model with value_range matching your data."
        )

    def images_assertion(self, images, number, what="images"):
        """Assertion op: `images` are finite and within `value_range` (plus the tolerance)."""
        low, high = self.value_range
        values = tf.cast(images, tf.float32)
        ok = tf.reduce_all(tf.logical_and(values >= low - _RANGE_TOLERANCE, values <= high + _RANGE_TOLERANCE))
        any_nan = tf.reduce_any(tf.math.is_nan(values))
        nan = tf.constant(float("nan"))
        vmin = tf.where(any_nan, nan, tf.reduce_min(values))
        vmax = tf.where(any_nan, nan, tf.reduce_max(values))
        return assert_that(ok, self._range_template(what, BATCH_LOCATION), vmin, vmax, number)

    def labels_assertion(self, labels, number):
        """Assertion op: class labels in `[0, num_classes)`."""
        labels = tf.cast(labels, tf.int64)
        ok = tf.reduce_all(tf.logical_and(labels >= 0, labels < self.num_classes))
        return assert_that(ok, self._labels_template(BATCH_LOCATION), tf.reduce_min(labels), tf.reduce_max(labels),
                           number)

    def _labels_template(self, location=""):
        return f"{type(self).__name__} was built with num_classes={self.num_classes}, got labels in [{{}}, {{}}]{location}."

    def check_training_data(self, x, y=None, batch_size=None):
        """Checks shape, dtype, value range (and labels) of what `fit` receives.

        NumPy arrays and tensors are checked whole (`check_batch`); of a
        `tf.data.Dataset` the first batch is checked here (and, by `fit`, every
        batch in the pipeline). Raises ValueError with what is wrong and how to
        fix it. Returns the size of the first batch `fit` will see (Keras
        batches arrays by 32 unless told), or None.
        """
        if x is None:
            return None
        if isinstance(x, tf.data.Dataset):
            first = next(iter(x.take(1)), None)
            if first is None:
                raise ValueError(f"{type(self).__name__}: the dataset is empty.")
            images, second = split_batch(first)
            self.check_batch(images, second, whole=False)
            return int(images.shape[0])
        images, second = split_batch((x, y) if y is not None else x)
        if hasattr(images, "shape") and not images.shape[0]:
            raise ValueError(f"{type(self).__name__}: got an empty array of images (shape {tuple(images.shape)}); "
                             "there is nothing to train on.")
        self.check_batch(images, second, whole=True)
        return min(batch_size or 32, len(images))

    def check_batch(self, images, second, whole):
        """ValueError unless `(images, second)` (one batch, or all the data if `whole`) is right.

        Images must be float NHWC `image_shape` in `value_range`; conditional
        models need integer labels in `[0, num_classes)` (one per image when
        `whole`). Models whose batches carry something else extend it.
        """
        if isinstance(images, (np.ndarray, tf.Tensor)):
            self.check_images(images.shape, images.dtype, np.asarray(images))
        if self.num_classes:
            self.check_labels(second, len(images) if whole else None)

    def check_images(self, shape, dtype, values=None, expected_shape=None, what="images"):
        """ValueError unless `what` (e.g. "images") are float NHWC `expected_shape` in `value_range`.

        `expected_shape` defaults to `image_shape`; `values` (a NumPy array)
        are range-checked when given.
        """
        name = type(self).__name__
        expected_shape = tuple(expected_shape or self.image_shape)
        if len(shape) != 4 or tuple(shape[1:]) != expected_shape:
            raise ValueError(
                f"{name} expects NHWC {what} of shape (batch, {', '.join(map(str, expected_shape))}), "
                f"got {tuple(shape)}. Add a channel axis (images[..., None]) for grayscale data, "
                "or build the model with a matching image_shape."
            )
        if not tf.as_dtype(dtype).is_floating:
            raise ValueError(
                f"{name} expects float {what} in {self.value_range}, got dtype {tf.as_dtype(dtype).name}. "
                "Scale them with kerasgen.datasets.to_value_range(images, model.value_range) "
                "or load them with kerasgen.datasets.load(...)."
            )
        if values is not None and values.size:
            low, high = self.value_range
            vmin, vmax = float(values.min()), float(values.max())
            if np.isnan(vmin) or vmin < low - _RANGE_TOLERANCE or vmax > high + _RANGE_TOLERANCE:
                raise ValueError(self._range_template(what).format(f"{vmin:g}", f"{vmax:g}"))

    def check_labels(self, labels, count=None):
        """ValueError unless `labels` are integer class ids in `[0, num_classes)` (`count` of them, if given)."""
        name = type(self).__name__
        if labels is None:
            raise ValueError(
                f"{name} is conditional and needs class labels: call fit(images, labels) or pass a "
                "dataset of (images, labels), e.g. kerasgen.datasets.load(..., with_labels=True)."
            )
        values = np.asarray(labels)
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} expects integer class labels, got dtype {values.dtype}.")
        if count is not None and (values.ndim != 1 or len(values) != count):
            raise ValueError(f"{name} got {count} images but labels of shape {values.shape}: pass one label per image.")
        if values.size and (values.min() < 0 or values.max() >= self.num_classes):
            raise ValueError(self._labels_template().format(values.min(), values.max()))

    def default_labels(self, num_samples, labels=None):
        """Labels for conditional sampling: `labels` checked, or 0, 1, ..., cycling."""
        if labels is None:
            labels = np.arange(num_samples) % self.num_classes
        labels = np.asarray(labels, dtype="int32").reshape(-1)
        if labels.shape[0] != num_samples:
            raise ValueError(f"Got {labels.shape[0]} labels for {num_samples} samples.")
        self.check_labels(labels)
        return labels

    def sample_latents(self, num_samples, seed=None):
        """`(num_samples, latent_dim)` draws from the prior N(0, I).

        `seed=None` advances the model's SeedGenerator; an int gives the same
        draws every time.
        """
        return keras.random.normal(
            (num_samples, self.latent_dim),
            seed=self.seed_generator if seed is None else seed,
        )

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            image_shape=self.image_shape,
            value_range=self.value_range,
            seed=self.seed,
        )
        if self.num_classes:
            config["num_classes"] = self.num_classes
        for attribute in self.NETWORKS:
            if hasattr(self, attribute):
                config[attribute] = keras.saving.serialize_keras_object(getattr(self, attribute))
        return config

    # Keras does not save SeedGenerator state; without it a reloaded model would
    # replay the noise stream from its start instead of resuming it.
    _SEED_STATE_KEY = "seed_generator_state"

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[self._SEED_STATE_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        if self._SEED_STATE_KEY in keys:
            self.seed_generator.state.assign(store[self._SEED_STATE_KEY])
        super().load_own_variables({key: store[key] for key in keys if key != self._SEED_STATE_KEY})

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserializing consumes nested configs
        for key in cls.NETWORKS:
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class SeparateOptimizers:
    """`compile` with one optimizer per group of variables, all saved and restored with the model.

    A mixin for `GenerativeModel`s trained by several optimizers. `OPTIMIZERS`
    lists `(compile keyword, model attribute, variables property)` per group;
    the first group's optimizer is `model.optimizer` (Keras wraps it for loss
    scaling, and its `iterations` counts that group's updates), the others
    are wrapped by `loss_scaled`. `compile()` without optimizers uses
    `default_optimizers()`, the paper's, in `OPTIMIZERS` order; `optimizer=`
    is another name for the first. Every optimizer is built at compile time
    (inside the strategy scope compile() runs in), each for its own variables
    only, so none is created lazily inside a replicated train step.
    """

    OPTIMIZERS = ()

    def default_optimizers(self):
        """The optimizers `compile()` uses when given none, one per `OPTIMIZERS` entry."""
        raise NotImplementedError

    def compile(self, *optimizers, optimizer=None, **kwargs):
        keywords = [keyword for keyword, _, _ in self.OPTIMIZERS]
        if len(optimizers) > len(keywords):
            raise TypeError(f"{type(self).__name__}.compile takes at most {len(keywords)} optimizers ({keywords}).")
        given = dict(zip(keywords, optimizers))
        given.update({keyword: kwargs.pop(keyword) for keyword in keywords if keyword in kwargs})
        given.setdefault(keywords[0], optimizer)
        chosen = [keras.optimizers.get(given.get(keyword) or default)
                  for keyword, default in zip(keywords, self.default_optimizers())]
        for (_, attribute, _), other in zip(self.OPTIMIZERS[1:], chosen[1:]):
            setattr(self, attribute, self.loss_scaled(other))
        super().compile(optimizer=chosen[0], **kwargs)
        for _, attribute, variables in self.OPTIMIZERS:
            getattr(self, attribute).build(getattr(self, variables))

    def named_optimizers(self):
        return {attribute: getattr(self, attribute) for _, attribute, _ in self.OPTIMIZERS}

    @property
    def generator_variables(self):
        """The variables `model.optimizer` updates: the `generator` network's (models with more override it)."""
        return self.generator.trainable_variables

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {keyword: keras.saving.serialize_keras_object(getattr(self, attribute))
                for keyword, attribute, _ in self.OPTIMIZERS}

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))


class AdversarialOptimizers(SeparateOptimizers):
    """Two players (GANs, pix2pix, CycleGAN): `model.optimizer` updates `generator_variables`
    (its `iterations` counts generator updates) and `model.discriminator_optimizer` updates
    `discriminator_variables`; `compile()` alone uses the paper's. Models with more networks
    override the two properties."""

    OPTIMIZERS = (("generator_optimizer", "optimizer", "generator_variables"),
                  ("discriminator_optimizer", "discriminator_optimizer", "discriminator_variables"))

    @property
    def discriminator_variables(self):
        """The variables `model.discriminator_optimizer` updates."""
        return self.discriminator.trainable_variables
