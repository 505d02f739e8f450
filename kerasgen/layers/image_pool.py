"""A history of generated images for discriminator updates (Shrivastava et al., 2017)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgen")
class ImagePool(keras.layers.Layer):
    """A buffer of past fakes that the discriminator trains on (CycleGAN, Sec. 4).

    Zhu et al. (2017) "update the discriminators using a history of generated
    images rather than the ones produced by the latest generators", after
    Shrivastava et al. (2017), keeping "an image buffer that stores the 50
    previously created images". Calling the pool with a batch of fakes
    returns a batch of the same shape, image by image, in order:

    - while fewer than `size` images are stored, the fake is stored and
      returned itself;
    - once the pool is full, with probability `swap_probability` (0.5) a
      stored image chosen uniformly at random is returned and the fake takes
      its place; otherwise the fake is returned and the pool is unchanged.

    So after the pool fills, each returned image is a past fake with
    probability `swap_probability` (the rule of the authors' `ImagePool`).
    The pool (`images`, `count`) is layer state: it is saved with the model,
    so a resumed run continues with the same history. Under a
    `tf.distribute` strategy the first replica's pool is kept on every
    replica (like the other non-trained state in kerasgen).

    Args:
        size: images the pool holds (0 disables it: fakes pass through).
        swap_probability: probability of returning a stored image, in [0, 1].

    Call with `images` `(batch, H, W, C)` (float; computed and stored in
    float32) and `seed` (the owning model's SeedGenerator). Build with the
    image shape before training, so the buffer exists before any step runs.
    """

    def __init__(self, size=50, swap_probability=0.5, **kwargs):
        kwargs.setdefault("dtype", "float32")  # a buffer of fakes, not a computation: no mixed precision
        super().__init__(**kwargs)
        if int(size) < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}.")
        if not 0.0 <= float(swap_probability) <= 1.0:
            raise ValueError(f"swap_probability must be in [0, 1], got {swap_probability}.")
        self.size = int(size)
        self.swap_probability = float(swap_probability)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError(f"ImagePool stores NHWC images of a fixed shape, got {tuple(input_shape)}.")
        self.images = self.add_weight(
            shape=(self.size, *input_shape[1:]), initializer="zeros", trainable=False,
            autocast=False, aggregation="only_first_replica", name="images",
        )
        self.count = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False,
            aggregation="only_first_replica", name="count",
        )
        self.built = True

    def call(self, images, seed=None):
        images = ops.cast(images, "float32")
        if self.size == 0:
            return images
        batch = ops.shape(images)[0]
        uniforms = keras.random.uniform((batch,), seed=seed)
        slots = keras.random.randint((batch,), 0, self.size, seed=seed)

        def query(i, state):
            pool, count, returned = state
            image = images[i]
            full = count >= self.size
            swap = ops.logical_and(full, uniforms[i] < self.swap_probability)
            slot = ops.where(full, slots[i], ops.minimum(count, self.size - 1))
            stored = pool[slot]
            out = ops.where(swap, stored, image)
            # Not full: store at the next free slot. Swap: the fake replaces the returned image.
            keep = ops.logical_and(full, ops.logical_not(swap))
            pool = ops.scatter_update(pool, ops.reshape(slot, (1, 1)), ops.where(keep, stored, image)[None])
            returned = ops.scatter_update(returned, ops.reshape(i, (1, 1)), out[None])
            return pool, ops.where(full, count, count + 1), returned

        pool, count, returned = ops.fori_loop(
            0, batch, query, (self.images.value, self.count.value, ops.zeros_like(images))
        )
        self.images.assign(pool)
        self.count.assign(count)
        return returned

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "swap_probability": self.swap_probability}
