"""Keras callbacks for what happens between training steps."""

from __future__ import annotations

import hashlib
import json
import os

import keras
import numpy as np
from PIL import Image, ImageDraw

from kerasgen import images as image_utils
from kerasgen import previews

# Ten distinguishable colours (Tableau 10) for class-coloured latent scatters.
_PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


class SampleGrid(keras.callbacks.Callback):
    """Writes PNGs of what the model shows of itself at the end of every `every` epochs.

    The model says what to draw (`model.previews(...)`, see `kerasgen.previews`);
    each picture becomes `<name>_eXXX.png` in `directory` (epoch e, 1-based,
    zero-padded). The zoo's models show:
      - `samples`: `model.generate(num_samples, seed=seed)`, the same draws
        every epoch so the grids show training progress; conditional models
        one class per column.
      - `reconstructions` (autoencoders, VAEs, WAE) of `images`: odd rows the
        inputs, even rows their reconstructions.
      - for a 2-D latent space (as in Kingma & Welling's Figure 4):
        `latent_scatter`, the codes of `images` coloured by `labels`, and
        `latent_manifold`, images decoded from a grid of z at Gaussian quantiles.
      - `translations` (pix2pix, CycleGAN) of domain A `images`: in each block
        of rows the inputs, their translations, the `targets` when they are
        ground truth (pix2pix) and the cycle reconstructions F(G(x)) (CycleGAN).

    Args:
        directory: where PNGs go (created).
        num_samples: images per sample grid.
        images: optional `(N, H, W, C)` held-out images in the model's
            value range (domain A images for translation models).
        labels: optional `(N,)` int labels of `images`.
        targets: optional `(N, H, W, C)` domain B images beside `images`.
        seed: seed of the sample latents.
        every: write every `every` epochs.
        manifold_size: decoded images per side of a latent manifold.
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
        model = self.model
        pictures = model.previews(images=self.images, labels=self.labels, targets=self.targets,
                                  num_samples=self.num_samples, seed=self.seed, manifold_size=self.manifold_size)
        for name, picture in pictures.items():
            path = os.path.join(self.directory, f"{name}_e{epoch + 1:03d}.png")
            self.written.append(image_utils.save_png(render(picture, model.value_range), path))


def render(picture, value_range):
    """A `kerasgen.previews` picture as a uint8 RGB or grey array."""
    if isinstance(picture, previews.Scatter):
        return _scatter(picture.points, picture.labels)
    return _interleaved_grid(picture.rows, value_range, picture.per_row, picture.padding)


def _scatter(points, labels, size=512, margin=16):
    low, high = points.min(axis=0), points.max(axis=0)
    pixels = margin + (points - low) / np.maximum(high - low, 1e-8) * (size - 2 * margin)
    canvas = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(canvas)
    labels = np.zeros(len(points), "int32") if labels is None else np.asarray(labels)
    for (x, y), label in zip(pixels, labels):
        y = size - y  # z_2 grows upwards
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=_PALETTE[label % len(_PALETTE)])
    for label in np.unique(labels):
        draw.text((margin, margin + 12 * int(label)), str(int(label)), fill=_PALETTE[label % len(_PALETTE)])
    return np.asarray(canvas)


def _interleaved_grid(rows, value_range, per_row, padding=2):
    """One grid of blocks: for each `per_row` images, a row from each array of `rows` in turn.

    `rows` are equally long `(N, H, W, C)` arrays (inputs, their reconstructions or
    translations, ...); grey arrays beside colour ones are shown as grey RGB.
    """
    if len(rows) == 1:
        return image_utils.make_grid(rows[0], value_range, per_row, padding=padding)
    channels = max(row.shape[-1] for row in rows)
    rows = [np.repeat(row, channels // row.shape[-1], axis=-1) for row in rows]
    count = len(rows[0])
    interleaved = [image for start in range(0, count, per_row) for row in rows for image in row[start : start + per_row]]
    return image_utils.make_grid(np.stack(interleaved), value_range, columns=per_row, padding=padding)


class CheckpointError(ValueError):
    """A run's checkpoint is missing, partial or corrupt; the message says what to do."""


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_directory(directory):
    """Makes the renames inside `directory` durable (a no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _write_atomically(path, text):
    temporary = f"{path}.partial"
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


#: Any reported value (loss, penalty, score) or any weight whose magnitude exceeds
#: this counts as diverged, like a NaN. Healthy kerasgen models stay orders of
#: magnitude below it (a PixelCNN's loss on 256x256x3 images starts near 1e6 nats);
#: a DCGAN trained at learning rate 1e6 reaches losses of 1e13 and weights of 1e30
#: while every value is still finite.
DIVERGENCE_BOUND = 1e10


def _first_diverged(value, bound):
    """The first entry of `value` (a tensor, array or number) that is not finite or exceeds `bound`
    in magnitude, as a float; None if there is none."""
    flat = np.asarray(keras.ops.convert_to_numpy(value)).reshape(-1)
    if flat.dtype not in (np.float32, np.float64):  # bfloat16/float16 weights, integer logs
        flat = flat.astype(np.float32)  # (no float64 copy of a large weight tensor)
    offending = flat[~np.isfinite(flat) | (np.abs(flat) > bound)]
    return float(offending[0]) if offending.size else None


def diverged_values(values, bound=DIVERGENCE_BOUND):
    """`{name: value}` of the entries of `values` that are not finite or exceed `bound` in magnitude."""
    found = {name: _first_diverged(value, bound) for name, value in (values or {}).items()}
    return {name: value for name, value in found.items() if value is not None}


def diverged_weights(model, bound=DIVERGENCE_BOUND):
    """Paths of `model`'s floating-point weights holding a non-finite value or one beyond `bound`."""
    return [
        variable.path for variable in model.weights
        # Integer variables (seed-generator states, counters) cannot diverge.
        if np.issubdtype(np.dtype(keras.backend.standardize_dtype(variable.dtype)), np.floating)
        and _first_diverged(variable, bound) is not None
    ]


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (weights, optimizer state, config) to `path` after every epoch.

    Beside `path` (say `model.keras`), `model.state.json` records the epochs
    completed, the epochs requested and the SHA-256 of the model file it
    describes, so `load_checkpoint` resumes from the right epoch and detects a
    damaged file. The two files are committed as one: for epoch N,

    1. `write`: the model is saved to `model.partial.keras` (and fsynced);
    2. `keep_previous`: the model of epoch N - 1 is renamed `model.previous.keras`;
    3. `install`: `model.partial.keras` is renamed `model.keras`;
    4. `commit`: `model.state.json` is replaced, atomically, by epoch N's record;
    5. `drop_previous`: `model.previous.keras` is deleted.

    Whichever step a kill interrupts, the state on disk describes a complete
    model that is still there (epoch N - 1 before step 4, epoch N after it),
    and `recover_checkpoint` (run by `load_checkpoint` and at the start of
    `kerasgen train`) puts that model back at `path` and deletes leftovers. So
    a kill costs at most the interrupted epoch.

    An epoch is not saved (and the previous good pair stays) when it was cut
    short (fewer batches than `fit` planned: a NaN guard stopped it), when a
    logged value is not finite or beyond `DIVERGENCE_BOUND`, or when any weight
    is: a diverged model never replaces a good one.

    Args:
        path: the `.keras` file.
        run: optional JSON-serializable description of the run (the CLI's
            arguments), stored in the state so `--resume` can check it.
    """

    #: The steps of one commit, in order; `on_commit_step` is called after each.
    COMMIT_STEPS = ("write", "keep_previous", "install", "commit", "drop_previous")

    def __init__(self, path, run=None):
        super().__init__()
        if not str(path).endswith(".keras"):
            raise ValueError(f"AtomicModelCheckpoint writes .keras files, got {path!r}.")
        self.path = str(path)
        self.run = run
        self.saved_epochs = []  # epochs (1-based) this callback committed
        self.skipped = {}  # epoch (1-based) -> why it was not saved
        self._batches = 0

    @staticmethod
    def state_path(path):
        return str(path)[: -len(".keras")] + ".state.json"

    @staticmethod
    def partial_path(path):
        return str(path)[: -len(".keras")] + ".partial.keras"

    @staticmethod
    def previous_path(path):
        return str(path)[: -len(".keras")] + ".previous.keras"

    def on_commit_step(self, step):
        """Called after each of `COMMIT_STEPS`; a no-op (fault-injection tests interrupt here)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1

    def _why_not_saved(self, logs):
        planned = self.params.get("steps") if self.params else None
        if planned and self._batches < planned:
            return f"it stopped after {self._batches} of {planned} batches"
        bad = diverged_values(logs)
        if bad:
            return "its logged values diverged (" + ", ".join(f"{k}={v:g}" for k, v in bad.items()) + ")"
        weights = diverged_weights(self.model)
        if weights:
            return f"{len(weights)} weight tensors hold non-finite or huge values (e.g. {weights[0]})"
        return None

    def on_epoch_end(self, epoch, logs=None):
        reason = self._why_not_saved(logs)
        if reason:
            self.skipped[epoch + 1] = reason
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        partial, previous = self.partial_path(self.path), self.previous_path(self.path)
        self.model.save(partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        state = {
            "epochs_completed": epoch + 1,
            "epochs_requested": int(self.params.get("epochs", epoch + 1)) if self.params else epoch + 1,
            "sha256": _sha256(partial),
        }
        if self.run is not None:
            state["run"] = self.run
        self.on_commit_step("write")
        if os.path.exists(self.path):
            os.replace(self.path, previous)
        self.on_commit_step("keep_previous")
        os.replace(partial, self.path)
        _fsync_directory(directory)
        self.on_commit_step("install")
        _write_atomically(self.state_path(self.path), json.dumps(state, indent=2))
        _fsync_directory(directory)
        self.on_commit_step("commit")
        if os.path.exists(previous):
            os.remove(previous)
        self.on_commit_step("drop_previous")
        self.saved_epochs.append(epoch + 1)


def _read_state(state_path):
    """The state record at `state_path` (a dict with sane counts), or CheckpointError."""
    try:
        with open(state_path) as handle:
            state = json.load(handle)
        completed, recorded = state["epochs_completed"], state["sha256"]
        requested = state.get("epochs_requested", completed)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(
            f"{state_path} is unreadable ({error}); delete the run folder (or train with --overwrite) to start over."
        ) from error
    counts_ok = all(isinstance(n, int) and not isinstance(n, bool) for n in (completed, requested))
    if not counts_ok or completed < 1 or completed > requested or not isinstance(recorded, str):
        raise CheckpointError(
            f"{state_path} is corrupt: it records {completed!r} epochs completed of {requested!r} requested "
            "(must be whole numbers with 1 <= completed <= requested). Delete the run folder (or train with "
            "--overwrite) to start over."
        )
    return state


def recover_checkpoint(path):
    """Finishes or rolls back a checkpoint commit that a kill interrupted; returns the state or None.

    Deletes `*.partial` leftovers; when the state describes `model.previous.keras`
    (a kill between steps 2 and 4 of the commit), puts it back as `path`; when
    it describes `path`, deletes a leftover `model.previous.keras`. A folder
    whose files match no record is left as it is for `load_checkpoint` to report.
    """
    path = str(path)
    state_path = AtomicModelCheckpoint.state_path(path)
    previous = AtomicModelCheckpoint.previous_path(path)
    for leftover in (AtomicModelCheckpoint.partial_path(path), f"{state_path}.partial"):
        if os.path.exists(leftover):
            os.remove(leftover)
    if not os.path.exists(state_path):
        return None
    state = _read_state(state_path)
    if os.path.exists(previous):
        if os.path.exists(path) and _sha256(path) == state["sha256"]:
            os.remove(previous)  # killed after the commit, before the clean-up
        elif _sha256(previous) == state["sha256"]:
            os.replace(previous, path)  # killed before the commit: roll back to the recorded epoch
            _fsync_directory(os.path.dirname(os.path.abspath(path)))
    return state


def check_checkpoint(path):
    """The state record of a complete, intact checkpoint at `path`, or CheckpointError.

    First completes or rolls back an interrupted commit (`recover_checkpoint`),
    then checks that the model file matches the SHA-256 its state records.
    """
    path = str(path)
    state = recover_checkpoint(path)
    if state is None or not os.path.exists(path):
        missing = os.path.basename(AtomicModelCheckpoint.state_path(path) if state is None else path)
        raise CheckpointError(f"No complete checkpoint at {path}: {missing} is missing, so there is nothing to resume.")
    if _sha256(path) != state["sha256"]:
        raise CheckpointError(
            f"{path} is corrupt or partial: its SHA-256 differs from the one recorded when it was written. "
            "Restore it from a backup, or delete the run folder and train from scratch."
        )
    return state


def load_checkpoint(path):
    """Loads a model written by `AtomicModelCheckpoint` and the epochs it completed.

    Returns:
        `(model, epochs_completed)`.

    Raises:
        CheckpointError: the file or its state record is missing, the state
            is unreadable or its counts impossible, the file does not match
            the SHA-256 recorded when it was written (partial copy, disk
            corruption), or Keras cannot read it (see `check_checkpoint`).
    """
    state = check_checkpoint(path)
    try:
        model = keras.models.load_model(str(path))
    except Exception as error:  # Keras raises many types for unreadable archives
        raise CheckpointError(f"Keras could not load {path}: {error}") from error
    return model, state["epochs_completed"]


class TerminateOnNaN(keras.callbacks.Callback):
    """Stops training when a reported value or a weight diverges.

    Unlike `keras.callbacks.TerminateOnNaN`, which only watches `loss`, this
    checks every reported term after each batch (GANs report `d_loss`,
    `g_loss`, penalties) and every weight at the end of each epoch, and counts
    as diverged a value that is not finite or exceeds `bound` in magnitude
    (default `DIVERGENCE_BOUND`, 1e10). It keeps a message saying which terms
    diverged and what to try, in `message`.
    """

    def __init__(self, bound=DIVERGENCE_BOUND):
        super().__init__()
        self.bound = float(bound)
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def _stop(self, what):
        if self.message is None:
            self.message = (
                f"Training diverged in epoch {self._epoch}: {what}. Lower the learning rate, check that "
                "the data are in the model's value_range, or for GANs add a penalty (e.g. r1_gamma=10)."
            )
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        bad = diverged_values(logs, self.bound)
        if bad:
            terms = ", ".join(f"{name}={value:g}" for name, value in bad.items())
            self._stop(f"at batch {batch + 1}, {terms} (not finite or beyond {self.bound:g})")

    def on_epoch_end(self, epoch, logs=None):
        if self.message is None:
            weights = diverged_weights(self.model, self.bound)
            if weights:
                self._stop(f"{len(weights)} weight tensors hold non-finite values or values beyond "
                           f"{self.bound:g} (e.g. {weights[0]})")


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
    The real images' features are extracted once, at the first evaluation.

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
        self._real_features = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        from kerasgen.metrics import evaluation

        model = self.model
        value_range = getattr(model, "value_range", (-1.0, 1.0))

        def generate(count, seed):
            images = keras.ops.convert_to_numpy(model.generate(count, seed=seed))
            return rescale_images(images, value_range, self.extractor.value_range)

        if self._real_features is None:
            self._real_features = evaluation.extract_features(
                self.extractor, rescale_images(self.real_images, value_range, self.extractor.value_range))
        result = evaluation.evaluate_generator(
            generate, None, self.extractor, num_samples=self.num_samples, seed=self.seed,
            real_features=self._real_features)
        result["epoch"] = epoch + 1
        self.results.append(result)
        if logs is not None:
            logs["fid"], logs["kid"] = result["fid"], result["kid"]
