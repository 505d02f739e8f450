"""Learning-rate schedules from the papers (Keras `LearningRateSchedule`s, saved with the optimizer)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgen")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A constant rate, then a linear decay to zero: the schedule of pix2pix and CycleGAN.

    Zhu et al. (2017), Sec. 4: "We keep the same learning rate for the first
    100 epochs and linearly decay the rate to zero over the next 100 epochs"
    (pix2pix's code does the same). With s the optimizer step:

        lr(s) = initial_learning_rate                                      s <= constant_steps
        lr(s) = initial_learning_rate * (1 - (s - constant_steps) / decay_steps),  then 0 from
                constant_steps + decay_steps on.

    Steps are optimizer updates, so the paper's schedule for a dataset of N
    images at batch size B is `constant_steps = 100 * ceil(N / B)` and the
    same `decay_steps`. The step count is saved with the optimizer, so a
    resumed run continues the schedule where it stopped.

    Example:
        steps = 100 * math.ceil(num_images / batch_size)
        schedule = kerasgen.schedules.ConstantThenLinearDecay(2e-4, steps, steps)
        cyclegan.compile(keras.optimizers.Adam(schedule, beta_1=0.5), keras.optimizers.Adam(schedule, beta_1=0.5))
    """

    def __init__(self, initial_learning_rate, constant_steps, decay_steps):
        if float(initial_learning_rate) <= 0:
            raise ValueError(f"initial_learning_rate must be > 0, got {initial_learning_rate}.")
        if int(constant_steps) < 0 or int(decay_steps) < 1:
            raise ValueError(
                f"constant_steps must be >= 0 and decay_steps >= 1, got {constant_steps} and {decay_steps}."
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        decayed = ops.cast(step, "float32") - self.constant_steps
        fraction = ops.clip(decayed / self.decay_steps, 0.0, 1.0)
        return self.initial_learning_rate * (1.0 - fraction)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
        }
