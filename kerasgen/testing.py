"""The conformance harness: the checks every kerasgen model passes, ours or yours.

Like KerasHub's `TestCase.run_backbone_test`, one call runs them all on a
registered model (`kerasgen.models.register`), on real Fashion-MNIST batches
of the kind its registry entry declares:

    import kerasgen
    from kerasgen.testing import run_conformance

    run_conformance("vae")                  # or a ModelSpec, or your own registered name

Each check is also a function of its own, so a test suite can parametrize
them (`tests/test_conformance.py` runs them over `kerasgen.models.REGISTRY`):

- `check_config_round_trip`: `from_config(get_config())` and Keras
  (de)serialization rebuild an equal model;
- `check_fit_and_evaluate`: `fit` reports exactly the model's trackers, all
  finite, one optimizer step per batch; `evaluate` reports the same terms;
- `check_outputs`: every served output and `generate` is float32, images are
  in `value_range` and differ between inputs;
- `check_save_load`: a `.keras` round trip gives identical outputs and the
  optimizer state (so `fit` resumes where it stopped);
- `check_serving`: the SavedModel of `kerasgen.export.save_for_serving` is
  loaded by a process in which `import kerasgen` fails, every declared
  signature is called (on a batch and on an empty batch), and its outputs
  match the live model's;
- `check_distributed_fit`: training under a 2-replica `MirroredStrategy`
  (`two_cpu_strategy()` splits the CPU in two; call it before TensorFlow runs
  anything).

Deterministic: every check seeds Keras's global RNG and the model's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "ServingProcess", "check_config_round_trip", "check_distributed_fit", "check_fit_and_evaluate",
    "check_outputs", "check_save_load", "check_serving", "inference_outputs", "probe_feeds", "run_conformance",
    "small_model", "training_batches", "two_cpu_strategy",
]

#: Rows of every probe input.
PROBE_BATCH = 5
#: Images of different inputs must differ by more than this somewhere (float32 round-off near 1).
DISTINCT_ATOL = 1e-6
#: How far a served float output may be from the live model's: absolute (images, codes), and
#: relative for large values (a log-likelihood of -4000 nats has a float32 spacing of 5e-4,
#: and a graph may sum its 784 terms in another order than eager execution).
SERVING_ATOL = 1e-5
SERVING_RTOL = 1e-6


# ---------------------------------------------------------------- building
def _spec(spec_or_name):
    from kerasgen.models import registry

    return registry.get(spec_or_name) if isinstance(spec_or_name, str) else spec_or_name


def small_model(spec, image_shape=(28, 28, 1), **overrides):
    """The registry entry's small configuration, built for `image_shape` and compiled (seed 0)."""
    spec = _spec(spec)
    kwargs = dict(spec.small_config, image_shape=image_shape, seed=0)
    kwargs.update(overrides)
    model = spec.create(**kwargs)
    model.compile()
    return model


def training_batches(spec, model, limit=256, batch_size=64):
    """Fashion-MNIST training batches of the kind `spec.data` declares, seed 0: `limit` images in
    fit batches of `batch_size` (for a model that splits a fit batch into k updates' minibatches, a GAN,
    `batch_size // k` images per update), so `limit // batch_size` steps of `model.optimizer`."""
    per_update = max(1, int(batch_size) // model.fit_batch_size(1))
    return _spec(spec).data.load(
        limit=limit, batch_size=model.fit_batch_size(per_update), value_range=model.value_range, seed=0,
        drop_remainder=model.drop_remainder,
    )


def _examples(spec, model, count=PROBE_BATCH):
    return _spec(spec).data.examples(count=count, value_range=model.value_range)


def probe_feeds(model, examples, count=PROBE_BATCH, seed=0):
    """`{signature: {input: array}}`: fixed inputs for every serving endpoint of `model`.

    Inputs by kind (`kerasgen.serving.KINDS`): latents and noise are seeded
    draws from their priors (normal, uniform in [0, 1)); images are
    `examples["images"]` (or `examples["targets"]` where the endpoint takes
    the other domain's shape); labels are the examples' labels, or 0, 3, 9, 1,
    7 mod the class count; a count is its lowest value + 2 (within range).
    """
    rng = np.random.default_rng(seed)
    feeds, drawn = {}, {}
    for name, endpoint in model.serving_endpoints().items():
        feed = {}
        for spec in endpoint.inputs:
            shape = (count, *spec.shape)
            if (spec.name, shape) in drawn:  # signatures taking the same input get the same values
                feed[spec.name] = drawn[spec.name, shape]
                continue
            if spec.kind == "labels":
                labels = examples.get("labels")
                if labels is None:
                    labels = np.array([0, 3, 9, 1, 7] * count)[:count]
                feed[spec.name] = (np.asarray(labels[:count]) % int(spec.bounds[1])).astype(np.int32)
            elif spec.kind == "latent":
                feed[spec.name] = rng.standard_normal(shape).astype(np.float32)
            elif spec.kind == "noise":
                feed[spec.name] = rng.uniform(size=shape).astype(np.float32)
            elif spec.kind == "count":  # a scalar: a small value in its range (e.g. a few sampling steps)
                low, high = spec.bounds
                feed[spec.name] = np.int32(min(high, low + 2))
            else:
                candidates = [examples.get("images"), examples.get("targets")]
                match = [c for c in candidates if c is not None and tuple(c.shape[1:]) == tuple(spec.shape)]
                if not match:
                    raise ValueError(f"No example images of shape {spec.shape} for {name}'s input {spec.name}.")
                feed[spec.name] = np.asarray(match[0][:count], np.float32)
            drawn[spec.name, shape] = feed[spec.name]
        feeds[name] = feed
    return feeds


def inference_outputs(model, feeds):
    """`{signature: {output: array}}`: each serving endpoint run eagerly on its `feeds`."""
    endpoints = model.serving_endpoints()
    return {name: {key: keras.ops.convert_to_numpy(value) for key, value in endpoints[name](
        **{k: tf.constant(v) for k, v in feed.items()}).items()} for name, feed in feeds.items()}


def _all_outputs(model, examples):
    outputs = {f"{name}.{key}": value for name, values in inference_outputs(model, probe_feeds(model, examples)).items()
               for key, value in values.items()}
    if callable(getattr(model, "generate", None)):
        outputs["generate"] = keras.ops.convert_to_numpy(model.generate(PROBE_BATCH, seed=1))
    return outputs


def _as_json(config):
    """Config with tuples as lists, as it is after a trip through a .keras file."""
    return json.loads(json.dumps(config))


# ------------------------------------------------------------------ checks
def check_config_round_trip(model):
    """`from_config(get_config())` and `keras.saving` (de)serialization give the same config."""
    config = model.get_config()
    rebuilt = type(model).from_config(config)
    assert type(rebuilt) is type(model)
    assert _as_json(rebuilt.get_config()) == _as_json(config), f"{type(model).__name__}: from_config changes the config"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(restored) is type(model)
    assert _as_json(restored.get_config()) == _as_json(config), f"{type(model).__name__}: serialization changes the config"


def check_fit_and_evaluate(model, batches, evaluation_batches=None):
    """One epoch of `fit` on `batches`, then `evaluate`. Returns the History's dict.

    `fit` must report exactly the model's trackers, all finite, with one step
    of `model.optimizer` per batch (or, for a model whose schedule skips some,
    as many as its `optimizer_updates_after(batches)` says, e.g. WGAN's critic
    warm-up); `evaluate` the same terms, finite.
    """
    name = type(model).__name__
    steps = int(batches.cardinality().numpy()) if isinstance(batches, tf.data.Dataset) else None
    expected = model.optimizer_updates_after(steps) if steps is not None and steps > 0 else None
    history = model.fit(batches, epochs=1, verbose=0).history
    assert history, f"{name}: fit reported nothing"
    assert set(history) == set(model.trackers), f"{name}: fit reported {sorted(history)}, tracks {sorted(model.trackers)}"
    for key, values in history.items():
        assert np.all(np.isfinite(values)), f"{name}: {key} = {values}"
    if expected is not None:
        assert int(model.optimizer.iterations.numpy()) == expected, f"{name}: not one update per batch"
    results = model.evaluate(evaluation_batches or batches, verbose=0, return_dict=True)
    assert set(results) == set(model.trackers), f"{name}: evaluate reported {sorted(results)}"
    assert all(np.isfinite(v) for v in results.values()), f"{name}: evaluate gave {results}"
    return history


def check_outputs(model, examples):
    """Every served output and `generate(5)` is float32 or uint8; images are in `value_range`,
    shaped like the model's images, and not the same for every input.

    "Not the same" means the images of different inputs differ somewhere by more than float32
    round-off (`DISTINCT_ATOL`): an output that ignores its input is identical for every row. How
    *much* they differ is the subject of each model's learning tests, not of a check that runs
    after a handful of steps (a VAE's posterior means are still close together then, so its
    reconstructions differ by about 1e-3 at most)."""
    name = type(model).__name__
    low, high = model.value_range
    outputs = _all_outputs(model, examples)
    assert outputs, f"{name} serves nothing and cannot generate"
    for key, value in outputs.items():
        assert value.dtype in (np.float32, np.uint8), f"{name}.{key}: dtype {value.dtype}"
        assert np.all(np.isfinite(value.astype(np.float32))), f"{name}.{key} is not finite"
        if key == "generate" or key.endswith(".images"):
            assert value.shape[1:] == tuple(model.image_shape), f"{name}.{key}: shape {value.shape}"
            assert value.min() >= low - 1e-5 and value.max() <= high + 1e-5, f"{name}.{key} leaves {model.value_range}"
            spread = float(np.max(np.abs(value.astype(np.float32) - value[:1].astype(np.float32))))
            assert spread > DISTINCT_ATOL, f"{name}.{key} gives the same image for every input"
    return outputs


def check_save_load(model, batches, examples, directory):
    """`model.save` / `keras.models.load_model`: same class and config, identical outputs, the same
    optimizer state (iterations and every slot), and `fit` continues from it. Returns the loaded model."""
    name = type(model).__name__
    path = os.path.join(os.fspath(directory), f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert _as_json(loaded.get_config()) == _as_json(model.get_config())
    expected, actual = _all_outputs(model, examples), _all_outputs(loaded, examples)
    assert sorted(actual) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-6, err_msg=f"{name}.{key} after load")
    optimizers, restored = model.named_optimizers(), loaded.named_optimizers()
    assert sorted(restored) == sorted(optimizers)
    for key, optimizer in optimizers.items():
        assert int(restored[key].iterations.numpy()) == int(optimizer.iterations.numpy()), f"{name}.{key}.iterations"
        assert len(restored[key].variables) == len(optimizer.variables), f"{name}.{key} variables"
        for saved, back in zip(optimizer.variables, restored[key].variables):
            np.testing.assert_array_equal(np.asarray(back), np.asarray(saved), err_msg=f"{name}.{key}: {saved.path}")
    iterations = int(loaded.optimizer.iterations.numpy())
    history = loaded.fit(batches.take(1), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(values)) for values in history.values())
    assert int(loaded.optimizer.iterations.numpy()) == iterations + 1
    return loaded


def two_cpu_strategy():
    """A 2-replica `MirroredStrategy` over two logical CPUs (splits the CPU on first use).

    The split must happen before TensorFlow initializes its devices; raises
    RuntimeError if it is too late (set it up first thing, as
    `tests/conftest.py` does).
    """
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        physical = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            physical, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
        cpus = tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in cpus[:2]])


def check_distributed_fit(build, batches_for, strategy):
    """`build()` inside `strategy.scope()`, then one epoch of `fit` on `batches_for(model)`: finite
    losses and one update per global batch, with every replica's weights identical after it."""
    assert strategy.num_replicas_in_sync >= 2
    with strategy.scope():
        model = build()
    batches = batches_for(model)
    steps = int(batches.cardinality().numpy())
    with strategy.scope():  # evaluate and later fits of the model run under it too
        history = model.fit(batches, epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    assert int(model.optimizer.iterations.numpy()) == steps
    for variable in model.trainable_variables[:4]:
        mirrored = getattr(variable, "value", variable)  # a Keras variable wraps the tf.distribute one
        values = list(getattr(mirrored, "values", None) or [mirrored])
        first = np.asarray(values[0])
        for other in values[1:]:
            np.testing.assert_array_equal(np.asarray(other), first, err_msg=variable.path)
    return model


# ----------------------------------------------------------------- serving
# Runs in a fresh interpreter in which `import kerasgen` fails: each job (a
# JSON line on stdin) loads a SavedModel with TensorFlow alone, calls every
# signature on the inputs saved for it, and answers with one JSON line.
_LOADER = r'''
import sys
sys.modules["kerasgen"] = None  # the SavedModel must not need kerasgen
try:
    import kerasgen  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("import kerasgen should have failed in the loader process")

import json, os, traceback
import numpy as np
import tensorflow as tf

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    result = {"kerasgen_in_sys_modules": sys.modules.get("kerasgen") is not None}
    try:
        loaded = tf.saved_model.load(job["dir"])
        result["signatures"] = sorted(loaded.signatures)
        for name in result["signatures"]:
            signature = loaded.signatures[name]
            _, specs = signature.structured_input_signature
            feeds = {key: np.load(os.path.join(job["inputs"], f"{name}.{key}.npy")) for key in specs}
            for suffix, rows in (("", None), (".empty", 0)):
                outputs = signature(**{key: tf.constant(value[:rows] if rows == 0 and value.ndim else value)
                                       for key, value in feeds.items()})
                for key, value in outputs.items():
                    np.save(os.path.join(job["out"], f"{name}.{key}{suffix}.npy"), value.numpy())
    except Exception:
        result["error"] = traceback.format_exc()
    print(json.dumps(result), flush=True)
'''


class ServingProcess:
    """A Python process without kerasgen that loads SavedModels and calls their signatures.

    One process serves many checks (each TensorFlow import costs seconds):

        with ServingProcess() as server:
            check_serving(model, examples, directory, server=server)
    """

    def __init__(self):
        self._directory = tempfile.mkdtemp(prefix="kerasgen-serving-")
        script = os.path.join(self._directory, "loader.py")
        with open(script, "w") as handle:
            handle.write(_LOADER)
        self._stderr = open(os.path.join(self._directory, "loader.err"), "w")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        self._process = subprocess.Popen([sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, text=True, env=env, cwd=self._directory)
        self._jobs = 0

    def _answer(self):
        line = self._process.stdout.readline()
        if not line:
            self._stderr.flush()
            with open(self._stderr.name) as handle:
                raise RuntimeError(f"the serving process died:\n{handle.read()[-4000:]}")
        return json.loads(line)

    def call(self, export_dir, feeds):
        """`({signature: {output: array}}, {signature: {output: array}} for empty batches)` from the
        SavedModel in `export_dir`, each signature called on `feeds[signature]`."""
        if self._jobs == 0:
            self._answer()  # "ready": TensorFlow is imported
        self._jobs += 1
        job_dir = os.path.join(self._directory, f"job{self._jobs}")
        inputs, out = os.path.join(job_dir, "inputs"), os.path.join(job_dir, "out")
        os.makedirs(inputs)
        os.makedirs(out)
        for signature, feed in feeds.items():
            for key, value in feed.items():
                np.save(os.path.join(inputs, f"{signature}.{key}.npy"), value)
        self._process.stdin.write(json.dumps({"dir": os.fspath(export_dir), "inputs": inputs, "out": out}) + "\n")
        self._process.stdin.flush()
        result = self._answer()
        if result.get("error"):
            raise AssertionError(f"loading {export_dir} without kerasgen failed:\n{result['error']}")
        assert not result["kerasgen_in_sys_modules"], "the serving process imported kerasgen"
        served, empty = {}, {}
        for filename in sorted(os.listdir(out)):
            signature, output, *rest = filename[: -len(".npy")].split(".")
            (empty if rest else served).setdefault(signature, {})[output] = np.load(os.path.join(out, filename))
        shutil.rmtree(job_dir, ignore_errors=True)
        assert sorted(served) == result["signatures"], "not every signature was called"
        return served, empty

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._stderr.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_serving(model, examples, directory, server=None):
    """Exports `model` (`kerasgen.export.save_for_serving`), loads it without kerasgen, calls every
    declared signature, and checks names, dtypes, shapes and values against the live model's
    endpoints; an empty batch gives empty outputs. Returns `(export_dir, served outputs)`."""
    from kerasgen import export

    name = type(model).__name__
    export_dir = export.save_for_serving(model, os.path.join(os.fspath(directory), f"{name}_serving"))
    feeds = probe_feeds(model, examples)
    expected = inference_outputs(model, feeds)
    own = server is None
    server = server or ServingProcess()
    try:
        served, empty = server.call(export_dir, feeds)
    finally:
        if own:
            server.close()
    assert sorted(served) == sorted(export.signature_names(model)), f"{name}: signatures {sorted(served)}"
    for signature, outputs in expected.items():
        assert sorted(served[signature]) == sorted(outputs), f"{name}.{signature}: outputs {sorted(served[signature])}"
        for key, value in outputs.items():
            got = served[signature][key]
            where = f"{name}.{signature}.{key}"
            assert got.dtype == value.dtype and got.shape == value.shape, f"{where}: {got.dtype}{got.shape}"
            if got.dtype == np.uint8:  # float rounding may move a near-tie by one level
                assert np.abs(got.astype(np.int16) - value.astype(np.int16)).max() <= 1, where
            else:
                np.testing.assert_allclose(got, value, rtol=SERVING_RTOL, atol=SERVING_ATOL, err_msg=where)
            assert empty[signature][key].shape == (0, *value.shape[1:]), f"{where}: empty batch"
    return export_dir, served


# ---------------------------------------------------------------- one call
def run_conformance(spec, directory=None, strategy=None, server=None):
    """Every check above on the small configuration of the registered model `spec` (a name or a
    `ModelSpec`); `strategy` (e.g. `two_cpu_strategy()`) adds the distributed check."""
    spec = _spec(spec)
    keras.utils.set_random_seed(0)
    owned = directory is None
    directory = directory or tempfile.mkdtemp(prefix="kerasgen-conformance-")
    try:
        model = small_model(spec)
        check_config_round_trip(model)
        batches = training_batches(spec, model)
        check_fit_and_evaluate(model, batches, training_batches(spec, model, limit=128))
        examples = _examples(spec, model)
        check_outputs(model, examples)
        check_save_load(model, batches, examples, directory)
        check_serving(model, examples, directory, server=server)
        if strategy is not None:
            check_distributed_fit(lambda: small_model(spec), lambda m: training_batches(spec, m, limit=128), strategy)
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
