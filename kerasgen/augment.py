"""Image augmentations for GAN regularizers, as pure `keras.ops` functions."""

from __future__ import annotations

from keras import ops
from keras import random


def default_max_shift(width):
    """max(1, floor(width / 8)): 4 px at 32x32, 3 px at 28x28, 1 px below 16.

    Floor rather than round, so that 28 / 8 = 3.5 gives 3 px ("a few pixels",
    Zhang et al., 2020, Section 3).
    """
    return max(1, width // 8)


def _random_flips_and_shifts(batch, max_shift, seed):
    """One uniform draw `(batch, 3)` -> flip mask `(batch,)`, dy and dx int32 in [-m, m].

    A single draw keeps an int `seed` from reusing one stream for two variables.
    """
    draws = random.uniform((batch, 3), seed=seed)
    flip = draws[:, 0] < 0.5
    shifts = ops.floor(draws[:, 1:] * (2 * max_shift + 1)) - max_shift
    shifts = ops.cast(ops.clip(shifts, -max_shift, max_shift), "int32")
    return flip, shifts[:, 0], shifts[:, 1]


def _translate(images, dy, dx, max_shift):
    """Moves example b's content by (dy_b, dx_b) pixels, reflecting at the borders.

    out[b, i, j] = padded[b, i + m - dy_b, j + m - dx_b], padded = reflect-pad by m.
    """
    height, width = images.shape[1], images.shape[2]
    m = max_shift
    padded = ops.pad(images, [[0, 0], [m, m], [m, m], [0, 0]], mode="reflect")
    rows = ops.arange(height, dtype="int32")[None, :] + (m - dy)[:, None]  # (batch, H)
    cols = ops.arange(width, dtype="int32")[None, :] + (m - dx)[:, None]  # (batch, W)
    shifted = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)
    return ops.take_along_axis(shifted, cols[:, None, :, None], axis=2)


def flip_and_translate(images, seed, max_shift=None):
    """The augmentation T of consistency regularization.

    Zhang et al. (2020), "Consistency Regularization for GANs", Section 3:
    per example, a horizontal flip with probability 1/2, then a translation by
    integer (dy, dx), each uniform in [-max_shift, max_shift], with reflect
    padding so no new values appear. Works in eager mode, `tf.function` and
    XLA (the height and width must be static; the batch may be dynamic).

    Args:
        images: `(batch, H, W, C)` float images, any value range.
        seed: a `keras.random.SeedGenerator` (advanced by one draw) or an int
            (the same int gives the same augmentation).
        max_shift: largest shift in pixels, < min(H, W); defaults to
            `default_max_shift(W)` = max(1, W // 8).

    Returns:
        `(batch, H, W, C)` augmented images, same dtype as `images`.
    """
    images = ops.convert_to_tensor(images)
    height, width = images.shape[1], images.shape[2]
    if max_shift is None:
        max_shift = default_max_shift(width)
    if not 0 <= max_shift < min(height, width):
        raise ValueError(f"max_shift must be in [0, {min(height, width)}), received {max_shift}.")
    flip, dy, dx = _random_flips_and_shifts(ops.shape(images)[0], max_shift, seed)
    images = ops.where(flip[:, None, None, None], ops.flip(images, axis=2), images)
    if max_shift == 0:
        return images
    return _translate(images, dy, dx, max_shift)
