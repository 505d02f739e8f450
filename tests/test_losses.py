"""kerasgen.losses against hand-computed values, NumPy/SciPy formulas and Monte Carlo."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402
from scipy import stats  # noqa: E402

from kerasgen import losses  # noqa: E402


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


# --------------------------------------------------------------------- KL divergence
@pytest.mark.parametrize(
    "mu, log_var, expected",
    [
        # mu = 0, sigma = 1: q == p.
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 0.0),
        # mu = 1, sigma = 1: 1/2 mu^2 = 0.5 per dimension.
        ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], 1.5),
        # mu = 0, sigma^2 = 4: -1/2 (1 + log 4 - 4) = (3 - log 4) / 2.
        ([0.0], [math.log(4.0)], (3.0 - math.log(4.0)) / 2.0),
        # mu = 2, sigma^2 = 1/4: -1/2 (1 + log(1/4) - 4 - 1/4) = (3.25 + log 4) / 2.
        ([2.0], [math.log(0.25)], (3.25 + math.log(4.0)) / 2.0),
        # Dimensions add up: the three cases above in one latent vector.
        ([1.0, 0.0, 2.0], [0.0, math.log(4.0), math.log(0.25)],
         0.5 + (3.0 - math.log(4.0)) / 2.0 + (3.25 + math.log(4.0)) / 2.0),
    ],
)
def test_kl_standard_normal_hand_computed(mu, log_var, expected):
    z_mean = np.array([mu], np.float32)
    z_log_var = np.array([log_var], np.float32)
    kl = to_np(losses.kl_divergence_standard_normal(z_mean, z_log_var))
    assert kl.shape == (1,)
    np.testing.assert_allclose(kl[0], expected, rtol=1e-6, atol=1e-6)


def test_kl_standard_normal_is_per_example_and_nonnegative():
    rng = np.random.default_rng(0)
    z_mean = rng.normal(size=(32, 5)).astype(np.float32)
    z_log_var = rng.normal(size=(32, 5)).astype(np.float32)
    kl = to_np(losses.kl_divergence_standard_normal(z_mean, z_log_var))
    assert kl.shape == (32,)
    assert np.all(kl >= 0.0)
    # Per-example values are independent of the rest of the batch.
    kl_first = to_np(losses.kl_divergence_standard_normal(z_mean[:1], z_log_var[:1]))
    np.testing.assert_allclose(kl_first[0], kl[0], rtol=1e-6)


def test_kl_standard_normal_matches_monte_carlo():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated with 200k draws from q."""
    mu = np.array([0.5, -1.0, 2.0, 0.0])
    log_var = np.array([math.log(4.0), 0.0, math.log(0.25), -1.0])
    sigma = np.exp(0.5 * log_var)
    rng = np.random.default_rng(12345)
    n = 200_000
    z = mu + sigma * rng.standard_normal((n, mu.size))
    log_q = stats.norm.logpdf(z, loc=mu, scale=sigma).sum(axis=1)
    log_p = stats.norm.logpdf(z).sum(axis=1)
    log_ratio = log_q - log_p
    estimate = log_ratio.mean()
    standard_error = log_ratio.std(ddof=1) / math.sqrt(n)
    # The estimate is precise enough to be a meaningful check ...
    assert standard_error < 0.01
    kl = to_np(
        losses.kl_divergence_standard_normal(
            mu[None].astype(np.float32), log_var[None].astype(np.float32)
        )
    )[0]
    # ... and the closed form lies within 4 standard errors of it (plus float32 slack).
    assert abs(estimate - kl) < 4.0 * standard_error + 1e-5, (estimate, kl, standard_error)


# --------------------------------------------------------------------- Bernoulli
def test_bernoulli_nll_matches_probability_formula():
    rng = np.random.default_rng(1)
    targets = rng.uniform(0.0, 1.0, size=(8, 6, 6, 1)).astype(np.float32)
    targets[0] = np.round(targets[0])  # some hard 0/1 targets too
    logits = rng.uniform(-6.0, 6.0, size=(8, 6, 6, 1)).astype(np.float32)
    p = np_sigmoid(logits)
    t = targets.astype(np.float64)
    expected = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)).reshape(8, -1).sum(axis=1)
    nll = to_np(losses.bernoulli_negative_log_likelihood(targets, logits))
    assert nll.shape == (8,)
    np.testing.assert_allclose(nll, expected, rtol=1e-5)


def test_bernoulli_nll_extreme_logits_are_finite_and_correct():
    # Columns: (target, logit) = (1, 50), (0, -50), (1, -50), (0, 50).
    targets = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32)
    logits = np.array([[50.0, -50.0, -50.0, 50.0]], np.float32)
    per_pixel = [
        to_np(losses.bernoulli_negative_log_likelihood(targets[:, i : i + 1], logits[:, i : i + 1]))[0]
        for i in range(4)
    ]
    assert np.all(np.isfinite(per_pixel))
    # Confident and right: -log sigmoid(50) = log1p(exp(-50)) ~ 2e-22.
    np.testing.assert_allclose(per_pixel[:2], 0.0, atol=1e-6)
    # Confident and wrong: -log sigmoid(-50) = 50 + log1p(exp(-50)) ~ 50.
    np.testing.assert_allclose(per_pixel[2:], 50.0, rtol=1e-6)
    total = to_np(losses.bernoulli_negative_log_likelihood(targets, logits))
    np.testing.assert_allclose(total, [100.0], rtol=1e-6)


# --------------------------------------------------------------------- Gaussian
@pytest.mark.parametrize("std", [0.1, 1.0, 2.5])
def test_gaussian_nll_matches_scipy(std):
    rng = np.random.default_rng(2)
    targets = rng.uniform(-1.0, 1.0, size=(5, 4, 4, 3)).astype(np.float32)
    mean = rng.uniform(-1.0, 1.0, size=(5, 4, 4, 3)).astype(np.float32)
    expected = -stats.norm.logpdf(targets, loc=mean, scale=std).reshape(5, -1).sum(axis=1)
    nll = to_np(losses.gaussian_negative_log_likelihood(targets, mean, std))
    assert nll.shape == (5,)
    np.testing.assert_allclose(nll, expected, rtol=1e-5, atol=1e-4)


def test_gaussian_nll_accepts_tensor_std():
    targets = np.zeros((2, 3), np.float32)
    mean = np.ones((2, 3), np.float32)
    nll = to_np(losses.gaussian_negative_log_likelihood(targets, ops.convert_to_tensor(mean), ops.convert_to_tensor(0.5)))
    expected = -stats.norm.logpdf(0.0, loc=1.0, scale=0.5) * 3
    np.testing.assert_allclose(nll, [expected, expected], rtol=1e-6)


# --------------------------------------------------------------------- MSE and BCE
def test_mean_squared_error_matches_numpy():
    rng = np.random.default_rng(3)
    targets = rng.uniform(-1.0, 1.0, size=(7, 5, 5, 2)).astype(np.float32)
    predictions = rng.normal(size=(7, 5, 5, 2)).astype(np.float32)
    expected = ((targets.astype(np.float64) - predictions) ** 2).reshape(7, -1).mean(axis=1)
    mse = to_np(losses.mean_squared_error(targets, predictions))
    assert mse.shape == (7,)
    np.testing.assert_allclose(mse, expected, rtol=1e-6)
    np.testing.assert_allclose(to_np(losses.mean_squared_error(targets, targets)), 0.0, atol=0)


def test_binary_cross_entropy_matches_numpy():
    rng = np.random.default_rng(4)
    targets = rng.uniform(0.0, 1.0, size=(6, 4, 4, 1)).astype(np.float32)
    logits = rng.uniform(-5.0, 5.0, size=(6, 4, 4, 1)).astype(np.float32)
    p = np_sigmoid(logits)
    t = targets.astype(np.float64)
    expected = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)).reshape(6, -1).mean(axis=1)
    bce = to_np(losses.binary_cross_entropy(targets, logits))
    assert bce.shape == (6,)
    np.testing.assert_allclose(bce, expected, rtol=1e-5)
    # It is the Bernoulli NLL divided by the number of pixels.
    nll = to_np(losses.bernoulli_negative_log_likelihood(targets, logits))
    np.testing.assert_allclose(bce, nll / 16.0, rtol=1e-6)


def test_binary_cross_entropy_minimum_is_target_entropy():
    """For soft targets t, BCE is minimised at logit(t) with value H(t), not 0."""
    t = np.array([[0.2, 0.5, 0.9]], np.float32)
    at_optimum = to_np(losses.binary_cross_entropy(t, np.log(t / (1.0 - t))))[0]
    entropy = -(t * np.log(t) + (1 - t) * np.log(1 - t)).mean()
    np.testing.assert_allclose(at_optimum, entropy, rtol=1e-5)
    nearby = to_np(losses.binary_cross_entropy(t, np.log(t / (1.0 - t)) + 0.3))[0]
    assert nearby > at_optimum
