"""The reparameterization layer: distribution, reproducibility and gradients."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import models  # noqa: E402
from kerasgen.layers import Sampling  # noqa: E402

MU = np.array([0.5, -2.0, 3.0], np.float32)
LOG_VAR = np.array([0.0, math.log(4.0), math.log(0.01)], np.float32)


def test_sampling_moments_match_mu_and_sigma():
    n = 100_000
    z_mean = np.tile(MU, (n, 1))
    z_log_var = np.tile(LOG_VAR, (n, 1))
    z = keras.ops.convert_to_numpy(
        Sampling()([z_mean, z_log_var], seed=keras.random.SeedGenerator(3))
    ).astype(np.float64)
    assert z.shape == (n, 3)
    sigma = np.exp(0.5 * LOG_VAR.astype(np.float64))
    # Sample mean: standard error sigma / sqrt(n); sample std: ~ sigma / sqrt(2n). Allow 5 SE.
    np.testing.assert_array_less(np.abs(z.mean(axis=0) - MU), 5 * sigma / math.sqrt(n))
    np.testing.assert_array_less(np.abs(z.std(axis=0) - sigma), 5 * sigma / math.sqrt(2 * n))


def test_sampling_is_reproducible_with_seed_generator():
    inputs = [np.tile(MU, (4, 1)), np.tile(LOG_VAR, (4, 1))]
    layer = Sampling()
    first = keras.ops.convert_to_numpy(layer(inputs, seed=keras.random.SeedGenerator(7)))
    second = keras.ops.convert_to_numpy(layer(inputs, seed=keras.random.SeedGenerator(7)))
    np.testing.assert_array_equal(first, second)
    generator = keras.random.SeedGenerator(7)
    a = keras.ops.convert_to_numpy(layer(inputs, seed=generator))
    b = keras.ops.convert_to_numpy(layer(inputs, seed=generator))
    np.testing.assert_array_equal(a, first)
    assert not np.allclose(a, b), "a SeedGenerator must advance between calls"
    assert layer.compute_output_shape([(None, 3), (None, 3)]) == (None, 3)


def test_sampling_gradients_are_reparameterization_gradients():
    """dz/dmu = 1 and dz/dlogvar = 0.5 exp(0.5 logvar) eps, with the same eps as the forward pass."""
    seed = 1234  # an int seed makes keras.random stateless: every call draws the same eps
    layer = Sampling()
    z_mean = tf.Variable(np.tile(MU, (5, 1)))
    z_log_var = tf.Variable(np.tile(LOG_VAR, (5, 1)))
    with tf.GradientTape(persistent=True) as tape:
        z = layer([z_mean, z_log_var], seed=seed)
        total = tf.reduce_sum(z)
    grad_mu, grad_log_var = tape.gradient(total, [z_mean, z_log_var])
    # eps recovered from a draw with mu = 0, sigma = 1 and the same seed.
    eps = keras.ops.convert_to_numpy(layer([tf.zeros_like(z_mean), tf.zeros_like(z_log_var)], seed=seed))
    sigma = np.exp(0.5 * LOG_VAR)
    np.testing.assert_allclose(z.numpy(), MU + sigma * eps, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(grad_mu.numpy(), np.ones_like(eps))
    np.testing.assert_allclose(grad_log_var.numpy(), 0.5 * sigma * eps, rtol=1e-6, atol=1e-7)
    # Elementwise: z_ij depends on (mu_ij, logvar_ij) only, so the Jacobian is diagonal.
    jac = tape.jacobian(z, z_mean).numpy().reshape(15, 15)
    np.testing.assert_array_equal(jac, np.eye(15))


def test_vae_gradients_reach_every_encoder_variable(small_images):
    vae = models.VAE(latent_dim=4, seed=0)
    with tf.GradientTape(persistent=True) as tape:
        terms = vae.compute_terms(small_images[:16], training=True)
    encoder_vars = vae.encoder.trainable_variables
    assert len(encoder_vars) == 10  # 2 conv + hidden + z_mean + z_log_var, kernel and bias each
    for key in ("loss", "reconstruction_loss"):
        # The reconstruction term reaches the encoder only through z = mu + sigma * eps.
        grads = tape.gradient(terms[key], encoder_vars)
        for var, grad in zip(encoder_vars, grads):
            assert grad is not None, f"{key}: no gradient for {var.path}"
            assert np.any(grad.numpy() != 0.0), f"{key}: zero gradient for {var.path}"
            assert np.all(np.isfinite(grad.numpy())), f"{key}: non-finite gradient for {var.path}"
    decoder_grads = tape.gradient(terms["loss"], vae.decoder.trainable_variables)
    assert all(g is not None for g in decoder_grads)
    # The KL term does not depend on the decoder.
    assert all(g is None for g in tape.gradient(terms["kl_loss"], vae.decoder.trainable_variables))
