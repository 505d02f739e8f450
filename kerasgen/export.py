"""Versioned SavedModels for TensorFlow Serving, loadable without kerasgen.

`save_for_serving` writes a model's inference graph, weights and named
signatures as `base_dir/<version>/` (`saved_model.pb` and `variables/`), the
layout TF Serving's `--model_base_path=base_dir` watches: it serves the
highest integer version, so exporting a new version rolls it out. The
artifact needs only TensorFlow (not kerasgen) to load and run.

    import kerasgen
    vae = kerasgen.models.VAE(latent_dim=16)
    ...  # vae.compile(); vae.fit(...)
    path = kerasgen.export.save_for_serving(vae, "saved_models/vae_fashion_mnist")
    # -> "saved_models/vae_fashion_mnist/1"; the next export writes ".../2"
    kerasgen.export.signature_names(vae)
    # -> ["serving_default", "encode", "decode", "reconstruct"]

    # Anywhere with TensorFlow installed:
    import tensorflow as tf
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](z=tf.random.normal((4, 16)))
    out["images"]        # float32 (4, 28, 28, 1) in the model's value_range
    out["images_uint8"]  # uint8   (4, 28, 28, 1) in [0, 255]

Serve it (REST on port 8501) with the TF Serving binary:

    tensorflow_model_server --rest_api_port=8501 --model_name=vae \\
        --model_base_path=$PWD/saved_models/vae_fashion_mnist

or with Docker:

    docker run -p 8501:8501 -v $PWD/saved_models/vae_fashion_mnist:/models/vae \\
        -e MODEL_NAME=vae tensorflow/serving

and query it (`POST http://localhost:8501/v1/models/vae:predict`) with the
columnar ("inputs") request format, one row of `z` per image:

    {"signature_name": "serving_default", "inputs": {"z": [[0.1, -1.2, ...]]}}

Conditional models take `"labels": [3, ...]` too; the other signatures take
`"images"` (float32 NHWC in the model's value_range) instead of `z`.

Signatures, by model family (all inputs are batched; `labels` only for
conditional models, int32 class ids in `[0, num_classes)`):

- GANs: `serving_default(z[, labels]) -> {images, images_uint8}`, sampled
  with the EMA generator when the model keeps one.
- VAEs: `serving_default(z[, labels]) -> {images, images_uint8}` (decodes
  prior draws z ~ N(0, I) into the means of p(x|z)), plus
  `encode(images[, labels]) -> {z_mean, z_log_var}`,
  `decode(z[, labels]) -> {images, images_uint8}` and
  `reconstruct(images[, labels]) -> {images, images_uint8}` (decodes z_mean).
- Other generators (GLO, IMLE, GLANN): `serving_default(z) -> {images,
  images_uint8}` with z ~ N(0, I) of width `noise_dim` (GLANN's mapper
  input; `latent_dim` otherwise). GLO maps z through the Gaussian it fitted
  to its learned codes.
- WAE: `serving_default(z)` decodes prior draws, plus `encode(images) -> {z}`,
  `decode(z)` and `reconstruct(images)`.
- Autoencoders: `encode(images) -> {z}`, `decode(z)`, `reconstruct(images)`,
  and `serving_default` is `reconstruct` (there is no prior to sample).
- PixelCNN: `serving_default(noise)` = `sample(noise) -> {images,
  images_uint8}`, where `noise` `(batch, H, W, C)` holds uniform draws in
  [0, 1) that pick each sub-pixel's level by inverse CDF (so a client
  controls the randomness, and equal noise gives equal images), and
  `log_prob(images) -> {log_prob, bits_per_dim}` (nats per image and bits per
  sub-pixel of the images quantized to the model's levels).
- Translation (pix2pix, CycleGAN): `a2b(images) -> {images, images_uint8}`
  translates domain A images (`source_shape`) to domain B, CycleGAN also
  `b2a(images)` back; `serving_default` is `a2b`. Inference mode: dropout
  off, batch norm with its moving statistics.

`images` are float32 in the model's `value_range` (clipped to it);
`images_uint8 = round(clip((images - low) / (high - low), 0, 1) * 255)`.
The signatures check their inputs. TensorFlow refuses a wrong dtype at the
call boundary; the graph then asserts, before running any network, that each
input has the right shape (`z` `(batch, latent_dim)`, `images`
`(batch, H, W, C)`, `labels` `(batch,)`), that labels lie in
`[0, num_classes)`, that image values lie in `value_range` (tolerance 1e-3,
no NaN), that `z` is finite, and that `z`/`images` and `labels` have the same
batch size. An empty batch returns empty outputs of the right shapes. Each
failure is an `InvalidArgumentError` (HTTP 400 from TF Serving) whose message
names the input, what it should be and what it got, e.g.
`assertion failed: [labels must be int32 class ids of shape (batch,) in [0, 10);
got labels in] [0] [12]`.

Besides the SavedModel, each version holds `assets.extra/kerasgen_export.json`
(model class, family, latent_dim, noise_dim, image_shape, value_range,
num_classes, signature names, and source_shape for translation models) for
clients; TF Serving ignores it.
"""

from __future__ import annotations

import json
import operator
import os
import re
import shutil

import keras
import tensorflow as tf

__all__ = ["next_version", "save_for_serving", "signature_names"]

# Image values may overshoot `value_range` by this much (as in `fit`).
RANGE_TOLERANCE = 1e-3

METADATA_FILE = os.path.join("assets.extra", "kerasgen_export.json")

_FAMILIES = ("gan", "generator", "vae", "wae", "autoencoder", "autoregressive", "translation")
# Signature sets: generators (GANs, GLO, IMLE, GLANN) share one.
_SIGNATURE_SET = {"gan": "generator", "generator": "generator", "vae": "vae", "wae": "wae",
                  "autoencoder": "autoencoder", "autoregressive": "autoregressive",
                  "translation": "translation"}
_VERSION_NAME = re.compile(r"[0-9]+")


# ------------------------------------------------------------------ versions
def next_version(base_dir) -> int:
    """1 + the largest integer-named subdirectory of `base_dir`, or 1 if none.

    Other entries (files, temporary `.tmp-*` export directories, non-integer
    names) are ignored, as TF Serving ignores them.
    """
    base_dir = os.fspath(base_dir)
    if not os.path.isdir(base_dir):
        return 1
    versions = [
        int(entry.name)
        for entry in os.scandir(base_dir)
        if _VERSION_NAME.fullmatch(entry.name) and entry.is_dir()
    ]
    return max(versions, default=0) + 1


def _check_version(version):
    if isinstance(version, bool):
        raise TypeError(f"version must be a non-negative integer, got {version!r}.")
    try:
        version = operator.index(version)
    except TypeError:
        raise TypeError(
            f"version must be a non-negative integer (TF Serving's version directories are integers), "
            f"got {version!r}."
        ) from None
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}.")
    return version


# ------------------------------------------------------------------ families
def _family(model):
    """The registry family of `model` ("gan", "generator", "vae", "wae", "autoencoder",
    "autoregressive"): its own class's entry first, then the nearest registered base class."""
    from kerasgen.models import REGISTRY

    for cls in type(model).__mro__:
        for spec in REGISTRY.values():
            if cls is spec.cls and spec.family in _FAMILIES:
                return spec.family
    raise TypeError(
        f"kerasgen.export supports the registered kerasgen models and their subclasses "
        f"({', '.join(sorted(spec.cls.__name__ for spec in REGISTRY.values()))}), got {type(model).__name__}."
    )


def _signature_set(model):
    return _SIGNATURE_SET[_family(model)]


def _noise_dim(model):
    """Width of the `z` input of generator signatures (GLANN's mapper takes noise_dim)."""
    return getattr(model, "noise_dim", None) or model.latent_dim


def _conditional(model, family):
    # Autoencoders have no conditional networks, whatever num_classes says.
    return family in ("gan", "vae") and bool(getattr(model, "num_classes", None))


def signature_names(model) -> list:
    """Names of the SavedModel signatures `save_for_serving(model, ...)` writes."""
    kind = _signature_set(model)
    if kind == "generator":
        return ["serving_default"]
    if kind == "autoregressive":
        return ["serving_default", "sample", "log_prob"]
    if kind == "translation":
        return ["serving_default", *model.DIRECTIONS]
    return ["serving_default", "encode", "decode", "reconstruct"]


# ------------------------------------------------------------- graph pieces
def _shape_text(shape):
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


def _padded_shape(tensor, rank):
    """`tf.shape(tensor)` cut or padded with -1 to `rank + 1` entries, whatever the tensor's rank.

    An entry `rank` (0-based) other than -1 means the tensor has too many
    axes; a -1 before it, too few. Comparisons then never fail on a rank
    mismatch themselves, so the assertion that uses them can say what is wrong.
    """
    return tf.concat([tf.shape(tensor), tf.fill([rank + 1], -1)], axis=0)[: rank + 1]


def _assert(condition, *data):
    return tf.debugging.Assert(condition, list(data), summarize=8)


def _default_inner_shape(model, name):
    """Shape after the batch axis of the input `name` ("z", "noise" or "images")."""
    return (_noise_dim(model),) if name == "z" else tuple(model.image_shape)


def _input_checks(model, name, tensor, labels, inner):
    """Assertion ops on `tensor` (named `name`: "z", "noise" or "images", of shape
    `(batch, *inner)`) and `labels`.

    A concrete signature (what TF Serving and `loaded.signatures[...]` run)
    checks dtypes at its boundary but not shapes, so shapes are checked here,
    first; value ranges and batch sizes are checked after them.
    """
    expected_shape = _shape_text((None, *inner))
    shape = _padded_shape(tensor, len(inner) + 1)
    shape_checks = [_assert(
        tf.reduce_all(tf.equal(shape[1:], tf.constant([*inner, -1], tf.int32))),
        f"{name} must be a float32 tensor of shape {expected_shape}; got shape", tf.shape(tensor),
    )]
    if labels is not None:
        label_shape = _padded_shape(labels, 1)
        shape_checks.append(_assert(
            tf.equal(label_shape[1], -1),
            "labels must be an int32 tensor of shape (batch,); got shape", tf.shape(labels),
        ))
    value_checks = []
    with tf.control_dependencies(shape_checks):
        if name == "z":
            value_checks.append(_assert(
                tf.reduce_all(tf.math.is_finite(tensor)),
                f"z must be float32 {expected_shape} with finite values (draws from N(0, I)); got values in",
                tf.reduce_min(tensor), tf.reduce_max(tensor),
            ))
        if name == "noise":
            value_checks.append(_assert(
                tf.reduce_all(tf.logical_and(tensor >= 0.0, tensor < 1.0)),  # False for NaN
                f"noise must be float32 {expected_shape} uniform draws in [0, 1); got values in",
                tf.reduce_min(tensor), tf.reduce_max(tensor),
            ))
        if name == "images":
            low, high = model.value_range
            finite_and_in_range = tf.reduce_all(tf.logical_and(
                tensor >= low - RANGE_TOLERANCE, tensor <= high + RANGE_TOLERANCE))  # False for NaN
            value_checks.append(_assert(
                finite_and_in_range,
                f"images must be float32 {expected_shape} with values in [{low:g}, {high:g}] "
                f"(tolerance {RANGE_TOLERANCE:g}), the model's value_range; got values in",
                tf.reduce_min(tensor), tf.reduce_max(tensor),
            ))
        if labels is not None:
            n = model.num_classes
            value_checks.append(_assert(
                tf.reduce_all(tf.logical_and(labels >= 0, labels < n)),
                f"labels must be int32 class ids of shape (batch,) in [0, {n}); got labels in",
                tf.reduce_min(labels), tf.reduce_max(labels),
            ))
            value_checks.append(_assert(
                tf.equal(shape[0], label_shape[0]),
                f"{name} {expected_shape} and labels (batch,) must have the same batch size; got batch sizes",
                shape[0], label_shape[0],
            ))
    return shape_checks + value_checks


def _image_outputs(model, images):
    """{"images": float32 in value_range, "images_uint8": uint8 in [0, 255]}."""
    low, high = model.value_range
    images = tf.clip_by_value(tf.cast(images, tf.float32), low, high)
    unit = tf.clip_by_value((images - low) / (high - low), 0.0, 1.0)
    return {"images": images, "images_uint8": tf.cast(tf.round(unit * 255.0), tf.uint8)}


def _bodies(model, family):
    """{signature name: (input name, body(tensor, labels) -> dict of outputs)}."""
    family = _SIGNATURE_SET[family]

    if family == "generator":
        def generate(z, labels):
            inputs = z if labels is None else [z, labels]
            return _image_outputs(model, model(inputs, training=False))  # EMA generator if any

        return {"serving_default": ("z", generate)}

    if family == "vae":
        def decode(z, labels):
            return _image_outputs(model, model.output_to_images(model._decode(z, labels)))

        def encode(images, labels):
            z_mean, z_log_var = model._encode(images, labels)
            return {"z_mean": tf.cast(z_mean, tf.float32), "z_log_var": tf.cast(z_log_var, tf.float32)}

        def reconstruct(images, labels):
            z_mean, _ = model._encode(images, labels)
            return decode(z_mean, labels)

        return {
            "serving_default": ("z", decode),
            "encode": ("images", encode),
            "decode": ("z", decode),
            "reconstruct": ("images", reconstruct),
        }

    if family == "autoregressive":
        def sample(noise, labels):
            return _image_outputs(model, model.sample_from_uniform(noise))

        def log_prob(images, labels):
            return {"log_prob": tf.cast(model.log_prob(images), tf.float32),
                    "bits_per_dim": tf.cast(model.bits_per_dim(images), tf.float32)}

        return {"serving_default": ("noise", sample), "sample": ("noise", sample),
                "log_prob": ("images", log_prob)}

    if family == "translation":
        def translator(direction):
            network = model.translation_network(direction)

            def translate(images, labels):
                return _image_outputs(model, model._run(network, images, False))

            return ("images", translate, model.domain_shape(direction[0]))

        bodies = {direction: translator(direction) for direction in model.DIRECTIONS}
        return {"serving_default": bodies["a2b"], **bodies}

    if family == "wae":
        def wae_decode(z, labels):
            return _image_outputs(model, model.decode(z))

        def wae_encode(images, labels):
            return {"z": tf.cast(model.encode(images), tf.float32)}

        def wae_reconstruct(images, labels):
            return _image_outputs(model, model.reconstruct(images))

        return {"serving_default": ("z", wae_decode), "encode": ("images", wae_encode),
                "decode": ("z", wae_decode), "reconstruct": ("images", wae_reconstruct)}

    def ae_encode(images, labels):
        return {"z": tf.cast(model.encode(images), tf.float32)}

    def ae_decode(z, labels):
        return _image_outputs(model, model.decode(z))

    def ae_reconstruct(images, labels):
        return _image_outputs(model, model.reconstruct(images))

    return {
        "serving_default": ("images", ae_reconstruct),
        "encode": ("images", ae_encode),
        "decode": ("z", ae_decode),
        "reconstruct": ("images", ae_reconstruct),
    }


def _endpoint(model, input_name, body, conditional, inner):
    """A function with named arguments (`z`, `noise` or `images`, then `labels`) and its input signature."""

    def run(tensor, labels):
        checks = _input_checks(model, input_name, tensor, labels, inner)
        with tf.control_dependencies(checks):
            tensor = tf.identity(tensor)
            labels = None if labels is None else tf.identity(labels)
        # An empty batch runs the networks on one valid placeholder row and returns none of it:
        # some kernels mis-shape empty batches (an empty conv-transpose output can gain channels).
        count = tf.shape(tensor)[0]
        placeholder = model.value_range[0] if input_name == "images" else 0.0
        tensor = tf.cond(count > 0, lambda: tensor, lambda: tf.fill([1, *inner], placeholder))
        if labels is not None:
            labels = tf.cond(count > 0, lambda: labels, lambda: tf.zeros([1], labels.dtype))
        return {key: value[:count] for key, value in body(tensor, labels).items()}

    # Named parameters (not *args) give the signature its input names.
    if input_name == "z":
        def fn_cond(z, labels):
            return run(z, labels)

        def fn(z):
            return run(z, None)

        spec = tf.TensorSpec((None, _noise_dim(model)), tf.float32, name="z")
    elif input_name == "noise":
        def fn_cond(noise, labels):
            return run(noise, labels)

        def fn(noise):
            return run(noise, None)

        spec = tf.TensorSpec((None, *inner), tf.float32, name="noise")
    else:
        def fn_cond(images, labels):
            return run(images, labels)

        def fn(images):
            return run(images, None)

        spec = tf.TensorSpec((None, *inner), tf.float32, name="images")
    if conditional:
        return fn_cond, [spec, tf.TensorSpec((None,), tf.int32, name="labels")]
    return fn, [spec]


def _build_archive(model):
    family = _family(model)
    conditional = _conditional(model, family)
    archive = keras.export.ExportArchive()
    # Nothing is tracked explicitly: the archive saves exactly the variables its
    # endpoints read (the serving networks only, no discriminator, optimizer or
    # metrics). Tracking the networks as well would store every weight twice.
    bodies = _bodies(model, family)
    assert list(bodies) == signature_names(model)
    traced = {}  # body -> its tf.function: a signature that is another's alias shares its graph
    for name, (input_name, body, *inner) in bodies.items():  # inner: an input shape other than the default
        if body in traced:
            archive.add_endpoint(name, traced[body])
            continue
        inner = tuple(inner[0]) if inner else _default_inner_shape(model, input_name)
        fn, input_signature = _endpoint(model, input_name, body, conditional, inner)
        traced[body] = archive.add_endpoint(name, fn, input_signature=input_signature)
        traced[body].get_concrete_function()  # traced now, so an alias can reuse it
    metadata = {
        "model": type(model).__name__,
        "family": family,
        "latent_dim": model.latent_dim,
        "noise_dim": _noise_dim(model),
        "image_shape": list(model.image_shape),
        "value_range": list(model.value_range),
        "num_classes": model.num_classes if conditional else None,
        "signatures": signature_names(model),
    }
    if family == "translation":  # the input domain A may differ from the output domain B
        metadata["source_shape"] = list(model.source_shape)
    return archive, metadata


# -------------------------------------------------------------------- export
def save_for_serving(model, base_dir, version=None) -> str:
    """Exports `model` as the SavedModel `base_dir/<version>/` for TF Serving.

    Args:
        model: a registered kerasgen model (or a subclass of one), built.
        base_dir: the model's base path (TF Serving's `--model_base_path`);
            created if missing.
        version: integer version directory name; None takes
            `next_version(base_dir)`.

    Returns:
        The path of the version directory, `base_dir/<version>`.

    Raises:
        FileExistsError: `base_dir/<version>` exists and is not empty.
        TypeError: `model` is not a supported kerasgen model, or `version`
            is not an integer.
        ValueError: `version` is negative, or `base_dir` is itself a
            version directory (holds a saved_model.pb).

    The SavedModel is written to a hidden sibling `base_dir/.tmp-<version>-<pid>`
    and renamed into place only when complete, so TF Serving (which ignores
    non-integer names) never sees a half-written version; a failed export
    removes its temporary directory.
    """
    base_dir = os.fspath(base_dir)
    if os.path.isfile(os.path.join(base_dir, "saved_model.pb")):
        raise ValueError(
            f"{base_dir} holds a saved_model.pb: it looks like a version directory. Pass its parent "
            "(the directory TF Serving's --model_base_path points at) as base_dir."
        )
    _family(model)  # unsupported models fail before anything touches the disk
    version = next_version(base_dir) if version is None else _check_version(version)
    final = os.path.join(base_dir, str(version))

    def refuse():
        return FileExistsError(
            f"Version {version} already exists in {base_dir} ({final} is not empty); SavedModel "
            f"versions are immutable once TF Serving may have loaded them. Export with version=None "
            f"(next free: {next_version(base_dir)}) or an unused version, or delete {final} first."
        )

    if os.path.lexists(final) and not (os.path.isdir(final) and not os.listdir(final)):
        raise refuse()

    archive, metadata = _build_archive(model)  # traces the signatures
    os.makedirs(base_dir, exist_ok=True)
    tmp = os.path.join(base_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # left over by a killed export with our pid
    try:
        archive.write_out(tmp, verbose=False)
        metadata_path = os.path.join(tmp, METADATA_FILE)
        os.makedirs(os.path.dirname(metadata_path), exist_ok=True)
        with open(metadata_path, "w") as f:
            json.dump(metadata, f, indent=2)
        if os.path.isdir(final) and not os.listdir(final):
            os.rmdir(final)  # an empty placeholder: replace it (os.replace cannot on Windows)
        try:
            os.replace(tmp, final)
        except OSError as err:  # another export created the version meanwhile
            raise refuse() from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
