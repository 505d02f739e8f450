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

Each model declares its signatures in `model.serving_endpoints()` (see
`kerasgen.serving`); the README's Serving table lists them per model, e.g.
GANs `serving_default(z[, labels]) -> {images, images_uint8}`, VAEs also
`encode`, `decode` and `reconstruct`, PixelCNN `sample(noise)` and
`log_prob(images)`, translation models `a2b(images)` (CycleGAN also `b2a`).
All inputs are batched; `labels` (conditional models only) are int32 class
ids in `[0, num_classes)`.

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
num_classes, signature names, the kind of each signature input (`inputs`: latent,
noise, images, labels or count), and source_shape for translation models) for
clients; TF Serving ignores it.
"""

from __future__ import annotations

import inspect
import json
import operator
import os
import re
import shutil

import keras
import tensorflow as tf

from kerasgen.serving import RANGE_TOLERANCE  # noqa: F401  (re-exported: the tolerance of `images` checks)

__all__ = ["next_version", "save_for_serving", "signature_names"]

METADATA_FILE = os.path.join("assets.extra", "kerasgen_export.json")

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


# ----------------------------------------------------------------- endpoints
def _endpoints(model):
    """`model.serving_endpoints()`, or a TypeError naming what export supports."""
    from kerasgen.models import REGISTRY

    if not callable(getattr(model, "serving_endpoints", None)):
        raise TypeError(
            f"kerasgen.export supports the registered kerasgen models and their subclasses "
            f"({', '.join(sorted(spec.cls.__name__ for spec in REGISTRY.values()))}), and any "
            f"kerasgen.models.GenerativeModel that declares serving_endpoints(); got {type(model).__name__}."
        )
    endpoints = model.serving_endpoints()
    if not endpoints or "serving_default" not in endpoints:
        raise TypeError(f"{type(model).__name__}.serving_endpoints() must declare a 'serving_default' endpoint, "
                        f"got {list(endpoints)}.")
    return endpoints


def signature_names(model) -> list:
    """Names of the SavedModel signatures `save_for_serving(model, ...)` writes."""
    return list(_endpoints(model))


def _padded_shape(tensor, rank):
    """`tf.shape(tensor)` cut or padded with -1 to `rank + 1` entries, whatever the tensor's rank.

    An entry `rank` (0-based) other than -1 means the tensor has too many
    axes; a -1 before it, too few. Comparisons then never fail on a rank
    mismatch themselves, so the assertion that uses them can say what is wrong.
    """
    return tf.concat([tf.shape(tensor), tf.fill([rank + 1], -1)], axis=0)[: rank + 1]


def _assert(condition, *data):
    return tf.debugging.Assert(condition, list(data), summarize=8)


def _input_checks(inputs, tensors):
    """Assertion ops on `tensors` (one per `kerasgen.serving.ServingInput` of `inputs`).

    A concrete signature (what TF Serving and `loaded.signatures[...]` run)
    checks dtypes at its boundary but not shapes, so shapes are checked here,
    first; values and equal batch sizes are checked after them.
    """
    shapes, shape_checks = [], []
    for spec, tensor in zip(inputs, tensors):
        article = "an" if spec.dtype == "int32" else "a"
        if not spec.batched:
            shape_checks.append(_assert(tf.equal(tf.rank(tensor), 0),
                                        f"{spec.name} must be {article} {spec.dtype} scalar; got shape", tf.shape(tensor)))
            continue
        shape = _padded_shape(tensor, len(spec.shape) + 1)
        shapes.append((spec, shape))
        shape_checks.append(_assert(
            tf.reduce_all(tf.equal(shape[1:], tf.constant([*spec.shape, -1], tf.int32))),
            f"{spec.name} must be {article} {spec.dtype} tensor of shape {spec.shape_text()}; got shape",
            tf.shape(tensor),
        ))
    value_checks = []
    with tf.control_dependencies(shape_checks):
        for spec, tensor in zip(inputs, tensors):
            condition, message = spec.value_check(tensor)
            value_checks.append(_assert(condition, message, tf.reduce_min(tensor), tf.reduce_max(tensor)))
        (first, first_shape), others = shapes[0], shapes[1:]
        for spec, shape in others:
            value_checks.append(_assert(
                tf.equal(first_shape[0], shape[0]),
                f"{first.name} {first.shape_text()} and {spec.name} {spec.shape_text()} must have the same batch "
                "size; got batch sizes", first_shape[0], shape[0],
            ))
    return shape_checks + value_checks


def _traceable(endpoint):
    """`(function with one named parameter per input, input signature)` for `endpoint`."""
    inputs = endpoint.inputs

    def run(*tensors):
        with tf.control_dependencies(_input_checks(inputs, tensors)):
            tensors = [tf.identity(tensor) for tensor in tensors]
        # An empty batch runs the networks on one valid placeholder row and returns none of it:
        # some kernels mis-shape empty batches (an empty conv-transpose output can gain channels).
        count = tf.shape(tensors[0])[0]  # the first input is batched
        tensors = [
            tf.cond(count > 0, lambda t=tensor: t, lambda s=spec: tf.fill([1, *s.shape], tf.cast(s.placeholder, s.dtype)))
            if spec.batched else tensor
            for spec, tensor in zip(inputs, tensors)
        ]
        outputs = endpoint(**{spec.name: tensor for spec, tensor in zip(inputs, tensors)})
        return {key: value[:count] for key, value in outputs.items()}

    # Named parameters (not *args) give the signature its input names.
    run.__signature__ = inspect.Signature(
        [inspect.Parameter(spec.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for spec in inputs])
    return run, [spec.spec() for spec in inputs]


def _noise_dim(model):
    """Width of the `z` input of sampling signatures (GLANN's mapper takes noise_dim)."""
    return getattr(model, "noise_dim", None) or model.latent_dim


def export_metadata(model, names):
    """The `assets.extra/kerasgen_export.json` of `model` (`names`: its endpoints by signature): its class,
    family, shapes, signatures and the kind of each signature input (`kerasgen.serving.KINDS`), for clients."""
    from kerasgen.models.registry import spec_of

    spec = spec_of(model)
    conditional = any(input_.kind == "labels" for endpoint in names.values() for input_ in endpoint.inputs)
    metadata = {
        "model": type(model).__name__,
        "family": None if spec is None else spec.family,
        "latent_dim": model.latent_dim,
        "noise_dim": _noise_dim(model),
        "image_shape": list(model.image_shape),
        "value_range": list(model.value_range),
        "num_classes": model.num_classes if conditional else None,
        "signatures": list(names),
        "inputs": {name: {spec.name: spec.kind for spec in endpoint.inputs} for name, endpoint in names.items()},
    }
    metadata.update(model.serving_metadata())
    return metadata


def _build_archive(model):
    archive = keras.export.ExportArchive()
    # Nothing is tracked explicitly: the archive saves exactly the variables its
    # endpoints read (the serving networks only, no discriminator, optimizer or
    # metrics). Tracking the networks as well would store every weight twice.
    endpoints = _endpoints(model)
    traced = {}  # endpoint -> its tf.function: a signature that is another's alias shares its graph
    for name, endpoint in endpoints.items():
        if endpoint in traced:
            archive.add_endpoint(name, traced[endpoint])
            continue
        fn, input_signature = _traceable(endpoint)
        traced[endpoint] = archive.add_endpoint(name, fn, input_signature=input_signature)
        traced[endpoint].get_concrete_function()  # traced now, so an alias can reuse it
    return archive, export_metadata(model, endpoints)


# -------------------------------------------------------------------- export
def save_for_serving(model, base_dir, version=None) -> str:
    """Exports `model` as the SavedModel `base_dir/<version>/` for TF Serving.

    Args:
        model: a kerasgen model (any `GenerativeModel` declaring `serving_endpoints()`), built.
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
    _endpoints(model)  # unsupported models fail before anything touches the disk
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
