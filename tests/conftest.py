"""Shared fixtures for the kerasgen test suite."""
from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same global RNG state (Python, NumPy, TF/Keras)."""
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")  # the CLI sets a global policy


@pytest.fixture(scope="session")
def fashion_mnist_subset():
    """The first 2048 Fashion-MNIST training images as float32 NHWC in [-1, 1], and int32 labels."""
    from kerasgen import datasets

    images, labels = datasets.load_arrays("fashion_mnist", split="train", limit=2048)
    images = images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    assert images.shape == (2048, 28, 28, 1) and labels.shape == (2048,)
    return images, labels.astype(np.int32)


@pytest.fixture
def small_images():
    """64 seeded uniform-random images in [-1, 1], shape (64, 28, 28, 1), float32."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1.0, 1.0, size=(64, 28, 28, 1)).astype(np.float32)


@pytest.fixture
def check_save_load_resume(tmp_path):
    """Returns `check(model, images)`: train 1 epoch, save, load, compare, resume both.

    Checks that a `.keras` round trip restores the class, config, weights (identical
    predictions) and optimizer state (same iteration count and slot variables), and
    that one more epoch of `fit` from the loaded model reproduces the original model's
    own next epoch, so training resumes without an optimizer warm-up jump.
    """

    def check(model, images, batch_size=128):
        model.compile()
        model.fit(images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        path = tmp_path / "m.keras"
        model.save(path)
        loaded = keras.models.load_model(path)

        assert type(loaded) is type(model)
        # Through JSON, tuples in the saved config come back as lists.
        assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(model.get_config()))
        np.testing.assert_allclose(
            loaded.predict(images[:64], verbose=0), model.predict(images[:64], verbose=0), atol=1e-6
        )
        steps = -(-len(images) // batch_size)
        assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == steps
        assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
        for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved), err_msg=saved.path
            )

        # The model's SeedGenerator state is saved too, so the noise stream resumes.
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(loaded.seed_generator.state), keras.ops.convert_to_numpy(model.seed_generator.state)
        )
        keras.utils.set_random_seed(1)
        original = model.fit(images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        keras.utils.set_random_seed(1)
        resumed = loaded.fit(images, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        # A fresh (un-restored) Adam state changes this loss by several percent.
        np.testing.assert_allclose(resumed.history["loss"][0], original.history["loss"][0], rtol=1e-4)
        assert int(loaded.optimizer.iterations) == 2 * steps
        for w_orig, w_loaded in zip(model.weights, loaded.weights):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(w_loaded), keras.ops.convert_to_numpy(w_orig), atol=1e-5
            )
        return model, loaded

    return check



def _split_cpu_into_two_logical_devices():
    """Two logical CPUs for MirroredStrategy tests; must run before TF initializes."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
        )
    except RuntimeError:  # TF was initialized already (e.g. by a plugin); tests needing it skip
        pass


_split_cpu_into_two_logical_devices()


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One 2-replica MirroredStrategy over two logical CPUs, shared by all tests.

    One instance per process: several MirroredStrategy objects in one process
    can collide on collective instance keys.
    """
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < 2:
        pytest.skip("TensorFlow was initialized before conftest could split the CPU")
    return tf.distribute.MirroredStrategy(devices[:2])


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the marks
def pytest_collection_modifyitems(config, items):
    """Groups for `pytest -n 2 --dist loadgroup` (setup.cfg): tests that share an expensive module-
    or class-scoped fixture run in one worker, so that no worker builds it twice. A parametrized one
    (the conformance suite's `trained`, one model each) makes one group per parameter, and decides
    alone (the cheap `server` process may start in both workers). Other tests go where a worker is free."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        params = getattr(getattr(item, "callspec", None), "params", {})
        shared = sorted(name for name, definitions in (info.name2fixturedefs.items() if info else ())
                        if definitions and definitions[-1].scope in ("module", "class"))
        parametrized = [f"{name}={params[name]}" for name in shared if name in params]
        if shared:
            item.add_marker(pytest.mark.xdist_group(
                item.nodeid.split("::")[0] + ":" + ",".join(parametrized or shared)))
