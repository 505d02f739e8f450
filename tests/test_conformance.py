"""The conformance suite: every model in `kerasgen.models.REGISTRY` must pass it.

A model joins the zoo by registering itself; it then inherits these tests:
fit a few steps on real Fashion-MNIST, evaluate, save/load with identical
outputs and resumed optimizer state, and train under a 2-replica
MirroredStrategy (two logical CPU devices, configured in conftest.py).
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

import kerasgen
from kerasgen.models import REGISTRY

MODEL_NAMES = sorted(REGISTRY)


def as_json(config):
    """Config with tuples as lists, as it is after a trip through the .keras file."""
    return json.loads(json.dumps(config))


def make_model(spec, **overrides):
    kwargs = dict(spec.small_config, image_shape=(28, 28, 1), seed=0)
    kwargs.update(overrides)
    model = spec.create(**kwargs)
    model.compile()
    return model


def fashion_batches(spec, model, limit=256, batch_size=64):
    """Real Fashion-MNIST batches in the form the model trains on: images, (images, labels)
    for conditional models, (images, indices) for indexed ones (GLO, GLANN), (domain A, domain B)
    images for translation models (edge maps -> images, or sneakers and ankle boots)."""
    if spec.pairing:
        return kerasgen.datasets.fashion_mnist_translation(
            spec.pairing, limit=limit, batch_size=batch_size, seed=0, value_range=model.value_range
        )
    return kerasgen.datasets.load(
        "fashion_mnist", split="train", limit=limit, batch_size=batch_size, seed=0,
        with_labels=spec.conditional, with_indices=spec.indexed, value_range=model.value_range,
    )


# Families whose `reconstruct`/`encode` map images to images/codes.
IMAGE_AUTOENCODING_FAMILIES = ("autoencoder", "vae", "wae")


def probe_inputs(spec, model, count=8):
    """(images, labels) of the Fashion-MNIST test split; for translation models (domain A, domain B) images."""
    if spec.pairing:
        test = kerasgen.datasets.fashion_mnist_translation(
            spec.pairing, split="test", batch_size=count, shuffle=False, value_range=model.value_range
        )
        return tuple(tensor.numpy() for tensor in next(iter(test)))
    images, labels = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=count)
    return kerasgen.datasets.to_value_range(images, model.value_range), labels.astype("int32")


def probe_outputs(spec, model):
    """Deterministic outputs of every public inference method the model has."""
    images, labels = probe_inputs(spec, model)
    conditional = (labels,) if spec.conditional else ()
    outputs = {}
    if hasattr(model, "generate"):
        outputs["generate"] = model.generate(len(images), *conditional, seed=1)
    if spec.family in IMAGE_AUTOENCODING_FAMILIES:
        outputs["reconstruct"] = model.reconstruct(images, *conditional)
        encoded = model.encode(images, *conditional)
        outputs["encode"] = encoded[0] if isinstance(encoded, (list, tuple)) else encoded
    elif spec.indexed:  # GLO, GLANN: reconstruct the training images from their codes
        outputs["reconstruct"] = model.reconstruct(np.arange(len(images)))
    elif spec.pairing:  # translation: each direction on images of its source domain
        domains = {"a": images, "b": labels}
        for direction in model.DIRECTIONS:
            outputs[f"translate_{direction}"] = model.translate(domains[direction[0]], direction=direction)
    if hasattr(model, "log_prob"):  # explicit density (PixelCNN)
        outputs["log_prob"] = model.log_prob(images)
    assert outputs, f"{spec.name} exposes no inference method to check"
    return {key: keras.ops.convert_to_numpy(value) for key, value in outputs.items()}


@pytest.fixture(scope="module", params=MODEL_NAMES)
def trained(request):
    """(spec, model, history) after one short epoch on real data."""
    keras.utils.set_random_seed(0)
    spec = REGISTRY[request.param]
    model = make_model(spec)
    history = model.fit(fashion_batches(spec, model), epochs=1, verbose=0)
    return spec, model, history.history


def test_registry_entries_are_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.summary and spec.family
        assert issubclass(spec.cls, keras.Model)
        assert spec.cls.train_step is not keras.Model.train_step, f"{name} has no train_step"
        assert spec.cls.test_step is not keras.Model.test_step, f"{name} has no test_step"


def test_fit_reports_finite_tracked_losses(trained):
    spec, model, history = trained
    assert history, f"{spec.name}: fit reported nothing"
    assert set(history) == set(model.trackers)
    for name, values in history.items():
        assert np.all(np.isfinite(values)), f"{spec.name}: {name} = {values}"
    assert int(model.optimizer.iterations.numpy()) == 4  # 256 images / batch 64


def test_evaluate_returns_the_same_terms(trained):
    spec, model, _ = trained
    results = model.evaluate(fashion_batches(spec, model, limit=128), verbose=0, return_dict=True)
    assert set(results) == set(model.trackers)
    assert all(np.isfinite(v) for v in results.values())


def test_outputs_are_in_value_range_and_not_constant(trained):
    spec, model, _ = trained
    low, high = model.value_range
    for key, value in probe_outputs(spec, model).items():
        if key in ("encode", "log_prob"):
            continue
        assert value.shape[1:] == model.image_shape, key
        assert value.min() >= low - 1e-5 and value.max() <= high + 1e-5, key
        assert value.std(axis=0).mean() > 1e-4, f"{spec.name}.{key} gives the same image for every input"


def test_save_load_round_trip(trained, tmp_path):
    spec, model, _ = trained
    path = tmp_path / f"{spec.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert as_json(loaded.get_config()) == as_json(model.get_config())
    expected, actual = probe_outputs(spec, model), probe_outputs(spec, loaded)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-6, err_msg=key)
    # Optimizer state comes back, so training resumes where it stopped.
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    history = loaded.fit(fashion_batches(spec, loaded, limit=64), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(values)) for values in history.values())
    assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) + 1


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fit_under_two_replica_mirrored_strategy(name, mirrored_strategy):
    keras.utils.set_random_seed(0)
    spec = REGISTRY[name]
    assert mirrored_strategy.num_replicas_in_sync == 2
    with mirrored_strategy.scope():
        model = make_model(spec)
    history = model.fit(fashion_batches(spec, model, limit=128), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert int(model.optimizer.iterations.numpy()) == 2


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fit_under_mixed_bfloat16(name):
    """Layers compute in bfloat16 (AMX on this CPU); losses stay float32 and finite."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    spec = REGISTRY[name]
    model = make_model(spec)
    history = model.fit(fashion_batches(spec, model, limit=64), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    outputs = probe_outputs(spec, model)
    assert all(value.dtype == np.float32 for value in outputs.values())


def _optimizers(model):
    """Every optimizer the model steps, by attribute name."""
    names = ("optimizer", "discriminator_optimizer", "code_optimizer", "mapper_optimizer")
    return {name: getattr(model, name) for name in names if getattr(model, name, None) is not None}


def _updated_variables(optimizer):
    """The variables `optimizer` was built for (a LossScaleOptimizer's inner optimizer's)."""
    return list(getattr(optimizer, "inner_optimizer", optimizer)._trainable_variables)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fit_with_xla(name):
    """compile(jit_compile=True), what Keras's default "auto" means on one GPU: every step is
    compiled by XLA, the losses stay finite and every optimizer moves its weights."""
    keras.utils.set_random_seed(0)
    spec = REGISTRY[name]
    model = spec.create(**dict(spec.small_config, image_shape=(28, 28, 1), seed=0))
    model.compile(jit_compile=True)
    assert model.jit_compile is True
    for optimizer in _optimizers(model).values():
        if not optimizer.built:  # Keras builds model.optimizer lazily, in the first fit
            optimizer.build(model.trainable_variables)
    before = {key: [np.array(v) for v in _updated_variables(opt)] for key, opt in _optimizers(model).items()}
    history = model.fit(fashion_batches(spec, model, limit=64, batch_size=32), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    for key, optimizer in _optimizers(model).items():
        moved = [np.any(np.array(v) != b) for v, b in zip(_updated_variables(optimizer), before[key])]
        assert any(moved), f"{name}: {key} did not move its weights under XLA"


def test_a_model_that_xla_cannot_compile_says_so_and_trains_in_graph_mode():
    class NoXLA(kerasgen.models.AutoEncoder):
        xla_unsupported = "its step has a data-dependent Python loop"

    model = NoXLA(latent_dim=2)
    assert not model.supports_jit
    with pytest.warns(UserWarning, match="NoXLA trains without XLA .* data-dependent Python loop"):
        model.compile(jit_compile=True)
    assert model.jit_compile is False
    model.compile()  # "auto" on this CPU-only machine: graph mode, nothing to warn about
    history = model.fit(np.zeros((32, 28, 28, 1), "float32"), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
