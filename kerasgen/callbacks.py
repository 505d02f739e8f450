"""Keras callbacks for what happens between training steps."""

from __future__ import annotations

import hashlib
import json
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
      - `translations_eXXX.png` for a translation model (pix2pix, CycleGAN)
        given `images` of its domain A: in each block of rows the inputs,
        their translations, the `targets` if given (pix2pix's ground truth)
        and, for models that translate back (CycleGAN), the cycle
        reconstructions F(G(x)).

    Args:
        directory: where PNGs go (created).
        num_samples: images per sample grid.
        images: optional `(N, H, W, C)` held-out images in the model's
            value range, for reconstructions and the latent scatter.
        labels: optional `(N,)` int labels of `images` (scatter colours and
            conditional reconstructions).
        targets: optional `(N, H, W, C)` images the translations of `images`
            should match (paired translation).
        seed: seed of the sample latents.
        every: write every `every` epochs.
        manifold_size: decoded images per side of the manifold plot.
    """

    def __init__(self, directory, num_samples=64, images=None, labels=None, seed=0, every=1, manifold_size=20,
                 targets=None):
        super().__init__()
        self.directory = directory
        self.num_samples = int(num_samples)
        self.images = None if images is None else np.asarray(images, dtype="float32")
        self.labels = None if labels is None else np.asarray(labels, dtype="int32")
        self.targets = None if targets is None else np.asarray(targets, dtype="float32")
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
        if self.images is not None and _reconstructs_images(model):
            self._save(self._reconstruction_grid(model, value_range), f"reconstructions_{tag}.png")
        if self.images is not None and getattr(model, "latent_dim", None) == 2 and hasattr(model, "encode"):
            self._save(self._latent_scatter(model), f"latent_scatter_{tag}.png")
            self._save(self._latent_manifold(model, value_range), f"latent_manifold_{tag}.png")
        if self.images is not None and hasattr(model, "translate"):
            self._save(self._translation_grid(model, value_range), f"translations_{tag}.png")

    # ----------------------------------------------------------------- pictures
    def _conditional_args(self, model, count):
        return (self.labels[:count],) if getattr(model, "num_classes", None) else ()

    def _reconstruction_grid(self, model, value_range, per_row=8, rows=4):
        count = min(len(self.images), per_row * rows)
        originals = self.images[:count]
        reconstructions = keras.ops.convert_to_numpy(
            model.reconstruct(originals, *self._conditional_args(model, count))
        )
        return _interleaved_grid([originals, reconstructions], value_range, per_row)

    def _translation_grid(self, model, value_range, per_row=8, blocks=4):
        count = min(len(self.images), per_row * blocks)
        per_row = min(per_row, count)
        count -= count % per_row  # whole blocks only
        inputs = self.images[:count]
        translated = keras.ops.convert_to_numpy(model.translate(inputs))
        rows = [inputs, translated]
        if self.targets is not None:
            rows.append(self.targets[:count])
        if "b2a" in getattr(model, "DIRECTIONS", ()):
            rows.append(keras.ops.convert_to_numpy(model.translate(translated, direction="b2a")))
        return _interleaved_grid(rows, value_range, per_row)

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


def _interleaved_grid(rows, value_range, per_row):
    """One grid of blocks: for each `per_row` images, a row from each array of `rows` in turn.

    `rows` are equally long `(N, H, W, C)` arrays (inputs, their reconstructions or
    translations, ...); grey arrays beside colour ones are shown as grey RGB.
    """
    channels = max(row.shape[-1] for row in rows)
    rows = [np.repeat(row, channels // row.shape[-1], axis=-1) for row in rows]
    count = len(rows[0])
    interleaved = [image for start in range(0, count, per_row) for row in rows for image in row[start : start + per_row]]
    return image_utils.make_grid(np.stack(interleaved), value_range, columns=per_row)


class CheckpointError(ValueError):
    """A run's checkpoint is missing, partial or corrupt; the message says what to do."""


def _reconstructs_images(model):
    """Autoencoders and VAEs (WAE included) reconstruct images; GLO's `reconstruct` takes indices."""
    from kerasgen.models import VAE, AutoEncoder

    return isinstance(model, (AutoEncoder, VAE))


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path, text):
    temporary = f"{path}.partial"
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights, optimizer state, config) to `path` after every epoch.

    The file is written beside `path` and then renamed over it, so an
    interrupted run never leaves a half-written `.keras` file: `path` always
    holds the last complete epoch. Beside it, `<name>.state.json` records the
    epochs completed and the file's SHA-256, so `load_checkpoint` can resume
    from the right epoch and detect a damaged file. An epoch whose logged
    values are not finite (a diverged run) is not saved, so a NaN model never
    replaces a good one.
    """

    def __init__(self, path):
        super().__init__()
        if not str(path).endswith(".keras"):
            raise ValueError(f"AtomicModelCheckpoint writes .keras files, got {path!r}.")
        self.path = str(path)

    @staticmethod
    def state_path(path):
        return str(path)[: -len(".keras")] + ".state.json"

    def on_epoch_end(self, epoch, logs=None):
        if not all(np.all(np.isfinite(value)) for value in (logs or {}).values()):
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        temporary = self.path[: -len(".keras")] + ".partial.keras"
        self.model.save(temporary)
        state = {"epochs_completed": epoch + 1, "sha256": _sha256(temporary)}
        os.replace(temporary, self.path)
        _write_atomically(self.state_path(self.path), json.dumps(state, indent=2))


def load_checkpoint(path):
    """Loads a model written by `AtomicModelCheckpoint` and the epochs it completed.

    Returns:
        `(model, epochs_completed)`.

    Raises:
        CheckpointError: the file or its state record is missing, the file does
            not match the SHA-256 recorded when it was written (partial copy,
            disk corruption), or Keras cannot read it.
    """
    path = str(path)
    state_path = AtomicModelCheckpoint.state_path(path)
    if not os.path.exists(path) or not os.path.exists(state_path):
        raise CheckpointError(
            f"No complete checkpoint at {path} (and {os.path.basename(state_path)}): nothing to resume. "
            "Run without --resume to start training."
        )
    try:
        with open(state_path) as handle:
            state = json.load(handle)
        epochs_completed, recorded = int(state["epochs_completed"]), state["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{state_path} is unreadable ({error}); delete the run folder to start over.") from error
    if _sha256(path) != recorded:
        raise CheckpointError(
            f"{path} is corrupt or partial: its SHA-256 differs from the one recorded when it was written. "
            "Restore it from a backup, or delete the run folder and train from scratch."
        )
    try:
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many types for unreadable archives
        raise CheckpointError(f"Keras could not load {path}: {error}") from error
    return model, epochs_completed


class TerminateOnNaN(keras.callbacks.Callback):
    """Stops training at the first batch whose reported values are not finite.

    Unlike `keras.callbacks.TerminateOnNaN`, which only watches `loss`, this
    checks every reported term (GANs report `d_loss`, `g_loss`, penalties) and
    keeps a message saying which terms diverged and what to try, in `message`.
    """

    def __init__(self):
        super().__init__()
        self.message = None

    def on_train_batch_end(self, batch, logs=None):
        bad = {name: float(value) for name, value in (logs or {}).items() if not np.all(np.isfinite(value))}
        if bad and self.message is None:
            terms = ", ".join(f"{name}={value}" for name, value in bad.items())
            self.message = (
                f"Training stopped at batch {batch + 1}: {terms}. Lower the learning rate, check that "
                "the data are in the model's value_range, or for GANs add a penalty (e.g. r1_gamma=10)."
            )
            self.model.stop_training = True


def rescale_images(images, from_range, to_range):
    """Maps images linearly from `from_range` to `to_range` (both `(low, high)`)."""
    (low, high), (new_low, new_high) = from_range, to_range
    if (low, high) == (new_low, new_high):
        return images
    return new_low + (np.asarray(images, dtype="float32") - low) * (new_high - new_low) / (high - low)


class FIDMonitor(keras.callbacks.Callback):
    """Every `every` epochs, scores `model.generate` samples against real images.

    Computes the Frechet distance and KID (`kerasgen.metrics.evaluation.
    evaluate_generator`) in `extractor`'s feature space and adds them to the
    epoch logs as `fid` and `kid`, so they appear in `fit`'s History and, with
    this callback listed before `keras.callbacks.TensorBoard`, in TensorBoard.
    Every result, with the feature space named, is also kept in `results`.

    Args:
        real_images: `(N, H, W, C)` held-out images in the model's value range.
        extractor: a `kerasgen.metrics.features.FeatureExtractor` (e.g.
            `train_domain_classifier("fashion_mnist")`).
        num_samples: generated images per evaluation (10,000 for publishable
            numbers; fewer is faster and biased upwards).
        every: evaluate every `every` epochs.
        seed: seed of the first batch of samples (the same every time).
    """

    def __init__(self, real_images, extractor, num_samples=2000, every=1, seed=0):
        super().__init__()
        self.real_images = np.asarray(real_images, dtype="float32")
        self.extractor = extractor
        self.num_samples = int(num_samples)
        self.every = max(1, int(every))
        self.seed = seed
        self.results = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        from kerasgen.metrics import evaluation

        model = self.model
        value_range = getattr(model, "value_range", (-1.0, 1.0))

        def generate(count, seed):
            images = keras.ops.convert_to_numpy(model.generate(count, seed=seed))
            return rescale_images(images, value_range, self.extractor.value_range)

        result = evaluation.evaluate_generator(
            generate,
            rescale_images(self.real_images, value_range, self.extractor.value_range),
            self.extractor,
            num_samples=self.num_samples,
            seed=self.seed,
        )
        result["epoch"] = epoch + 1
        self.results.append(result)
        if logs is not None:
            logs["fid"], logs["kid"] = result["fid"], result["kid"]
