"""Pictures a model shows of itself between epochs (`GenerativeModel.previews`).

A model returns `{name: picture}`; `kerasgen.callbacks.SampleGrid` renders
each picture as `<name>_eXXX.png`. Two kinds of picture:

- `ImageRows`: equally long arrays of images (inputs, their reconstructions,
  translations, ...) interleaved in blocks of `per_row` columns, one row of
  each array per block.
- `Scatter`: 2-D points coloured by class (a latent space).

The helpers below build the pictures the zoo's models share.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from scipy import stats


@dataclasses.dataclass
class ImageRows:
    """Images in the model's value range, drawn as one grid.

    `rows`: equally long `(N, H, W, C)` arrays; the grid shows, for every
    `per_row` images, a row from each array in turn (grey arrays beside
    colour ones as grey RGB). `per_row=None` makes a near-square grid of a
    single array; `padding` is the gap between images in pixels.
    """

    rows: list
    per_row: int | None = None
    padding: int = 2


@dataclasses.dataclass
class Scatter:
    """`points` `(N, 2)` coloured by `labels` `(N,)` int (or all one colour when None)."""

    points: np.ndarray
    labels: np.ndarray | None = None


def _numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def samples(model, num_samples, seed, **generate_kwargs):
    """`{"samples": ...}`: `model.generate(num_samples, seed=seed)`; one class per column when conditional."""
    return {"samples": ImageRows([_numpy(model.generate(num_samples, seed=seed, **generate_kwargs))],
                                 per_row=model.num_classes)}


def reconstructions(reconstruct, images, per_row=8, rows=4):
    """`{"reconstructions": ...}`: odd rows `images`, even rows `reconstruct(images)`."""
    if images is None:
        return {}
    originals = np.asarray(images[: min(len(images), per_row * rows)])
    return {"reconstructions": ImageRows([originals, _numpy(reconstruct(originals))], per_row=per_row)}


def latent_map(encode, decode, images, labels=None, manifold_size=20):
    """For a 2-D latent space, as in Kingma & Welling (2014), Fig. 4.

    `latent_scatter`: the codes `encode(images)` (the first output, e.g.
    z_mean) coloured by `labels`; `latent_manifold`: images decoded from a
    `manifold_size`^2 grid of z at Gaussian quantiles 0.05..0.95 (z_2 grows upwards).
    """
    if images is None:
        return {}
    codes = encode(images)
    z = _numpy(codes[0] if isinstance(codes, (tuple, list)) else codes)
    quantiles = stats.norm.ppf(np.linspace(0.05, 0.95, manifold_size))
    grid_z = np.array([[x, y] for y in quantiles[::-1] for x in quantiles], dtype="float32")
    return {
        "latent_scatter": Scatter(z, labels),
        "latent_manifold": ImageRows([_numpy(decode(grid_z))], per_row=manifold_size, padding=0),
    }


def translations(model, images, targets=None, back=None, per_row=8, blocks=4):
    """`{"translations": ...}`: per block of rows the inputs, `model.translate(inputs)`, the
    `targets` if given (ground truth) and `model.translate(translated, direction=back)` if `back`."""
    if images is None:
        return {}
    count = min(len(images), per_row * blocks)
    per_row = min(per_row, count)
    count -= count % per_row  # whole blocks only
    inputs = np.asarray(images[:count])
    translated = _numpy(model.translate(inputs))
    rows = [inputs, translated]
    if targets is not None:
        rows.append(np.asarray(targets[:count]))
    if back:
        rows.append(_numpy(model.translate(translated, direction=back)))
    return {"translations": ImageRows(rows, per_row=per_row)}
