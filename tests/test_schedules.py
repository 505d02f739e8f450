"""Learning-rate schedules of kerasgen.schedules."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasgen.schedules import ConstantThenLinearDecay  # noqa: E402


def test_constant_then_linear_decay_to_zero():
    # CycleGAN: 2e-4 for 100 epochs, then linearly to 0 over 100 more (here 1 step per epoch).
    schedule = ConstantThenLinearDecay(2e-4, constant_steps=100, decay_steps=100)
    steps = [0, 50, 100, 125, 150, 199, 200, 300]
    expected = [2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 2e-6, 0.0, 0.0]
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-6, atol=1e-12)


def test_schedule_is_saved_with_the_optimizer_and_resumes(tmp_path):
    schedule = ConstantThenLinearDecay(0.1, constant_steps=2, decay_steps=4)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule), loss="mse")
    model.fit(np.ones((4, 1)), np.ones((4, 1)), batch_size=1, epochs=1, verbose=0)  # 4 steps
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    restored = loaded.optimizer.learning_rate
    assert int(loaded.optimizer.iterations.numpy()) == 4
    np.testing.assert_allclose(float(restored), 0.1 * (1 - 2 / 4), rtol=1e-6)  # step 4: halfway down
    saved = loaded.optimizer.get_config()["learning_rate"]
    assert saved["class_name"] == "ConstantThenLinearDecay" and saved["config"] == schedule.get_config()


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="initial_learning_rate must be > 0"):
        ConstantThenLinearDecay(0.0, 1, 1)
    with pytest.raises(ValueError, match="decay_steps >= 1"):
        ConstantThenLinearDecay(1e-3, 10, 0)
