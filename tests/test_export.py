"""Tests for `kerasgen.export`: versioned SavedModels for TF Serving.

Every registered model's export is loaded and called without kerasgen by the
conformance suite (`kerasgen.testing.check_serving`, run over the registry by
tests/test_conformance.py). Here: the input checks of the signatures, the
version layout, what the artifact stores, `saved_model_cli` and TF Serving
requests, on the models named by each test. The models are trained briefly,
exported, and run by ONE process in which `import kerasgen` fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import export, testing  # noqa: E402
from kerasgen.models import REGISTRY  # noqa: E402

MODEL_NAMES = sorted(REGISTRY)
BATCH = testing.PROBE_BATCH  # rows of every probe input


# ------------------------------------------------------------------ helpers
def make_model(spec):
    return testing.small_model(spec)


def probe_inputs(spec, model):
    """{input name: array}: the fixed inputs of every signature (z, images, noise, labels)."""
    examples = spec.data.examples(count=BATCH, value_range=model.value_range)
    feeds = testing.probe_feeds(model, examples)
    return feeds, {key: value for feed in feeds.values() for key, value in feed.items()}


def uint8_formula(images, value_range):
    """round(clip((images - low) / (high - low), 0, 1) * 255), and where rounding is a near-tie."""
    low, high = value_range
    scaled = np.clip((images - np.float32(low)) / np.float32(high - low), 0, 1) * np.float32(255)
    near_tie = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3
    return np.round(scaled).astype(np.uint8), near_tie


def _selected(request):
    """{(test function name, model_name)} for this module's selected tests."""
    return {
        (item.originalname, item.callspec.params["model_name"])
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and "model_name" in getattr(getattr(item, "callspec", None), "params", {})
    }


def _start_saved_model_cli(directory, log_path):
    """Starts `saved_model_cli show --all` with stdout in `log_path` and stderr in `log_path`.err."""
    executable = shutil.which("saved_model_cli")
    command = [executable] if executable else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    with open(log_path, "w") as out, open(f"{log_path}.err", "w") as err:
        return subprocess.Popen(command + ["show", "--dir", directory, "--all"], stdout=out, stderr=err, env=env)


@pytest.fixture(scope="module")
def exports(request, tmp_path_factory):
    """{name: entry}: each model a test here names, trained, exported and run without kerasgen.

    An entry holds `spec`, `model`, `inputs` ({input name: array}), `dir`
    (the version directory), `loaded` ({signature: {output: array}} from the
    process without kerasgen), `error` (a traceback, if any step failed) and,
    for the models `saved_model_cli` is tested on, `cli` (its process and log).
    """
    root = tmp_path_factory.mktemp("exports")
    selected = _selected(request)
    names = sorted({name for _, name in selected})
    cli_names = {name for test, name in selected if test == test_saved_model_cli_lists_signatures.__name__}
    entries = {}
    with testing.ServingProcess() as server:
        for name in names:
            keras.utils.set_random_seed(0)
            spec = REGISTRY[name]
            entry = entries[name] = {"spec": spec, "error": None}
            try:
                model = entry["model"] = make_model(spec)
                model.fit(testing.training_batches(spec, model, limit=128, batch_size=32), epochs=1, verbose=0)
                feeds, entry["inputs"] = probe_inputs(spec, model)
                entry["dir"] = export.save_for_serving(model, root / "models" / name)
                if name in cli_names:
                    log = root / f"saved_model_cli_{name}.log"
                    entry["cli"] = (_start_saved_model_cli(entry["dir"], log), log)
                entry["loaded"], _ = server.call(entry["dir"], feeds)
            except Exception:
                entry["error"] = "export or loading without kerasgen failed:\n" + traceback.format_exc()
    yield entries
    for entry in entries.values():  # saved_model_cli runs nobody waited for (a failed test)
        if "cli" in entry and entry["cli"][0].poll() is None:
            entry["cli"][0].kill()


def exported(exports, model_name):
    entry = exports[model_name]
    if entry["error"]:
        pytest.fail(f"{model_name}: {entry['error']}")
    return entry


@pytest.mark.parametrize("model_name", ["dcgan", "vae", "pixelcnn", "cgan"])
def test_images_uint8_follow_the_documented_formula(exports, model_name):
    entry = exported(exports, model_name)
    model = entry["model"]
    for signature, outputs in entry["loaded"].items():
        if "images" not in outputs:
            continue
        images = outputs["images"]
        assert images.dtype == np.float32 and outputs["images_uint8"].dtype == np.uint8
        assert images.min() >= model.value_range[0] and images.max() <= model.value_range[1], signature
        want, near_tie = uint8_formula(images, model.value_range)
        off = outputs["images_uint8"].astype(np.int16) - want.astype(np.int16)
        assert np.all(off[~near_tie] == 0), f"{signature}: images_uint8 differs from the formula"
        assert np.all(np.abs(off) <= 1), signature


# ------------------------------------------------------------- input checks
# A loaded SavedModel is called two ways: through a signature (what TF Serving
# runs; TF checks dtypes at its boundary, the graph's assertions check shapes
# and values) or through the restored function (TF checks shapes and dtypes
# against the TensorSpecs at the boundary; the graph checks values).


def _error_text(call):
    """Calls `call()`, expecting a validation error; returns its message."""
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    assert "MatMul" not in message and "incompatible" not in message, f"error from deep in the graph: {message}"
    return message


def _range_phrase(model):
    low, high = model.value_range
    return f"images must be float32 (batch, 28, 28, 1) with values in [{low:g}, {high:g}] (tolerance 0.001)"


def _assert_mentions(message, *phrases):
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in error message:\n{message}"


@pytest.mark.parametrize("model_name", ["cgan", "cvae"])
def test_conditional_signatures_reject_bad_z_and_labels(exports, model_name):
    entry = exported(exports, model_name)
    model, inputs = entry["model"], entry["inputs"]
    n, d = model.num_classes, model.latent_dim
    loaded = tf.saved_model.load(entry["dir"])
    signature, function = loaded.signatures["serving_default"], loaded.serving_default
    z, labels = tf.constant(inputs["z"]), tf.constant(inputs["labels"])

    def check(bad_z, bad_labels, signature_phrases, function_phrases):
        _assert_mentions(_error_text(lambda: signature(z=bad_z, labels=bad_labels)), *signature_phrases)
        _assert_mentions(_error_text(lambda: function(bad_z, bad_labels)), *function_phrases)

    z_spec = f"TensorSpec(shape=(None, {d}), dtype=tf.float32, name='z')"
    labels_spec = "TensorSpec(shape=(None,), dtype=tf.int32, name='labels')"
    # Wrong shapes.
    check(tf.zeros((BATCH, d + 1)), labels,
          [f"z must be a float32 tensor of shape (batch, {d}); got shape] [{BATCH} {d + 1}]"], [z_spec])
    check(tf.zeros((BATCH, 2, d)), labels,
          [f"z must be a float32 tensor of shape (batch, {d}); got shape] [{BATCH} 2 {d}]"], [z_spec])
    check(z, tf.zeros((BATCH, 1), tf.int32),
          [f"labels must be an int32 tensor of shape (batch,); got shape] [{BATCH} 1]"], [labels_spec])
    # Wrong dtypes.
    check(tf.cast(z, tf.float64), labels,
          ["expected to be a float tensor but is a double tensor"], ["dtype=tf.float64, name='z'", z_spec])
    check(z, tf.cast(labels, tf.float32),
          ["expected to be a int32 tensor but is a float tensor"], ["dtype=tf.float32, name='labels'", labels_spec])
    # Out-of-range labels and mismatched batch sizes: the graph's assertions, on both paths.
    for bad, low, high in (([0, 1, 2, 3, n], 0, n), ([0, -1, 2, 3, 4], -1, 4)):
        phrase = f"labels must be int32 class ids of shape (batch,) in [0, {n}); got labels in] [{low}] [{high}]"
        check(z, tf.constant(bad, tf.int32), [phrase], [phrase])
    phrase = f"z (batch, {d}) and labels (batch,) must have the same batch size; got batch sizes] [{BATCH}] [3]"
    check(z, labels[:3], [phrase], [phrase])

    if model_name == "cvae":
        encode = loaded.signatures["encode"]
        images = tf.constant(inputs["images"])
        _assert_mentions(
            _error_text(lambda: encode(images=images * 3.0, labels=labels)),
            _range_phrase(model),
        )
        _assert_mentions(
            _error_text(lambda: encode(images=images[:2], labels=labels)),
            "images (batch, 28, 28, 1) and labels (batch,) must have the same batch size; "
            f"got batch sizes] [2] [{BATCH}]",
        )


@pytest.mark.parametrize("model_name", ["ae"])
def test_autoencoder_signatures_reject_bad_images(exports, model_name):
    entry = exported(exports, model_name)
    loaded = tf.saved_model.load(entry["dir"])
    images = tf.constant(entry["inputs"]["images"])
    images_spec = "TensorSpec(shape=(None, 28, 28, 1), dtype=tf.float32, name='images')"
    for name in ("serving_default", "encode", "reconstruct"):
        signature, function = loaded.signatures[name], getattr(loaded, name)

        def check(bad, signature_phrases, function_phrases):
            _assert_mentions(_error_text(lambda: signature(images=bad)), *signature_phrases)
            _assert_mentions(_error_text(lambda: function(bad)), *function_phrases)

        for bad, shape in ((tf.zeros((2, 32, 32, 1)), "[2 32 32 1]"), (tf.zeros((2, 28, 28)), "[2 28 28]")):
            phrase = f"images must be a float32 tensor of shape (batch, 28, 28, 1); got shape] {shape}"
            check(bad, [phrase], [images_spec])
        check(tf.cast(images * 127.5 + 127.5, tf.uint8),
              ["expected to be a float tensor but is a uint8 tensor"], ["dtype=tf.uint8, name='images'", images_spec])
        for bad in (images * 1.01 + 0.01, images - 0.5, tf.fill(images.shape, float("nan"))):
            check(bad, [_range_phrase(entry["model"])], [_range_phrase(entry["model"])])
        # Within the tolerance: accepted.
        signature(images=tf.clip_by_value(images * 1.0009, -1.0009, 1.0009))


@pytest.mark.parametrize("model_name", ["pixelcnn"])
def test_pixelcnn_sample_rejects_noise_outside_the_unit_interval(exports, model_name):
    entry = exported(exports, model_name)
    loaded = tf.saved_model.load(entry["dir"])
    noise = tf.constant(entry["inputs"]["noise"])
    for name in ("sample", "serving_default"):
        signature = loaded.signatures[name]
        for bad in (noise + 1.0, noise - 0.5, tf.fill(noise.shape, float("nan")), tf.ones_like(noise)):
            message = _error_text(lambda: signature(noise=bad))
            _assert_mentions(message, "noise must be float32 (batch, 28, 28, 1) uniform draws in [0, 1)")
        message = _error_text(lambda: signature(noise=tf.zeros((2, 28, 28))))
        _assert_mentions(message, "noise must be a float32 tensor of shape (batch, 28, 28, 1); got shape] [2 28 28]")
    # log_prob checks images like every other images input.
    message = _error_text(lambda: loaded.signatures["log_prob"](images=tf.constant(entry["inputs"]["images"]) + 0.5))
    _assert_mentions(message, _range_phrase(entry["model"]))


# ------------------------------------------------------------ version layout
def test_versions_are_numbered_atomic_and_never_overwritten(tmp_path, monkeypatch):
    keras.utils.set_random_seed(0)
    model = make_model(REGISTRY["gan"])
    base = tmp_path / "gan"
    assert export.next_version(base) == 1  # missing directory

    assert export.save_for_serving(model, base) == str(base / "1")
    assert export.save_for_serving(model, str(base)) == str(base / "2")
    assert export.next_version(base) == 3
    (base / "notes").mkdir()
    (base / "10.txt").write_text("not a version")
    assert export.next_version(base) == 3

    assert export.save_for_serving(model, base, version=7) == str(base / "7")
    assert export.next_version(base) == 8
    with pytest.raises(FileExistsError, match=r"Version 2 already exists .*next free: 8"):
        export.save_for_serving(model, base, version=2)
    (base / "8").mkdir()  # an empty placeholder is filled, not refused
    assert export.save_for_serving(model, base, version=np.int64(8)) == str(base / "8")

    for bad, error in (("3", TypeError), (2.0, TypeError), (True, TypeError), (-1, ValueError)):
        with pytest.raises(error, match="version"):
            export.save_for_serving(model, base, version=bad)
    with pytest.raises(ValueError, match="looks like a version directory"):
        export.save_for_serving(model, base / "1")
    with pytest.raises(TypeError, match="supports the registered kerasgen models"):
        export.save_for_serving(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), tmp_path / "other")
    assert not (tmp_path / "other").exists()

    # An export interrupted while writing leaves neither a version nor its temporary directory.
    def interrupted_save(obj, export_dir, *args, **kwargs):
        os.makedirs(export_dir)
        open(os.path.join(export_dir, "saved_model.pb"), "wb").close()
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        export.save_for_serving(model, base)
    monkeypatch.undo()

    assert sorted(os.listdir(base)) == ["1", "10.txt", "2", "7", "8", "notes"]
    assert export.next_version(base) == 9
    for version in ("1", "2", "7", "8"):
        directory = base / version
        assert (directory / "saved_model.pb").is_file() and (directory / "variables" / "variables.index").is_file()
        metadata = json.loads((directory / "assets.extra" / "kerasgen_export.json").read_text())
        assert metadata == {
            "model": "GAN", "family": "gan", "latent_dim": model.latent_dim, "noise_dim": model.latent_dim,
            "image_shape": [28, 28, 1],
            "value_range": [-1.0, 1.0], "num_classes": None, "signatures": ["serving_default"],
            "inputs": {"serving_default": {"z": "latent"}},
        }


@pytest.mark.parametrize("model_name", ["dcgan", "vae"])
def test_only_the_serving_networks_are_saved(exports, model_name):
    """No discriminator, optimizer, metric or seed-generator variables in the artifact, and
    every serving weight stored once (not twice, as tracking the networks would do)."""
    entry = exported(exports, model_name)
    model = entry["model"]
    reader = tf.train.load_checkpoint(os.path.join(entry["dir"], "variables", "variables"))
    stored = [shape for key, shape in reader.get_variable_to_shape_map().items() if key.endswith("VARIABLE_VALUE")]
    networks = [model.sampling_generator] if model_name == "dcgan" else [model.encoder, model.decoder]
    weights = [w for network in networks for w in network.weights]
    assert len(stored) == len(weights) < len(model.variables)
    assert sorted(stored) == sorted(list(w.shape) for w in weights)


# ------------------------------------------------------------ saved_model_cli
def parse_signature_defs(text):
    """`saved_model_cli show --all` text -> {signature: {"inputs"|"outputs": {name: (dtype, shape)}}}."""
    text = text.split("Concrete Functions:")[0]
    signatures = {}
    for block in re.split(r"\n(?=signature_def\[)", text):
        header = re.match(r"signature_def\['([^']+)'\]:", block)
        if not header:
            continue
        tensors = {"inputs": {}, "outputs": {}}
        for kind, name, dtype, shape in re.findall(
            r"(inputs|outputs)\['([^']+)'\] tensor_info:\s*dtype: (\w+)\s*shape: (\([^)]*\))", block
        ):
            tensors[kind][name] = (dtype, shape)
        signatures[header.group(1)] = tensors
        if header.group(1) != "__saved_model_init_op":
            assert "Method name is: tensorflow/serving/predict" in block, block
    return signatures


@pytest.mark.parametrize("model_name", ["vae", "cgan"])
def test_saved_model_cli_lists_signatures(exports, model_name):
    """`saved_model_cli show --dir <version dir> --all` (started by the fixture) shows every
    signature with its input and output names, dtypes and shapes."""
    entry = exported(exports, model_name)
    model = entry["model"]
    process, log = entry["cli"]
    assert process.wait(timeout=300) == 0, open(f"{log}.err").read()[-4000:]
    text = log.read_text()
    d, image = model.latent_dim, "(-1, 28, 28, 1)"
    images_out = {"images": ("DT_FLOAT", image), "images_uint8": ("DT_UINT8", image)}
    if model_name == "cgan":
        expected = {"serving_default": {"inputs": {"z": ("DT_FLOAT", f"(-1, {d})"), "labels": ("DT_INT32", "(-1)")},
                                        "outputs": images_out}}
    else:
        z_in = {"z": ("DT_FLOAT", f"(-1, {d})")}
        images_in = {"images": ("DT_FLOAT", image)}
        expected = {
            "serving_default": {"inputs": z_in, "outputs": images_out},
            "decode": {"inputs": z_in, "outputs": images_out},
            "encode": {"inputs": images_in, "outputs": {"z_mean": ("DT_FLOAT", f"(-1, {d})"),
                                                        "z_log_var": ("DT_FLOAT", f"(-1, {d})")}},
            "reconstruct": {"inputs": images_in, "outputs": images_out},
        }
    signatures = parse_signature_defs(text)
    signatures.pop("__saved_model_init_op", None)
    assert signatures == expected, text


# ------------------------------------------------------- TF Serving requests
def _request_mismatches(request, signature):
    """How a PredictRequest's inputs disagree with a signature's named inputs (empty if they fit)."""
    _, specs = signature.structured_input_signature
    problems = []
    if sorted(request.inputs) != sorted(specs):
        problems.append(f"input names {sorted(request.inputs)} != {sorted(specs)}")
    for name, spec in specs.items():
        if name not in request.inputs:
            continue
        proto = request.inputs[name]
        if proto.dtype != spec.dtype.as_datatype_enum:
            problems.append(f"{name}: dtype {tf.dtypes.as_dtype(proto.dtype).name} != {spec.dtype.name}")
        if not tf.TensorShape(proto.tensor_shape).is_compatible_with(spec.shape):
            problems.append(f"{name}: shape {tf.TensorShape(proto.tensor_shape)} !~ {spec.shape}")
    return problems


@pytest.mark.parametrize("model_name", ["vae", "cgan"])
def test_tf_serving_predict_requests_match_the_signatures(exports, model_name):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    entry = exported(exports, model_name)
    loaded = tf.saved_model.load(entry["dir"])
    for signature_name in export.signature_names(entry["model"]):
        signature = loaded.signatures[signature_name]
        _, specs = signature.structured_input_signature
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature_name
        for name in specs:
            request.inputs[name].CopyFrom(tf.make_tensor_proto(entry["inputs"][name]))
        assert _request_mismatches(request, signature) == [], signature_name
        # What TF Serving does with the request: the tensors run the signature as sent.
        outputs = signature(**{name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()})
        for key, value in outputs.items():
            np.testing.assert_array_equal(value.numpy(), entry["loaded"][signature_name][key])

    # The check has teeth: float64 z, a missing input and a wrong rank are reported.
    signature = loaded.signatures["serving_default"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model_name, "serving_default"
    request.inputs["z"].CopyFrom(tf.make_tensor_proto(entry["inputs"]["z"][:, :, None].astype(np.float64)))
    problems = " ".join(_request_mismatches(request, signature))
    assert "z: dtype float64 != float32" in problems and "z: shape" in problems
    assert ("input names" in problems) == (model_name == "cgan")
