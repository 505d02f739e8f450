"""The reparameterization trick as a layer."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgen")
class Sampling(keras.layers.Layer):
    """Draws z = mu + sigma * eps with eps ~ N(0, I) (Kingma & Welling, 2014, eq. 10).

    Because the noise enters additively, z is a differentiable function of
    (mu, log sigma^2) and gradients reach the encoder.

    Call with `[z_mean, z_log_var]`, both `(batch, latent_dim)`, and a
    `seed`: pass the owning model's `keras.random.SeedGenerator` so that runs
    are reproducible under `keras.utils.set_random_seed` and the layer keeps
    no random state of its own. Returns `(batch, latent_dim)`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True  # stateless: nothing to build

    def call(self, inputs, seed=None):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=seed)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]
