"""Image data for kerasgen: one call gives a batched, prefetched ``tf.data`` pipeline.

Usage::

    from kerasgen import datasets

    ds = datasets.load("fashion_mnist")                    # (128, 28, 28, 1) float32 in [-1, 1]
    ds = datasets.load("fashion_mnist", split="test", with_labels=True, value_range=(0, 1))
    ds = datasets.load("fashion_mnist", labels=[0, 3], limit=1000, seed=0)
    ds = datasets.load("mnist")                            # TFDS name (needs TFDS data/internet)
    ds = datasets.load("/data/faces", image_size=(64, 64), color_mode="rgb")   # image folder
    ds = datasets.load((images, labels), batch_size=32)    # NumPy arrays
    x, y = datasets.load_arrays("fashion_mnist", split="test")   # uint8 NHWC, int32 (N,)

Sources: ``"fashion_mnist"`` (IDX files in ``data_dir`` or ``FASHION_MNIST_DIR``, else TFDS);
``"idx"`` with ``data_dir=``; a directory of IDX files; a directory of images (png/jpg/jpeg/bmp/
gif, optionally one subfolder per class: labels index the sorted subfolder names; a subfolder
named like ``split`` is used if present); NumPy ``images`` or ``(images, labels)`` where images
are (N,H,W) or (N,H,W,C) uint8 in [0,255] or float assumed in [0,1]; any other string is a TFDS
name. Every problem raises :class:`DatasetError` naming the problem and the fix.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np
import tensorflow as tf

FASHION_MNIST_ENV = "KERASGEN_FASHION_MNIST_DIR"
FASHION_MNIST_DIR = os.environ.get(FASHION_MNIST_ENV, "/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IDX_SPLITS = {"train": "train", "test": "t10k"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_INSTALL_HINT = ("install it with `apt-get install dataset-fashion-mnist` (files then in "
                 "/usr/share/datasets/fashion-mnist) or pass data_dir= pointing at a folder "
                 "of the four IDX files")
_REINSTALL_HINT = ("re-install the package (`apt-get install --reinstall dataset-fashion-mnist`)"
                   " or re-download the file")
_LOCAL_SOURCES = ("'fashion_mnist' (IDX files), 'idx' with data_dir=, a directory of IDX "
                  "files, a directory of images, or NumPy arrays images / (images, labels)")


class DatasetError(ValueError):
    """Any data-layer problem; the message names the problem and how to fix it."""


# ----------------------------------------------------------------------------- IDX files
def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into an array of its declared shape.

    Image files give uint8 (N, H, W), label files uint8 (N,); multi-byte types (int16/32,
    float32/64, big-endian on disk) come back in native byte order.
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) >= 4 and (data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES):
        raise DatasetError(
            f"{path}: bad IDX magic number 0x{data[:4].hex().upper()} (expected 0x00000803 "
            "for images or 0x00000801 for labels); the file is corrupt or not IDX. "
            f"Fix: {_REINSTALL_HINT}.")
    ndim = data[3] if len(data) >= 4 else 0
    header = 4 + 4 * ndim
    if len(data) < max(header, 4):
        raise DatasetError(f"{path}: IDX header truncated ({len(data)} bytes). "
                           f"Fix: {_REINSTALL_HINT}.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected, found = int(np.prod(dims)) * dtype.itemsize, len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than declared"
        raise DatasetError(
            f"{path}: IDX header declares shape {dims} ({dtype.name}), which implies "
            f"{expected} data bytes, but found {found}; the file is {what} or corrupt. "
            f"Fix: {_REINSTALL_HINT}.")
    array = np.frombuffer(data, dtype, count=int(np.prod(dims)), offset=header)
    return array.reshape(dims).astype(dtype.newbyteorder("="))


def _read_bytes(path: str) -> bytes:
    """Whole file contents, gunzipped if the name ends in .gz or the bytes are gzip."""
    if not os.path.isfile(path):
        raise DatasetError(f"IDX file not found: {path}. Fix: {_INSTALL_HINT}.")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if path.endswith(".gz") or raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        return raw
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"could not read {path}: {e} (unreadable, or corrupt/truncated gzip). "
                           f"Fix: {_REINSTALL_HINT}.") from e


def _has_idx(directory) -> bool:
    """True if `directory` exists and holds at least one train-/t10k- IDX file."""
    return bool(directory) and os.path.isdir(directory) and any(
        name.startswith(("train-", "t10k-")) and "-idx" in name for name in os.listdir(directory))


def _idx_path(directory: str, stem: str) -> str:
    """Path of `stem` or `stem`.gz in `directory`; DatasetError naming the file if absent."""
    for name in (stem, stem + ".gz"):
        if os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise DatasetError(f"missing IDX file {os.path.join(directory, stem)}[.gz]. "
                       f"Fix: {_INSTALL_HINT}.")


def _read_idx_dir(directory: str, split: str):
    """(images (N,H,W) uint8, labels (N,) uint8) of `split` from a folder of IDX files."""
    if split not in IDX_SPLITS:
        raise DatasetError(f"unknown split {split!r} for IDX data; valid splits: "
                           f"{sorted(IDX_SPLITS)}. Fix: pass one of them (limit= for a subset).")
    prefix = IDX_SPLITS[split]
    return (read_idx(_idx_path(directory, f"{prefix}-images-idx3-ubyte")),
            read_idx(_idx_path(directory, f"{prefix}-labels-idx1-ubyte")))


# ----------------------------------------------------------------------------- image folders
def _image_files(directory: str) -> list:
    """Sorted paths of the image files directly inside `directory`."""
    return [os.path.join(directory, n) for n in sorted(os.listdir(directory))
            if n.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(directory, n))]


def _list_image_dir(directory: str, split):
    """(folder read, sorted image paths, labels (N,) int32 or None) of a folder of images."""
    if split and os.path.isdir(os.path.join(directory, str(split))):
        directory = os.path.join(directory, str(split))
    subdirs = [os.path.join(directory, d) for d in sorted(os.listdir(directory)) if not d.startswith(".")]
    classes = [d for d in subdirs if os.path.isdir(d)]
    files, labels = _image_files(directory), None
    empty = [d for d in classes if not _image_files(d)]
    if empty and len(empty) < len(classes):
        raise DatasetError(f"class folder {empty[0]} holds no image files {IMAGE_EXTENSIONS}, so its class "
                           "would silently vanish and the classes after it be renumbered. Fix: add its images "
                           "or remove the folder.")
    classes = [d for d in classes if d not in empty]
    if classes and files:
        raise DatasetError(f"{directory} holds both images and class subfolders. Fix: move "
                           f"the loose images (e.g. {files[0]}) into a class subfolder.")
    if classes:
        per_class = [_image_files(d) for d in classes]
        files = [f for fs in per_class for f in fs]
        labels = np.concatenate([np.full(len(fs), i, np.int32) for i, fs in enumerate(per_class)])
    if not files:
        raise DatasetError(f"empty dataset: no image files {IMAGE_EXTENSIONS} in {directory}. Fix: "
                           "point source at a folder of images (optionally a subfolder per class).")
    return directory, files, labels


def _read_image_dir(directory: str, split, image_size, color_mode):
    """(images (N,H,W,C) uint8, labels (N,) int32 or None) from a folder of images."""
    _, files, labels = _list_image_dir(directory, split)
    return _read_images(files, image_size, color_mode), labels


def _read_images(files, image_size, color_mode) -> np.ndarray:
    """Stack image files into uint8 (N,H,W,C); all must share one size after resizing."""
    from PIL import Image
    if color_mode is not None and color_mode not in COLOR_MODES:
        raise DatasetError(f"unknown color_mode {color_mode!r}. Fix: use one of "
                           f"{sorted(COLOR_MODES)} or None.")
    arrays = []
    for path in files:
        try:
            with Image.open(path) as img:
                img = img.convert(COLOR_MODES[color_mode] if color_mode else _auto_mode(img))
                if image_size is not None:
                    img = img.resize((int(image_size[1]), int(image_size[0])), Image.BILINEAR)
                array = np.asarray(img, np.uint8)
        except OSError as e:
            raise DatasetError(f"cannot read image {path}: {e}. Fix: remove or replace it.") from e
        array = array[..., None] if array.ndim == 2 else array
        if arrays and array.shape != arrays[0].shape:
            raise DatasetError(
                f"image {path} has shape {array.shape} but {files[0]} has {arrays[0].shape}; "
                "all images must share one size (H, W, C). Fix: pass image_size=(h, w) to "
                "resize and/or color_mode='grayscale'|'rgb' to convert.")
        arrays.append(array)
    return np.stack(arrays)


def _auto_mode(img) -> str:
    """PIL mode for color_mode=None: L/RGB/RGBA kept, alpha -> RGBA, 1/I/F -> L, else RGB."""
    if img.mode in ("L", "RGB", "RGBA"):
        return img.mode
    alpha = "A" in img.mode or "transparency" in img.info
    return "RGBA" if alpha else ("L" if img.mode in ("1", "I", "F", "I;16") else "RGB")


# ----------------------------------------------------------------------------- arrays
def _check_arrays(images, labels, origin: str):
    """Validate and normalize to (images (N,H,W,C) uint8 or float32 in [0,1], labels int32|None)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise DatasetError(f"{origin}: images have shape {images.shape} (rank {images.ndim}); "
                           "expected NHW or NHWC. Fix: pass a batch of images, channels last.")
    if images.shape[-1] not in (1, 3, 4):
        raise DatasetError(f"{origin}: images have {images.shape[-1]} channels (shape "
                           f"{images.shape}); expected 1, 3 or 4. Fix: pass NHWC (for NCHW use "
                           "np.transpose(x, (0, 2, 3, 1))).")
    images = _check_values(images, origin)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetError(f"{origin}: {len(images)} images but labels of shape {labels.shape};"
                               " counts must match. Fix: pass one int label per image.")
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
            bad = labels[~(np.isfinite(labels) & (labels == np.round(labels)))][0]
            raise DatasetError(f"{origin}: labels must be whole numbers (class ids), got {bad!r} of dtype "
                               f"{labels.dtype}. Fix: pass integer labels, e.g. labels.astype(int) after "
                               "checking they are the class ids you mean.")
        if labels.dtype.kind not in "iuf" and len(labels):
            raise DatasetError(f"{origin}: labels must be integer class ids, got dtype {labels.dtype}. "
                               "Fix: map them to integers 0..num_classes-1.")
        labels = labels.astype(np.int32)
    return images, labels


def _check_values(images: np.ndarray, origin: str) -> np.ndarray:
    """uint8 as is; ints in [0,255] -> uint8; floats must be in [0,1] -> float32."""
    if images.dtype == np.uint8 or images.size == 0:
        return images
    low, high = float(images.min()), float(images.max())
    if images.dtype.kind in "iu" and low >= 0 and high <= 255:
        return images.astype(np.uint8)
    if images.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        return images.astype(np.float32)
    raise DatasetError(f"{origin}: images of dtype {images.dtype} span [{low}, {high}]; expected "
                       "uint8 in [0, 255] or float in [0, 1]. Fix: rescale (e.g. x / 255.0).")


def _select(images, labels, keep, limit):
    """Keep classes in `keep` (if given), then the first `limit` examples; error if empty."""
    if keep is not None:
        if labels is None:
            raise DatasetError("labels= filter given but the source has no labels. Fix: pass "
                               "(images, labels), use class subfolders, or drop labels=.")
        mask = np.isin(labels, np.asarray(keep, np.int64).ravel())
        images, labels = images[mask], labels[mask]
    if limit is not None:
        images = images[:limit]
        labels = None if labels is None else labels[:limit]
    if len(images) == 0:
        raise DatasetError(f"empty dataset (labels={keep}, limit={limit}). Fix: check the "
                           "source holds images and that labels=/limit= select some.")
    return images, labels


# ----------------------------------------------------------------------------- sources
def _fashion_dir() -> str:
    """Local Fashion-MNIST folder: $KERASGEN_FASHION_MNIST_DIR, else FASHION_MNIST_DIR."""
    return os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR


def _plan(source, data_dir):
    """Decide how to read `source`: ("arrays"|"idx"|"images"|"tfds", argument)."""
    if isinstance(source, np.ndarray):
        return "arrays", (source, None)
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return "arrays", tuple(source)
    if not isinstance(source, (str, os.PathLike)):
        raise DatasetError(f"unsupported source type {type(source).__name__}. Fix: pass a TFDS "
                           f"name or one of the local sources: {_LOCAL_SOURCES}.")
    name = os.fspath(source)
    key = name.lower().replace("-", "_")
    if key == "fashion_mnist":
        local = data_dir if data_dir is not None else _fashion_dir()
        return ("idx", local) if _has_idx(local) else ("tfds", "fashion_mnist")
    if key == "idx":
        if data_dir is None:
            raise DatasetError("source='idx' needs data_dir=. Fix: pass data_dir= pointing at a "
                               "folder of train-/t10k- IDX files.")
        return "idx", os.fspath(data_dir)
    path = os.path.expanduser(name)
    if os.path.isdir(path):
        return ("idx", path) if _has_idx(path) else ("images", path)
    if os.path.exists(path) or name.startswith(("/", ".", "~")):
        raise DatasetError(f"source {name!r} is not an existing directory. Fix: pass a folder "
                           "of IDX files or images (or a TFDS dataset name).")
    return "tfds", name


def _local_arrays(kind, arg, split, image_size, color_mode):
    """(images NHWC uint8|float32, labels int32|None) for a non-TFDS plan."""
    if kind == "arrays":
        return _check_arrays(arg[0], arg[1], "NumPy source")
    if kind == "idx":
        return _check_arrays(*_read_idx_dir(arg, split), arg)
    return _check_arrays(*_read_image_dir(arg, split, image_size, color_mode), arg)


def _tfds_load(name, split, data_dir, shuffle, seed):
    """tfds.load(name) as a dataset of feature dicts; failures become DatasetError."""
    import tensorflow_datasets as tfds  # lazy: only TFDS sources pay for it

    try:
        return tfds.load(name, split=split, as_supervised=False, data_dir=data_dir,
                         shuffle_files=shuffle, read_config=tfds.ReadConfig(shuffle_seed=seed))
    except Exception as e:  # noqa: BLE001 - TFDS raises many types (offline, missing modules...)
        if name == "fashion_mnist":
            searched = _fashion_dir() if data_dir is None else os.fspath(data_dir)
            where = (f"no IDX files in {searched}" if os.path.isdir(searched)
                     else f"{searched} does not exist")
            if data_dir is not None and _has_idx(_fashion_dir()):
                where += f"; {_fashion_dir()} does hold them: drop data_dir= (--data-dir) to use it"
            raise DatasetError(
                f"Fashion-MNIST not found locally ({where}) and TFDS failed ({type(e).__name__}: {e}). "
                f"Fix: {_INSTALL_HINT}, or go online so TFDS can download it.") from e
        if type(e).__name__ == "DatasetNotFoundError":
            raise DatasetError(f"{name!r} is not a TFDS builder. Fix: check the name "
                               f"(tfds.list_builders()) or use a locally supported source: "
                               f"{_LOCAL_SOURCES}.") from e
        raise DatasetError(f"could not load TFDS dataset {name!r} split {split!r} "
                           f"({type(e).__name__}: {e}). Fix: check the split, go online so TFDS "
                           "can download it, or pass data_dir= of a prepared TFDS copy.") from e


def _from_tfds(name, split, data_dir, shuffle, seed, with_labels, keep, limit, image_size=None):
    """Unbatched uint8 images (H,W,C) or (image, int32 label) from TFDS.

    ``with_labels=None`` means: include labels iff the dataset has a "label" feature.
    ``image_size=(h, w)`` resizes (bilinear); datasets of varying image sizes need it.
    """
    ds = _tfds_load(name, split, data_dir, shuffle, seed)
    keys = set(ds.element_spec)
    with_labels = "label" in keys if with_labels is None else with_labels
    if "image" not in keys or ((with_labels or keep is not None) and "label" not in keys):
        raise DatasetError(f"TFDS {name!r} has features {sorted(keys)}; need 'image'"
                           f"{' and label' if with_labels or keep is not None else ''}. "
                           "Fix: choose an image dataset or drop with_labels=/labels=.")
    if keep is not None:
        wanted = tf.constant(np.asarray(keep, np.int64).ravel())
        ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(tf.cast(ex["label"], tf.int64), wanted)))
    if limit is not None:
        ds = ds.take(limit)
    image_shape = ds.element_spec["image"].shape
    if image_size is not None:
        size = tuple(int(d) for d in image_size)
        ds = ds.map(lambda ex: {**ex, "image": _resize_uint8(ex["image"], size)})
    elif image_shape.rank != 3 or None in image_shape[:2]:
        raise DatasetError(f"TFDS {name!r} has images of varying size (shape {image_shape}), which "
                           "cannot be batched. Fix: pass image_size=(h, w) to resize them.")
    if with_labels:
        return ds.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int32)))
    return ds.map(lambda ex: ex["image"])


def _resize_uint8(image, size):
    """Bilinear resize of one uint8 (H, W, C) image to `size` (h, w), still uint8."""
    resized = tf.image.resize(tf.cast(image, tf.float32), size)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


# ----------------------------------------------------------------------------- public API
def to_value_range(images, value_range=(-1.0, 1.0)):
    """Map uint8 [0,255] (or float assumed in [0,1]) images to float32 in `value_range`.

    Works on NumPy arrays (returns np.float32) and tf tensors (returns tf.float32), any shape.
    """
    lo, hi = _check_value_range(value_range)
    if tf.is_tensor(images):
        x = tf.cast(images, tf.float32)
        x = x / 255.0 if images.dtype.is_integer else x
    else:
        images = np.asarray(images)
        x = images.astype(np.float32) / (255.0 if images.dtype.kind in "iub" else 1.0)
    return x * np.float32(hi - lo) + np.float32(lo)


def _check_value_range(value_range):
    """(lo, hi) floats with lo < hi, else DatasetError."""
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"value_range={value_range!r} is not a pair of numbers. "
                           "Fix: pass e.g. (-1.0, 1.0) or (0.0, 1.0).") from e
    if not lo < hi:
        raise DatasetError(f"value_range={value_range!r} needs lo < hi. Fix: e.g. (-1.0, 1.0).")
    return lo, hi


def _check_count(value, what: str, allow_none: bool = False):
    """Positive int check for batch_size / limit / shuffle_buffer (None ok if allow_none)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f"{what}={value!r} must be a positive int. Fix: pass e.g. {what}=128.")


def _scaler(value_range):
    """tf.data map fn: (images[, labels]) -> (float images in value_range[, labels])."""
    @tf.autograph.experimental.do_not_convert
    def scale(images, *labels):
        scaled = to_value_range(images, value_range)
        return (scaled, *labels) if labels else scaled
    return scale


def load(source, split="train", batch_size=128, with_labels=False, value_range=(-1.0, 1.0),
         data_dir=None, shuffle=None, seed=None, drop_remainder=False, limit=None, labels=None,
         shuffle_buffer=10_000, image_size=None, color_mode=None, with_indices=False) -> tf.data.Dataset:
    """Batched, prefetched dataset of float32 (B,H,W,C) images in `value_range`.

    With ``with_labels=True`` elements are ``(images, labels)``, labels int32 (B,). With
    ``with_indices=True`` they are ``(images, indices)``: int32 (B,) positions of the images in
    the selected source (after ``labels=``/``limit=``), fixed however the data is shuffled; GLO
    and GLANN train on these to find each image's latent code. ``shuffle``
    (None: True iff split starts with "train") reshuffles each epoch, seeded by ``seed``.
    ``labels=[...]`` keeps those classes (values unchanged), then ``limit=N`` the first N.
    ``image_size=(h, w)`` resizes images of folders and TFDS datasets (needed where sizes vary);
    ``color_mode`` ("grayscale"|"rgb"|"rgba") converts images of folders.
    """
    _check_value_range(value_range)
    _check_count(batch_size, "batch_size")
    _check_count(shuffle_buffer, "shuffle_buffer")
    _check_count(limit, "limit", allow_none=True)
    shuffle = str(split).startswith("train") if shuffle is None else bool(shuffle)
    if with_labels and with_indices:
        raise DatasetError("with_labels=True and with_indices=True cannot be combined: elements "
                           "are (images, labels) or (images, indices). Fix: choose one.")
    kind, arg = _plan(source, data_dir)
    if kind == "tfds":
        # Files are read in a fixed order when indices are wanted, so indices name the same images.
        ds = _from_tfds(arg, split, data_dir, shuffle and not with_indices, seed, with_labels, labels, limit,
                        image_size)
        if with_indices:
            ds = ds.enumerate().map(lambda i, image: (image, tf.cast(i, tf.int32)))
    else:
        images, y = _select(*_local_arrays(kind, arg, split, image_size, color_mode), labels, limit)
        if with_labels and y is None:
            raise DatasetError("with_labels=True but the source has no labels. Fix: pass "
                               "(images, labels), use class subfolders, or with_labels=False.")
        if with_indices:
            y = np.arange(len(images), dtype=np.int32)
        ds = tf.data.Dataset.from_tensor_slices((images, y) if with_labels or with_indices else images)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_scaler(value_range), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_arrays(source, split="train", data_dir=None, limit=None, *, labels=None,
                image_size=None, color_mode=None):
    """In-memory ``(images uint8 (N,H,W,C) in [0,255], labels int32 (N,) or None)``.

    Float [0,1] inputs are rounded to uint8. Same sources and errors as :func:`load`.
    """
    _check_count(limit, "limit", allow_none=True)
    kind, arg = _plan(source, data_dir)
    if kind == "tfds":
        ds = _from_tfds(arg, split, data_dir, False, None, None, labels, limit, image_size)
        with_labels = isinstance(ds.element_spec, tuple)
        parts = list(ds.batch(1024).as_numpy_iterator())
        if not parts:
            raise DatasetError(f"empty dataset: TFDS {arg!r} split {split!r} gave no examples.")
        x = np.concatenate([p[0] if with_labels else p for p in parts])
        y = np.concatenate([p[1] for p in parts]) if with_labels else None
        images, y = _check_arrays(x, y, f"TFDS {arg!r}")
    else:
        images, y = _select(*_local_arrays(kind, arg, split, image_size, color_mode), labels, limit)
    if images.dtype != np.uint8:
        images = np.round(images * 255.0).astype(np.uint8)
    return images, y


# ----------------------------------------------------------------------------- two domains
def edge_map(images, threshold=0.2) -> np.ndarray:
    """Binary edge maps of images: uint8 ``(N, H, W, 1)``, 255 on edges, 0 elsewhere.

    The Sobel gradient magnitude of each image's grey levels in [0, 1] (the mean over
    channels), divided by 4 (its value across a unit step), thresholded at ``threshold``. The
    offline stand-in for the HED edge maps of pix2pix's edges2shoes: kerasgen's Fashion-MNIST
    pix2pix task learns to map these edge maps back to the images.

    Args:
        images: uint8 in [0, 255] or float in [0, 1], ``(N, H, W)`` or ``(N, H, W, C)``.
        threshold: in (0, 1); smaller keeps fainter edges.
    """
    from scipy import ndimage

    if not 0.0 < float(threshold) < 1.0:
        raise DatasetError(f"edge_map threshold={threshold!r} must be in (0, 1). Fix: e.g. 0.2.")
    array, _ = _check_arrays(images, None, "edge_map")
    grey = array.astype(np.float32).mean(axis=-1) / (255.0 if array.dtype == np.uint8 else 1.0)
    sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], np.float32)
    # (1, 3, 3) kernels: each image is filtered on its own, never across the batch axis.
    gx = ndimage.correlate(grey, sobel[None], mode="constant")
    gy = ndimage.correlate(grey, sobel.T[None], mode="constant")
    return np.where(np.hypot(gx, gy) / 4.0 > threshold, 255, 0).astype(np.uint8)[..., None]


def _splits(split):
    """``(split_a, split_b)`` from one split name for both domains or a pair of names."""
    if isinstance(split, (tuple, list)):
        if len(split) != 2:
            raise DatasetError(f"split={split!r} must be one split name or a pair (split_a, split_b).")
        return tuple(split)
    return split, split


def _domain(source, split, data_dir, limit, labels, image_size, color_mode):
    """One domain as (unbatched dataset of uint8 or [0, 1] float (H, W, C) images, count or None).

    Local sources are read in their fixed order (image folders by sorted name); TFDS in its
    stored file order. The count is None where TFDS cannot tell it without reading the data.
    """
    kind, arg = _plan(source, data_dir)
    if kind == "tfds":
        ds = _from_tfds(arg, split, data_dir, False, None, False, labels, limit, image_size)
        count = int(ds.cardinality())
        return ds, (count if count >= 0 else None)
    images, _ = _select(*_local_arrays(kind, arg, split, image_size, color_mode), labels, limit)
    return tf.data.Dataset.from_tensor_slices(images), len(images)


def _count(ds, count):
    """``count``, or the number of elements found by reading ``ds`` once."""
    return count if count is not None else int(ds.reduce(np.int64(0), lambda n, _: n + 1))


def _image_names(source, split, data_dir):
    """Image file names relative to their folder for an image-folder source, else None."""
    kind, arg = _plan(source, data_dir)
    if kind != "images":
        return None
    root, files, _ = _list_image_dir(arg, split)
    return [os.path.relpath(f, root) for f in files]


def _batched_pairs(ds, shuffle, shuffle_buffer, seed, batch_size, drop_remainder, value_range):
    """Unbatched ``(a, b)`` image pairs -> shuffled (optionally), batched, scaled, prefetched pairs."""
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    @tf.autograph.experimental.do_not_convert
    def scale(a, b):
        return to_value_range(a, value_range), to_value_range(b, value_range)

    return ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _check_pair_arguments(value_range, batch_size, limit, shuffle_buffer):
    _check_value_range(value_range)
    _check_count(batch_size, "batch_size")
    _check_count(limit, "limit", allow_none=True)
    _check_count(shuffle_buffer, "shuffle_buffer")


def load_pairs(source_a, source_b, split="train", batch_size=32, value_range=(-1.0, 1.0),
               data_dir=None, shuffle=None, seed=None, drop_remainder=False, limit=None,
               image_size=None, color_mode=None, shuffle_buffer=10_000) -> tf.data.Dataset:
    """Aligned pairs ``(a_images, b_images)``, float32 (B,H,W,C) in `value_range`, for pix2pix.

    Image i of ``source_a`` is the input whose desired output is image i of ``source_b``. Each
    source is anything :func:`load` reads (folder of images, folder of IDX files, TFDS name,
    NumPy arrays), read in a fixed order: image folders by sorted file name (two folders must
    hold the same file names, e.g. ``A/0001.png`` and ``B/0001.png``), TFDS datasets in their
    stored order, arrays by index. Pairs are shuffled together (``shuffle``: None means True
    for splits starting with "train"). ``split`` is one split name or a pair
    ``(split_a, split_b)``; ``limit=N`` keeps the first N pairs.
    """
    _check_pair_arguments(value_range, batch_size, limit, shuffle_buffer)
    split_a, split_b = _splits(split)
    names_a, names_b = _image_names(source_a, split_a, data_dir), _image_names(source_b, split_b, data_dir)
    if names_a is not None and names_b is not None and names_a != names_b:
        first = next((i for i, (a, b) in enumerate(zip(names_a, names_b)) if a != b), min(len(names_a), len(names_b)))
        shown = [names[first] if first < len(names) else "(none)" for names in (names_a, names_b)]
        raise DatasetError(
            f"load_pairs pairs images by file name, but the two folders differ ({len(names_a)} and "
            f"{len(names_b)} images; image {first} is {shown[0]!r} in A and {shown[1]!r} in B). "
            "Fix: give each input and its output the same file name in the two folders.")
    a, count_a = _domain(source_a, split_a, data_dir, limit, None, image_size, color_mode)
    b, count_b = _domain(source_b, split_b, data_dir, limit, None, image_size, color_mode)
    if count_a is not None and count_b is not None and count_a != count_b:
        raise DatasetError(
            f"load_pairs needs as many images in source_a as in source_b, got {count_a} and {count_b}. "
            "Fix: pass aligned sources (image i of A pairs with image i of B), or use load_unpaired "
            "for unaligned domains (CycleGAN).")
    shuffle = str(split_a).startswith("train") if shuffle is None else bool(shuffle)
    return _batched_pairs(tf.data.Dataset.zip((a, b)), shuffle, shuffle_buffer, seed, batch_size,
                          drop_remainder, value_range)


def load_unpaired(source_a, source_b, split="train", batch_size=32, value_range=(-1.0, 1.0),
                  data_dir=None, shuffle=None, seed=None, drop_remainder=False, limit=None, labels=None,
                  image_size=None, color_mode=None, shuffle_buffer=10_000) -> tf.data.Dataset:
    """Batches ``(a_images, b_images)`` from two unaligned image sets, float32 in `value_range`, for CycleGAN.

    Each domain is shuffled on its own (seeds ``seed`` and ``seed + 1``). An epoch goes once
    through the larger domain while the smaller one is repeated, reshuffled on every pass
    (CycleGAN's unaligned data loader does the same). Sources are anything :func:`load` reads.
    ``split`` is one split name or ``(split_a, split_b)``, e.g. ``("trainA", "trainB")`` for
    TFDS ``cycle_gan/horse2zebra``; ``labels=(classes_a, classes_b)`` (each None or a list)
    picks classes per domain, e.g. ``([7], [9])`` for sneakers and ankle boots of Fashion-MNIST;
    ``limit=N`` keeps the first N images of each domain.
    """
    _check_pair_arguments(value_range, batch_size, limit, shuffle_buffer)
    split_a, split_b = _splits(split)
    if labels is None:
        labels = (None, None)
    if not (isinstance(labels, (tuple, list)) and len(labels) == 2
            and all(c is None or isinstance(c, (tuple, list, np.ndarray)) for c in labels)):
        raise DatasetError(f"labels={labels!r} must be a pair (classes of A, classes of B), each None "
                           "or a list of class ids. Fix: e.g. labels=([7], [9]).")
    a, count_a = _domain(source_a, split_a, data_dir, limit, labels[0], image_size, color_mode)
    b, count_b = _domain(source_b, split_b, data_dir, limit, labels[1], image_size, color_mode)
    count_a, count_b = _count(a, count_a), _count(b, count_b)
    if not count_a or not count_b:
        raise DatasetError(f"load_unpaired got {count_a} images in domain A and {count_b} in domain B. "
                           "Fix: check the sources, splits and labels= select images in both.")
    shuffle = str(split_a).startswith("train") if shuffle is None else bool(shuffle)
    if shuffle:
        a = a.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        b = b.shuffle(shuffle_buffer, seed=None if seed is None else seed + 1, reshuffle_each_iteration=True)
    if count_a < count_b:
        a = a.repeat()
    elif count_b < count_a:
        b = b.repeat()
    return _batched_pairs(tf.data.Dataset.zip((a, b)), False, shuffle_buffer, seed, batch_size,
                          drop_remainder, value_range)


#: Fashion-MNIST classes of the offline unpaired task: sneakers (A) and ankle boots (B).
FASHION_MNIST_DOMAINS = (7, 9)


def fashion_mnist_translation(pairing, split="train", batch_size=32, value_range=(-1.0, 1.0),
                              data_dir=None, shuffle=None, seed=None, drop_remainder=False,
                              limit=None, classes=FASHION_MNIST_DOMAINS) -> tf.data.Dataset:
    """The offline translation tasks built from Fashion-MNIST, as ``(a_images, b_images)`` batches.

    - ``pairing="paired"`` (pix2pix): A = :func:`edge_map` of each image, B = the image itself;
      edges -> clothes, like pix2pix's edges2shoes.
    - ``pairing="unpaired"`` (CycleGAN): A = images of ``classes[0]``, B = images of
      ``classes[1]`` (default sneakers and ankle boots), shuffled independently.

    ``limit`` keeps the first N pairs (paired) or N images per domain (unpaired); the other
    arguments are those of :func:`load_pairs` / :func:`load_unpaired`.
    """
    common = dict(split=split, batch_size=batch_size, value_range=value_range, shuffle=shuffle, seed=seed,
                  drop_remainder=drop_remainder, limit=limit)
    if pairing == "paired":
        images, _ = load_arrays("fashion_mnist", split=split, data_dir=data_dir, limit=limit)
        return load_pairs(edge_map(images), images, **common)
    if pairing == "unpaired":
        first, second = (int(c) for c in classes)
        return load_unpaired("fashion_mnist", "fashion_mnist", data_dir=data_dir, labels=([first], [second]),
                             **common)
    raise DatasetError(f"pairing={pairing!r} must be 'paired' or 'unpaired'.")
