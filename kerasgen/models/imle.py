"""Implicit Maximum Likelihood Estimation, IMLE (Li & Malik, 2018, "Implicit
Maximum Likelihood Estimation"), and the batched nearest-neighbour search it
(and GLANN's mapper) is built on.

IMLE trains a generator G without a discriminator by making sure every data
point has a generated sample close to it. The paper's Algorithm 1:

    for k = 1 .. K:
        pick a random batch S of data points
        draw m latent codes z_1 .. z_m ~ N(0, I), compute x~_j = G_theta(z_j)
        for each x_i in S: sigma(i) = argmin_j ||x_i - x~_j||^2
        for l = 1 .. L:
            pick a random mini-batch S~ of S
            theta <- theta - eta * grad_theta sum_{i in S~} ||x_i - G_theta(z_sigma(i))||^2 / |S~|

Every data point pulls its nearest sample towards itself, which (unlike a GAN,
where samples pull towards the data) rules out mode dropping: no data point is
left without a nearby sample. The authors find nearest neighbours with DCI
(Dynamic Continuous Indexing); here the search is exact and brute force.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kerasgen import networks, previews, serving
from kerasgen.models.base import GenerativeModel, sampler, split_batch
from kerasgen.models.registry import register


def nearest_neighbours(queries, candidates, chunk_size=1024):
    """Exact nearest candidate of every query under the squared Euclidean distance.

    A batched on-device search: candidates are processed in chunks of
    `chunk_size` rows; for each chunk the `(n, chunk)` distance matrix is
    ||q||^2 - 2 q.c + ||c||^2 (one matmul), and a running minimum keeps the
    best candidate seen so far, so memory stays O(n * chunk_size) whatever
    the number of candidates m. Ties are resolved deterministically towards
    the lowest candidate index (within a chunk explicitly, across chunks
    because only a strictly smaller distance replaces the running best).

    Args:
        queries: `(n, ...)` tensor (flattened to `(n, D)`, cast to float32).
        candidates: `(m, ...)` tensor with the same trailing size D, m >= 1.
        chunk_size: candidates per distance matrix (any positive int; it
            need not divide m).

    Returns:
        `(indices, squared_distances)`: int32 `(n,)` positions in `candidates`
        and float32 `(n,)` values ||q_i - c_{indices_i}||^2, recomputed
        exactly from the difference (the expansion above is only used to
        rank candidates, as it loses precision to cancellation).
    """
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    queries = tf.convert_to_tensor(queries)
    candidates = tf.convert_to_tensor(candidates)
    queries = tf.cast(tf.reshape(queries, (tf.shape(queries)[0], -1)), tf.float32)
    candidates = tf.cast(tf.reshape(candidates, (tf.shape(candidates)[0], -1)), tf.float32)
    if candidates.shape[0] == 0:
        raise ValueError("nearest_neighbours needs at least one candidate.")
    num_queries = tf.shape(queries)[0]
    num_candidates = tf.shape(candidates)[0]
    query_norms = tf.reduce_sum(tf.square(queries), axis=1, keepdims=True)  # (n, 1)
    num_chunks = (num_candidates + chunk_size - 1) // chunk_size
    no_index = tf.int32.max

    def search_chunk(step, best_index, best_distance):
        start = step * chunk_size
        block = candidates[start : start + chunk_size]
        distances = (
            query_norms
            - 2.0 * tf.matmul(queries, block, transpose_b=True)
            + tf.reduce_sum(tf.square(block), axis=1)[None, :]
        )
        block_min = tf.reduce_min(distances, axis=1)
        positions = tf.range(tf.shape(block)[0], dtype=tf.int32)[None, :]
        # The first position attaining the minimum (tf.argmin leaves ties unspecified).
        first = tf.reduce_min(tf.where(distances <= block_min[:, None], positions, no_index), axis=1)
        better = block_min < best_distance
        return (
            step + 1,
            tf.where(better, start + first, best_index),
            tf.where(better, block_min, best_distance),
        )

    _, best_index, _ = tf.while_loop(
        lambda step, *_: step < num_chunks,
        search_chunk,
        (
            tf.constant(0, tf.int32),
            tf.zeros((num_queries,), tf.int32),
            tf.fill((num_queries,), tf.constant(float("inf"), tf.float32)),
        ),
    )
    nearest = tf.gather(candidates, best_index)
    return best_index, tf.reduce_sum(tf.square(queries - nearest), axis=1)


def _flatten(images):
    return ops.reshape(images, (ops.shape(images)[0], -1))


@register(
    "imle",
    family="generator",
    summary="each data point pulls its nearest of many generated samples closer (batched on-device search)",
    paper="Li & Malik, 2018",
    small_config={"latent_dim": 8, "hidden_units": (128, 128)},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class IMLE(GenerativeModel):
    """Implicit maximum likelihood estimation (Li & Malik, 2018), Algorithm 1.

    `train_step` on a fit batch of n images: draw m = samples_per_example * n
    codes z ~ N(0, I), generate them without gradient, find each image's
    nearest sample in pixel space (squared Euclidean distance, exact search
    with `nearest_neighbours`), then take one gradient step on

        1/n sum_i ||x_i - G(z_sigma(i))||^2

    with G(z_sigma(i)) regenerated under the tape.

    Simplifications with respect to the paper: the fit batch is the paper's
    batch S, and nearest neighbours are recomputed at every step (L = 1 inner
    iteration per search) instead of being reused for L inner iterations over
    mini-batches of S; the search is exact and brute force (chunked matmuls)
    instead of DCI. With L = 1 every step costs one search over m samples,
    which on small images is cheap next to the gradient step.

    Args:
        latent_dim: size of z ~ N(0, I) (default 32).
        image_shape: `(H, W, C)` (default 28x28x1).
        generator: optional Keras model `z -> images in value_range`. The
            default is `networks.mlp_generator` with `hidden_units`; it has no
            batch norm, whose statistics would differ between the search (m
            samples) and the update (the n selected ones).
        samples_per_example: m / n, generated samples per data point (10).
        distance_chunk: candidates per distance matrix in the search.
        hidden_units: widths of the default MLP generator's hidden layers.
        value_range, seed: see `GenerativeModel`.

    Reported by `fit` and `evaluate`: `loss` (the objective above: mean
    squared distance, summed over pixels, from each image to its selected
    sample) and `nearest_distance` (the mean Euclidean distance
    ||x_i - x~_sigma(i)|| found by the search, in the same pixel units).
    `compile()` with no optimizer uses Adam(1e-3).
    """

    loss_names = ("loss", "nearest_distance")
    NETWORKS = ("generator",)

    def __init__(
        self,
        latent_dim=32,
        image_shape=(28, 28, 1),
        *,
        generator=None,
        samples_per_example=10,
        distance_chunk=1024,
        hidden_units=(256, 256),
        **kwargs,
    ):
        super().__init__(latent_dim, image_shape, **kwargs)
        if int(samples_per_example) < 1:
            raise ValueError(f"samples_per_example must be >= 1, got {samples_per_example}.")
        if int(distance_chunk) < 1:
            raise ValueError(f"distance_chunk must be >= 1, got {distance_chunk}.")
        self.samples_per_example = int(samples_per_example)
        self.distance_chunk = int(distance_chunk)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.generator = generator or networks.mlp_generator(
            self.latent_dim, self.image_shape, hidden_units=self.hidden_units, value_range=self.value_range
        )
        self.built = True  # the generator owns every weight and is built already

    def _generate(self, z, training=False):
        return ops.cast(self.generator(z, training=training), "float32")

    def select_latents(self, images):
        """(z_sigma `(n, latent_dim)`, squared distances `(n,)`): each image's nearest of m fresh samples."""
        z = self.sample_latents(ops.shape(images)[0] * self.samples_per_example)
        samples = ops.stop_gradient(self._generate(z, training=False))
        indices, distances = nearest_neighbours(_flatten(images), _flatten(samples), self.distance_chunk)
        return ops.take(z, indices, axis=0), distances

    def train_step(self, data):
        images, _ = split_batch(data)
        images = ops.cast(images, "float32")
        z, distances = self.select_latents(images)
        with tf.GradientTape() as tape:
            fake = self._generate(z, training=True)
            loss = ops.mean(ops.sum(ops.square(_flatten(images - fake)), axis=-1))
        self.apply_gradients(tape, loss, self.generator.trainable_variables)
        return self.record(loss=loss, nearest_distance=ops.mean(ops.sqrt(distances)))

    def test_step(self, data):
        images, _ = split_batch(data)
        images = ops.cast(images, "float32")
        z, distances = self.select_latents(images)
        fake = self._generate(z, training=False)
        loss = ops.mean(ops.sum(ops.square(_flatten(images - fake)), axis=-1))
        return self.record(loss=loss, nearest_distance=ops.mean(ops.sqrt(distances)))

    def call(self, z, training=False):
        """z `(batch, latent_dim)` -> images `(batch, H, W, C)` in `value_range` (float32)."""
        return self._generate(z, training=training)

    @sampler
    def generate(self, num_samples, seed=None):
        """`num_samples` images G(z), z ~ N(0, I) (int `seed` = reproducible)."""
        return self._generate(self.sample_latents(num_samples, seed), training=False)

    def serving_endpoints(self):
        """`serving_default(z) -> {images, images_uint8}`: G(z), z ~ N(0, I)."""
        return {"serving_default": serving.generator_endpoint(self)}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples."""
        return previews.samples(self, num_samples, seed)

    def get_config(self):
        config = super().get_config()
        config.update(
            samples_per_example=self.samples_per_example,
            distance_chunk=self.distance_chunk,
            hidden_units=self.hidden_units,
        )
        return config
