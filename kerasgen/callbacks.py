"""Keras callbacks for what happens between training steps."""

from __future__ import annotations

import os

import keras
import numpy as np
from PIL import Image, ImageDraw
from scipy import stats

from kerasgen import images as image_utils

# Ten distinguishable colours (Tableau 10) for class-coloured latent scatters.
_PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


class SampleGrid(keras.callbacks.Callback):
    """Writes PNG grids of what the model makes at the end of every `every` epochs.

    In `directory`, for epoch e (1-based, zero-padded):
      - `samples_eXXX.png`: `model.generate(num_samples, seed=seed)`; the same
        latent draws every epoch, so the grids show training progress.
        Conditional models get labels 0, 1, 2, ... (one class per column).
      - `reconstructions_eXXX.png` when `images` are given and the model can
        `reconstruct`: odd rows the inputs, even rows their reconstructions.
      - for a model with a 2-D latent space and `encode` (a VAE), as in Kingma
        & Welling's Figure 4: `latent_scatter_eXXX.png`, the posterior means of
        `images` coloured by `labels`, and `latent_manifold_eXXX.png`, images
        decoded from a grid of z at Gaussian quantiles.

    Args:
        directory: where PNGs go (created).
        num_samples: images per sample grid.
        images: optional `(N, H, W, C)` held-out images in the model's
            value range, for reconstructions and the latent scatter.
        labels: optional `(N,)` int labels of `images` (scatter colours and
            conditional reconstructions).
        seed: seed of the sample latents.
        every: write every `every` epochs.
        manifold_size: decoded images per side of the manifold plot.
    """

    def __init__(self, directory, num_samples=64, images=None, labels=None, seed=0, every=1, manifold_size=20):
        super().__init__()
        self.directory = directory
        self.num_samples = int(num_samples)
        self.images = None if images is None else np.asarray(images, dtype="float32")
        self.labels = None if labels is None else np.asarray(labels, dtype="int32")
        self.seed = seed
        self.every = max(1, int(every))
        self.manifold_size = int(manifold_size)
        self.written = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        tag = f"e{epoch + 1:03d}"
        model = self.model
        value_range = getattr(model, "value_range", (-1.0, 1.0))
        columns = getattr(model, "num_classes", None) or None
        if hasattr(model, "generate"):
            samples = keras.ops.convert_to_numpy(model.generate(self.num_samples, seed=self.seed))
            self._save(image_utils.make_grid(samples, value_range, columns), f"samples_{tag}.png")
        if self.images is not None and hasattr(model, "reconstruct"):
            self._save(self._reconstruction_grid(model, value_range), f"reconstructions_{tag}.png")
        if self.images is not None and getattr(model, "latent_dim", None) == 2 and hasattr(model, "encode"):
            self._save(self._latent_scatter(model), f"latent_scatter_{tag}.png")
            self._save(self._latent_manifold(model, value_range), f"latent_manifold_{tag}.png")

    # ----------------------------------------------------------------- pictures
    def _conditional_args(self, model, count):
        return (self.labels[:count],) if getattr(model, "num_classes", None) else ()

    def _reconstruction_grid(self, model, value_range, per_row=8, rows=4):
        count = min(len(self.images), per_row * rows)
        originals = self.images[:count]
        reconstructions = keras.ops.convert_to_numpy(
            model.reconstruct(originals, *self._conditional_args(model, count))
        )
        interleaved = []
        for start in range(0, count, per_row):
            interleaved.extend(originals[start : start + per_row])
            interleaved.extend(reconstructions[start : start + per_row])
        return image_utils.make_grid(np.stack(interleaved), value_range, columns=per_row)

    def _latent_scatter(self, model, size=512, margin=16):
        z_mean, _ = model.encode(self.images, *self._conditional_args(model, len(self.images)))
        z = keras.ops.convert_to_numpy(z_mean)
        low, high = z.min(axis=0), z.max(axis=0)
        pixels = margin + (z - low) / np.maximum(high - low, 1e-8) * (size - 2 * margin)
        canvas = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(canvas)
        labels = self.labels if self.labels is not None else np.zeros(len(z), "int32")
        for (x, y), label in zip(pixels, labels):
            y = size - y  # z_2 grows upwards
            draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=_PALETTE[label % len(_PALETTE)])
        for label in np.unique(labels):
            draw.text((margin, margin + 12 * int(label)), str(int(label)), fill=_PALETTE[label % len(_PALETTE)])
        return np.asarray(canvas)

    def _latent_manifold(self, model, value_range):
        # Kingma & Welling (2014), Fig. 4: linearly spaced coordinates on the unit
        # square mapped through the inverse CDF of the Gaussian prior.
        quantiles = stats.norm.ppf(np.linspace(0.05, 0.95, self.manifold_size))
        grid_z = np.array([[x, y] for y in quantiles[::-1] for x in quantiles], dtype="float32")
        decoded = keras.ops.convert_to_numpy(model.decode(grid_z, *self._conditional_args_for_grid(model, len(grid_z))))
        return image_utils.make_grid(decoded, value_range, columns=self.manifold_size, padding=0)

    def _conditional_args_for_grid(self, model, count):
        return (np.zeros(count, "int32"),) if getattr(model, "num_classes", None) else ()

    def _save(self, array, filename):
        path = image_utils.save_png(array, os.path.join(self.directory, filename))
        self.written.append(path)


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights, optimizer state, config) to `path` after every epoch.

    The file is written beside `path` and then renamed over it, so an
    interrupted run never leaves a half-written `.keras` file: `path` always
    holds the last complete epoch.
    """

    def __init__(self, path):
        super().__init__()
        if not str(path).endswith(".keras"):
            raise ValueError(f"AtomicModelCheckpoint writes .keras files, got {path!r}.")
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        temporary = self.path[: -len(".keras")] + ".partial.keras"
        self.model.save(temporary)
        os.replace(temporary, self.path)
