"""DDPM (Ho et al., 2020) and DDIM sampling (Song et al., 2021): schedules, the forward process,
the samplers, learning on Fashion-MNIST, and exact reproduction of a sample by the SavedModel."""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasgen
from kerasgen.models import DDPM
from kerasgen.models.diffusion import cosine_beta_schedule, ddim_timesteps, linear_beta_schedule
from kerasgen.networks.diffusion import SinusoidalEmbedding, diffusion_unet

TINY = dict(base_filters=8, channel_multipliers=(1, 2))


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def test_linear_schedule_and_abar_match_a_hand_computation():
    betas = linear_beta_schedule()
    assert betas.shape == (1000,) and betas[0] == 1e-4 and betas[-1] == pytest.approx(0.02)
    assert np.allclose(np.diff(betas), (0.02 - 1e-4) / 999)
    model = DDPM(**TINY)
    abar = to_np(model.alphas_cumprod)
    for t in (0, 1, 499, 999):  # abar_t = prod_{s <= t} (1 - beta_s), one factor at a time
        assert abar[t] == pytest.approx(math.prod(1.0 - b for b in betas[: t + 1]), rel=1e-4)
    assert abar[-1] == pytest.approx(4.036e-5, rel=1e-3)  # x_T is almost pure noise


def test_cosine_schedule_follows_its_closed_form():
    betas = cosine_beta_schedule(1000)
    f = np.cos((np.arange(1001) / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2
    abar = np.cumprod(1.0 - betas)
    unclipped = betas < 0.999
    np.testing.assert_allclose(abar[unclipped], (f[1:] / f[0])[unclipped], rtol=1e-9)
    assert betas.max() == pytest.approx(0.999) and betas.min() > 0
    model = DDPM(beta_schedule="cosine", **TINY)
    np.testing.assert_allclose(to_np(model.alphas_cumprod), abar, rtol=1e-5)


def test_forward_process_marginal_matches_the_closed_form(fashion_mnist_subset):
    """x_t | x_0 ~ N(sqrt(abar_t) x_0, (1 - abar_t) I): mean and variance over 4000 draws, every pixel."""
    model = DDPM(**TINY)
    x0 = np.repeat(fashion_mnist_subset[0][:1], 4000, axis=0)
    abar = to_np(model.alphas_cumprod)
    for t in (0, 99, 499, 999):
        noise = keras.random.normal(x0.shape, seed=t)
        x_t = to_np(model.diffuse(x0, np.full(len(x0), t, "int32"), noise))
        mean, var = np.sqrt(abar[t]) * x0[0], 1.0 - abar[t]
        standard_error = np.sqrt(var / len(x0))
        assert np.abs(x_t.mean(axis=0) - mean).max() < 5 * standard_error, t
        np.testing.assert_allclose(x_t.var(axis=0).mean(), var, rtol=0.02)
        assert np.abs(x_t.var(axis=0) - var).max() < 0.15 * var, t


def test_sinusoidal_time_embedding_is_the_transformer_encoding():
    t = np.array([0, 1, 37, 999], "int32")
    got = to_np(SinusoidalEmbedding(8)(t))
    frequencies = 10000.0 ** (-np.arange(4) / 3)
    np.testing.assert_allclose(got, np.concatenate([np.sin(t[:, None] * frequencies), np.cos(t[:, None] * frequencies)], 1),
                               atol=2e-4)


def test_ddim_timesteps_cover_the_chain_evenly():
    np.testing.assert_array_equal(ddim_timesteps(1000, 5).numpy(), [0, 250, 500, 749, 999])
    np.testing.assert_array_equal(ddim_timesteps(10, 10).numpy(), np.arange(10))


def _random_network_model(**kwargs):
    """A DDPM whose eps_theta is a random (untrained, non-zero) network on 4x4 images."""
    keras.utils.set_random_seed(0)
    model = DDPM(image_shape=(4, 4, 1), ema_decay=None, **TINY, **kwargs)
    head = model.network.get_layer("head")
    head.kernel.assign(keras.random.normal(head.kernel.shape, stddev=0.3, seed=1))
    return model


def test_ddim_with_eta_zero_is_deterministic_and_seeded():
    model = _random_network_model(timesteps=20)
    noise = model.sample_noise(6, seed=0)
    first, second = to_np(model.ddim_sample(noise, 5)), to_np(model.ddim_sample(noise, 5))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(to_np(model.generate(6, steps=5, seed=3)), to_np(model.generate(6, steps=5, seed=3)))
    assert np.abs(to_np(model.generate(6, steps=5, seed=3)) - to_np(model.generate(6, steps=5, seed=4))).max() > 1e-3
    # eta > 0 draws noise: a different seed gives a different image from the same x_T.
    a = to_np(model.ddim_sample(noise, 5, eta=1.0, seed=1))
    b = to_np(model.ddim_sample(noise, 5, eta=1.0, seed=2))
    assert np.abs(a - b).max() > 1e-3


def test_ddim_with_all_steps_and_eta_one_samples_the_ancestral_distribution():
    """DDIM(eta = 1, S = T) is DDPM with sigma_t^2 = beta~_t (Song et al., Sec. 4.1): per-pixel mean
    and standard deviation of 4000 samples of each agree (on 4x4 images, T = 10, a random eps_theta)."""
    model = _random_network_model(timesteps=10, value_range=(-50.0, 50.0), ancestral_variance="posterior")
    noise = model.sample_noise(4000, seed=0)
    ancestral = to_np(model.ancestral_sample(noise, seed=1)).reshape(4000, -1)
    ddim = to_np(model.ddim_sample(noise, 10, eta=1.0, seed=2)).reshape(4000, -1)
    deterministic = to_np(model.ddim_sample(noise, 10, eta=0.0)).reshape(4000, -1)
    spread = ancestral.std(axis=0)
    assert np.abs(ancestral.mean(axis=0) - ddim.mean(axis=0)).max() < 5 * np.sqrt(2 / 4000) * spread.max()
    np.testing.assert_allclose(ddim.std(axis=0), spread, rtol=0.08)
    # The check has teeth: the deterministic sampler's spread is not the ancestral one.
    assert np.abs(deterministic.std(axis=0) / spread - 1).max() > 0.08


def test_clipped_x0_predictions_stay_in_range_and_imply_a_consistent_eps():
    """clip_denoised: x0_hat is clipped to the value range, the eps returned satisfies
    x_t = sqrt(abar) x0_hat + sqrt(1 - abar) eps, and unclipped entries keep their eps."""
    model = _random_network_model(timesteps=20)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 4, 4, 1)).astype("float32"))
    eps = tf.constant(rng.normal(size=(2, 4, 4, 1)).astype("float32"))
    abar = tf.constant(0.3)
    raw = to_np((x - tf.sqrt(1.0 - abar) * eps) / tf.sqrt(abar))
    x0, implied = (to_np(v) for v in model._denoised(x, eps, abar))
    assert x0.min() >= -1.0 and x0.max() <= 1.0 and np.any(np.abs(raw) > 1.0)
    np.testing.assert_allclose(np.sqrt(0.3) * x0 + np.sqrt(0.7) * implied, to_np(x), atol=1e-5)
    inside = np.abs(raw) <= 1.0
    np.testing.assert_allclose(implied[inside], to_np(eps)[inside], atol=1e-5)
    unclipped = DDPM(image_shape=(4, 4, 1), ema_decay=None, clip_denoised=False, **TINY)
    np.testing.assert_allclose(to_np(unclipped._denoised(x, eps, abar)[0]), raw, rtol=1e-6)


def test_steps_outside_one_to_t_are_refused():
    model = DDPM(timesteps=20, **TINY)
    for steps in (0, 21):
        with pytest.raises(ValueError, match=r"steps must be in \[1, T=20\]"):
            model.generate(2, steps=steps)
    with pytest.raises(ValueError, match="beta_schedule"):
        DDPM(beta_schedule="quadratic", **TINY)
    with pytest.raises(ValueError, match="divisible by 4"):
        diffusion_unet((30, 30, 1), channel_multipliers=(1, 2, 2))


def test_loss_falls_on_fashion_mnist_and_samples_vary(fashion_mnist_subset):
    keras.utils.set_random_seed(0)
    images = fashion_mnist_subset[0][:1024]
    model = DDPM(ema_decay=0.99, sampling_steps=10, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(images, batch_size=64, epochs=3, shuffle=False, verbose=0).history["loss"]
    assert history[-1] < history[0] and history[-1] < 0.5, history  # eps_theta = 0 scores 1.0
    samples = to_np(model.generate(8, seed=0))
    assert samples.std(axis=0).mean() > 0.05


def test_ema_network_averages_with_warm_up_and_drives_sampling(small_images):
    model = DDPM(timesteps=20, sampling_steps=2, **TINY)  # the paper's 0.9999
    model.compile()
    before = [w.numpy().copy() for w in model.ema_network.weights]
    model.fit(small_images[:16], batch_size=16, epochs=1, verbose=0)  # one update: d = min(0.9999, 2 / 11)
    for ema, old, new in zip(model.ema_network.weights, before, model.network.weights):
        np.testing.assert_allclose(ema.numpy(), 2 / 11 * old + 9 / 11 * new.numpy(), rtol=1e-5, atol=1e-6)
    assert model.sampling_network is model.ema_network and not model.ema_network.trainable_weights


def test_the_saved_model_reproduces_a_sample_exactly(tmp_path, small_images):
    model = DDPM(timesteps=20, sampling_steps=4, **TINY)
    model.compile()
    model.fit(small_images, batch_size=32, epochs=1, verbose=0)
    path = kerasgen.export.save_for_serving(model, tmp_path / "ddpm")
    loaded = tf.saved_model.load(path)
    noise = model.sample_noise(3, seed=7)
    expected = to_np(model.generate(3, seed=7))
    np.testing.assert_allclose(loaded.signatures["serving_default"](noise=noise)["images"].numpy(), expected, atol=1e-5)
    chosen = loaded.signatures["sample"](noise=noise, steps=tf.constant(4))["images"].numpy()
    np.testing.assert_allclose(chosen, expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"steps must be an int32 scalar in \[1, 20\]; got\] \[21\]"):
        loaded.signatures["sample"](noise=noise, steps=tf.constant(21))
    with pytest.raises(tf.errors.InvalidArgumentError, match="steps must be an int32 scalar; got shape"):
        loaded.signatures["sample"](noise=noise, steps=tf.constant([4, 4]))
