"""Layers: the reparameterization layer, CycleGAN's image pool, reflection padding."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import models  # noqa: E402
from kerasgen.layers import ImagePool, ReflectionPadding2D, Sampling  # noqa: E402

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


# --------------------------------------------------------------- ImagePool


def marked(values):
    """One (2, 2, 1) image per value, every pixel equal to it: each fake carries its id."""
    return np.asarray(values, np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1), np.float32)


def ids(images):
    return keras.ops.convert_to_numpy(images)[:, 0, 0, 0].astype(int).tolist()


def new_pool(size, **kwargs):
    pool = ImagePool(size, **kwargs)
    pool.build((None, 2, 2, 1))
    return pool


def run_pool(pool, total, batch, first_id=0, seed=0):
    """Feeds fakes first_id, first_id + 1, ... in batches; returns (returned ids, swaps, stored ids).

    Checks the CycleGAN pool rule on every fake, in order: while the pool is not full, the fake
    is stored and returned; once it is full, either the fake comes back (pool unchanged) or a
    stored fake comes back and the new one takes its place.
    """
    seed_generator = keras.random.SeedGenerator(seed)
    query = tf.function(lambda images: pool(images, seed=seed_generator))  # compiled, as in train_step
    stored = sorted(ids(pool.images.value)[: int(pool.count.numpy())])
    returned_all, swaps = [], 0
    for start in range(first_id, first_id + total, batch):
        fresh = list(range(start, start + batch))
        returned = ids(query(marked(fresh)))
        for new, out in zip(fresh, returned):
            if len(stored) < pool.size:
                assert out == new, "a fake must come back as is while the pool fills"
                stored.append(new)
            elif out != new:
                assert out in stored, f"returned {out}, which the pool did not hold"
                stored.remove(out)
                stored.append(new)
                swaps += 1
        returned_all.extend(returned)
        held = ids(pool.images.value)[: int(pool.count.numpy())]
        assert sorted(held) == sorted(stored), "the pool's content drifted from the rule"
    return returned_all, swaps, stored


def test_image_pool_fills_with_the_first_fakes_and_returns_them():
    pool = new_pool(10)
    returned, swaps, stored = run_pool(pool, total=10, batch=5)
    assert returned == list(range(10)) and swaps == 0
    assert int(pool.count.numpy()) == 10 and sorted(stored) == list(range(10))


@pytest.mark.parametrize("probability", [0.5, 0.2])
def test_image_pool_returns_past_fakes_with_the_documented_probability(probability):
    pool = new_pool(10, swap_probability=probability)
    run_pool(pool, total=10, batch=10)  # fill
    n = 10_000
    returned, swaps, _ = run_pool(pool, total=n, batch=500, first_id=10)
    # Each fake after the pool is full is swapped with probability p: Binomial(n, p), 5 standard deviations.
    assert abs(swaps - n * probability) < 5 * math.sqrt(n * probability * (1 - probability)), swaps
    past = [out for new, out in zip(range(10, 10 + n), returned) if out != new]
    assert len(past) == swaps and all(out < new for new, out in zip(range(10, 10 + n), returned) if out != new)
    # Stored fakes are drawn uniformly: the returned ones are of every age, not only the oldest or newest.
    ages = np.array([new - out for new, out in zip(range(10, 10 + n), returned) if out != new])
    assert ages.min() < 10 and ages.max() > 40


def test_image_pool_extremes_and_size_zero():
    never = new_pool(4, swap_probability=0.0)
    assert run_pool(never, total=40, batch=8)[0] == list(range(40))
    always = new_pool(4, swap_probability=1.0)
    _, swaps, _ = run_pool(always, total=40, batch=8)
    assert swaps == 36  # every fake after the first 4
    passthrough = ImagePool(0)
    passthrough.build((None, 2, 2, 1))
    assert ids(passthrough(marked([5, 6, 7]), seed=keras.random.SeedGenerator(0))) == [5, 6, 7]


def test_image_pool_is_seeded_and_the_same_eager_and_compiled():
    def returned_ids(seed, compiled):
        pool = new_pool(6)
        seed_generator = keras.random.SeedGenerator(seed)
        query = lambda images: pool(images, seed=seed_generator)  # noqa: E731
        query = tf.function(query) if compiled else query
        return [ids(query(marked(range(start, start + 8)))) for start in range(0, 64, 8)]

    eager = returned_ids(1, compiled=False)
    assert eager == returned_ids(1, compiled=True)
    assert eager != returned_ids(2, compiled=True)
    assert eager[0][:6] == list(range(6))


def test_image_pool_rejects_bad_arguments():
    with pytest.raises(ValueError, match="size must be >= 0"):
        ImagePool(-1)
    with pytest.raises(ValueError, match=r"swap_probability must be in \[0, 1\]"):
        ImagePool(swap_probability=1.5)
    with pytest.raises(ValueError, match="fixed shape"):
        ImagePool(4).build((None, None, 2, 1))


# ------------------------------------------------------- ReflectionPadding2D
def test_reflection_padding_matches_numpy_reflect():
    images = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    for padding, widths in ((1, ((1, 1), (1, 1))), ((2, 3), ((2, 2), (3, 3))), (((0, 3), (1, 2)), ((0, 3), (1, 2)))):
        padded = keras.ops.convert_to_numpy(ReflectionPadding2D(padding)(images))
        np.testing.assert_array_equal(padded, np.pad(images, ((0, 0), *widths, (0, 0)), mode="reflect"))
    # [a, b, c] padded by 1: [b, a, b, c, b] (the border pixel is not repeated).
    row = keras.ops.convert_to_numpy(ReflectionPadding2D((0, 1))(np.array([1.0, 2.0, 3.0])[None, None, :, None]))
    assert row[0, 0, :, 0].tolist() == [2.0, 1.0, 2.0, 3.0, 2.0]
    with pytest.raises(ValueError, match="needs padding < 4"):
        ReflectionPadding2D(4)(images)
