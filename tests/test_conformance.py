"""The conformance suite: `kerasgen.testing`'s checks over every model in `kerasgen.models.REGISTRY`.

A model joins the zoo by registering itself; it then inherits these tests:
config round trip, fit a few steps on real Fashion-MNIST and evaluate, outputs
in range and not constant, `.keras` save/load with identical outputs and
resumed optimizer state, a SavedModel reloaded and called in a process that
cannot import kerasgen, training under a 2-replica MirroredStrategy (two
logical CPU devices, configured in conftest.py), and XLA under mixed precision.
"""

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

import kerasgen
from kerasgen import testing
from kerasgen.models import REGISTRY

MODEL_NAMES = sorted(REGISTRY)
README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


@pytest.fixture(scope="module")
def server():
    """One process without kerasgen loads every export of this module."""
    with testing.ServingProcess() as process:
        yield process


@pytest.fixture(scope="module", params=MODEL_NAMES)
def trained(request, mirrored_strategy):
    """(spec, model, history, examples) after one short epoch on real data under a 2-replica
    MirroredStrategy (fit and evaluate checked); the later checks (outputs, save/load, serving) run on
    this model. Training on one device is every model's own tests' subject; replicas staying identical
    is tests/test_distribute.py's and `testing.check_distributed_fit`'s (run by test_custom_model.py)."""
    keras.utils.set_random_seed(0)
    spec = REGISTRY[request.param]
    with mirrored_strategy.scope():
        model = testing.small_model(spec)
        history = testing.check_fit_and_evaluate(
            model, testing.training_batches(spec, model), testing.training_batches(spec, model, limit=128))
    examples = spec.data.examples(count=testing.PROBE_BATCH, value_range=model.value_range)
    return spec, model, history, examples


def test_registry_entries_are_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.summary and spec.family and spec.paper
        assert re.fullmatch(r".+, (19|20)\d\d", spec.paper), f"{name}: paper {spec.paper!r} is not 'Authors, year'"
        assert issubclass(spec.cls, kerasgen.models.GenerativeModel)
        assert spec.cls.train_step is not keras.Model.train_step, f"{name} has no train_step"
        assert spec.cls.test_step is not keras.Model.test_step, f"{name} has no test_step"


def _readme_model_rows():
    rows = []
    for line in open(README, encoding="utf-8"):
        found = re.fullmatch(r"\| `(\w+)` \| `(\w+)` \| ([^|]+) \| (.+) \|\s*", line)
        if found:
            rows.append(tuple(cell.strip() for cell in found.groups()))
    return rows


def test_readme_model_table_matches_the_registry():
    """The README's model table is the registry: names, classes, papers and summaries, one row each."""
    expected = sorted((spec.name, spec.cls.__name__, spec.paper, spec.summary) for spec in REGISTRY.values())
    rows = _readme_model_rows()
    assert len(rows) == len(set(rows)), "a model has two rows"
    assert sorted(rows) == expected


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_round_trip(name):
    testing.check_config_round_trip(testing.small_model(REGISTRY[name]))


def test_fit_under_two_replica_mirrored_strategy_reports_finite_tracked_losses(trained):
    spec, model, history, _ = trained
    assert set(history) == set(model.trackers)
    # 256 images in global batches of 64: 4 steps, each with an update (fewer during WGAN's warm-up)
    assert model.optimizer_updates_after(4, from_start=True) <= 4
    assert int(model.optimizer.iterations.numpy()) == model.optimizer_updates_after(4, from_start=True)


def test_outputs_are_in_value_range_and_not_constant(trained):
    spec, model, _, examples = trained
    testing.check_outputs(model, examples)


def test_save_load_round_trip(trained, tmp_path):
    spec, model, _, examples = trained
    testing.check_save_load(model, testing.training_batches(spec, model, limit=64), examples, tmp_path)


def test_saved_model_runs_without_kerasgen_and_matches_the_live_model(trained, tmp_path, server):
    spec, model, _, examples = trained
    testing.check_serving(model, examples, tmp_path, server=server)


def _updated_variables(optimizer):
    """The variables `optimizer` was built for (a LossScaleOptimizer's inner optimizer's)."""
    return list(getattr(optimizer, "inner_optimizer", optimizer)._trainable_variables)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fit_with_xla_under_mixed_precision(name):
    """What Keras picks on a GPU, mixed precision and XLA together: compile(jit_compile=True) under
    mixed_bfloat16 (float16's CPU stand-in; loss scaling has its own tests in test_loss_scaling.py).
    Every step is compiled by XLA, the losses stay finite, every optimizer moves its weights, and
    every served output stays float32 (or uint8)."""
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    spec = REGISTRY[name]
    model = spec.create(**dict(spec.small_config, image_shape=(28, 28, 1), seed=0))
    model.compile(jit_compile=True)
    assert model.jit_compile is True
    optimizers = model.named_optimizers()
    for optimizer in optimizers.values():
        if not optimizer.built:  # Keras builds model.optimizer lazily, in the first fit
            optimizer.build(model.trainable_variables)
    before = {key: [np.array(v) for v in _updated_variables(opt)] for key, opt in optimizers.items()}
    history = model.fit(testing.training_batches(spec, model, limit=64, batch_size=32), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    for key, optimizer in optimizers.items():
        moved = [np.any(np.array(v) != b) for v, b in zip(_updated_variables(optimizer), before[key])]
        assert any(moved), f"{name}: {key} did not move its weights under XLA"
    outputs = testing.inference_outputs(model, testing.probe_feeds(model, spec.data.examples(count=5)))
    assert all(value.dtype in (np.float32, np.uint8) for values in outputs.values() for value in values.values())


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
