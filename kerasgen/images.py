"""Image helpers: tile a batch into a grid and write PNGs."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image


def to_uint8(images, value_range=(-1.0, 1.0)):
    """Float images in `value_range` -> uint8 in [0, 255] (values are clipped)."""
    low, high = value_range
    unit = (np.asarray(images, dtype="float32") - low) / (high - low)
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype("uint8")


def make_grid(images, value_range=(-1.0, 1.0), columns=None, padding=2):
    """Tiles `(N, H, W, C)` images into one uint8 `(rows*(H+p)+p, cols*(W+p)+p, C)` array."""
    images = to_uint8(images, value_range)
    if images.ndim != 4:
        raise ValueError(f"make_grid expects (N, H, W, C) images, got shape {images.shape}.")
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.zeros(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        dtype="uint8",
    )
    for index, image in enumerate(images):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def save_png(array, path):
    """Writes a uint8 `(H, W, 1|3)` array to `path` as PNG (atomically), returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    mode_array = array[..., 0] if array.shape[-1] == 1 else array
    temporary = f"{path}.partial"
    Image.fromarray(mode_array).save(temporary, format="PNG")
    os.replace(temporary, path)
    return path


def save_grid(images, path, value_range=(-1.0, 1.0), columns=None):
    """Tiles `images` and writes the grid to `path`."""
    return save_png(make_grid(images, value_range, columns), path)
