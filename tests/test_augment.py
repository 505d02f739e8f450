"""flip_and_translate: the consistency-regularization augmentation T (Zhang et al., 2020)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen.augment import default_max_shift, flip_and_translate  # noqa: E402


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _unique_images(batch, height, width, channels=1):
    """Every pixel value distinct: 0, 1, 2, ... as float32."""
    return np.arange(batch * height * width * channels, dtype=np.float32).reshape(batch, height, width, channels)


def _candidates(image, max_shift):
    """All 2 (2m+1)^2 flips and reflect-padded translations of one (H, W, C) image."""
    m = max_shift
    height, width = image.shape[:2]
    out = []
    for mirrored in (image, image[:, ::-1]):
        padded = np.pad(mirrored, [(m, m), (m, m), (0, 0)], mode="reflect")
        for dy in range(-m, m + 1):
            for dx in range(-m, m + 1):
                out.append(padded[m - dy : m - dy + height, m - dx : m - dx + width])
    return np.stack(out)


def _assert_each_is_a_candidate(inputs, outputs, max_shift):
    for image, result in zip(inputs, outputs):
        matches = np.all(_candidates(image, max_shift) == result, axis=(1, 2, 3))
        assert matches.any(), "output is not a flip + reflect-translation of its input"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", [(5, 28, 28, 1), (3, 32, 32, 3), (2, 8, 12, 2)])
def test_shape_and_dtype_are_preserved(shape, dtype):
    images = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(dtype)
    out = flip_and_translate(images, seed=1)
    assert tuple(out.shape) == shape
    assert keras.backend.standardize_dtype(out.dtype) == dtype


def test_default_max_shift():
    assert default_max_shift(32) == 4
    assert default_max_shift(28) == 3
    assert default_max_shift(8) == 1 and default_max_shift(4) == 1


def test_without_shift_each_output_is_the_image_or_its_mirror_half_the_time():
    images = np.random.default_rng(1).normal(size=(2000, 6, 6, 1)).astype(np.float32)
    out = _np(flip_and_translate(images, seed=2, max_shift=0))
    same = np.all(out == images, axis=(1, 2, 3))
    mirrored = np.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same ^ mirrored)  # random images are never symmetric: exactly one holds
    assert abs(mirrored.mean() - 0.5) <= 0.05


def test_one_hot_pixel_moves_at_most_max_shift_and_covers_every_shift():
    n, size, row, col, m = 2000, 32, 16, 10, 4  # col 10 vs mirrored 21: the two ranges can't overlap
    images = np.zeros((n, size, size, 1), np.float32)
    images[:, row, col, 0] = 1.0
    out = _np(flip_and_translate(images, seed=keras.random.SeedGenerator(3)))
    assert np.all(out.reshape(n, -1).sum(axis=1) == 1.0)  # far from the border: no reflected copies
    _, rows, cols, _ = np.nonzero(out)
    flipped = cols > size // 2
    dy = rows - row
    dx = np.where(flipped, cols - (size - 1 - col), cols - col)
    assert np.abs(dy).max() <= m and np.abs(dx).max() <= m
    shifts = np.arange(-m, m + 1)
    for axis_shifts in (dy, dx):
        counts = np.array([(axis_shifts == s).sum() for s in shifts])
        assert np.all(counts > 0.6 * n / len(shifts))  # uniform: ~222 each
    assert abs(flipped.mean() - 0.5) <= 0.05


def test_outputs_are_flipped_reflect_translations_of_the_inputs():
    images = _unique_images(16, 28, 28)
    out = _np(flip_and_translate(images, seed=4))  # default max_shift = 3
    assert set(np.unique(out)) <= set(np.unique(images))
    _assert_each_is_a_candidate(images, out, max_shift=3)
    assert not np.array_equal(out, images)


def test_same_int_seed_same_output_and_seed_generator_advances():
    images = _unique_images(8, 16, 16, 2)
    first = _np(flip_and_translate(images, seed=5))
    np.testing.assert_array_equal(_np(flip_and_translate(images, seed=5)), first)
    assert not np.array_equal(_np(flip_and_translate(images, seed=6)), first)

    generator = keras.random.SeedGenerator(7)
    a, b = _np(flip_and_translate(images, generator)), _np(flip_and_translate(images, generator))
    assert not np.array_equal(a, b)
    replay = keras.random.SeedGenerator(7)
    np.testing.assert_array_equal(_np(flip_and_translate(images, replay)), a)
    np.testing.assert_array_equal(_np(flip_and_translate(images, replay)), b)


def test_works_under_xla_with_dynamic_batch():
    images = _unique_images(12, 20, 20, 1)
    generator = keras.random.SeedGenerator(8)
    spec = tf.TensorSpec((None, 20, 20, 1), tf.float32)

    @tf.function(jit_compile=True, input_signature=[spec])
    def augment_int_seed(x):
        return flip_and_translate(x, seed=9, max_shift=2)

    @tf.function(jit_compile=True, input_signature=[spec])
    def augment_generator(x):
        return flip_and_translate(x, generator, max_shift=2)

    out = _np(augment_int_seed(images))
    assert out.shape == images.shape
    _assert_each_is_a_candidate(images, out, max_shift=2)
    np.testing.assert_array_equal(_np(augment_int_seed(images)), out)

    first, second = _np(augment_generator(images)), _np(augment_generator(images[:5]))
    _assert_each_is_a_candidate(images, first, max_shift=2)
    _assert_each_is_a_candidate(images[:5], second, max_shift=2)


def test_max_shift_must_fit_the_image():
    with pytest.raises(ValueError, match="max_shift"):
        flip_and_translate(np.zeros((1, 4, 4, 1), np.float32), seed=0, max_shift=4)
