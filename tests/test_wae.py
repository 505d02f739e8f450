"""WAE-MMD: the unbiased MMD estimator and the model's training step."""

import keras
import numpy as np
import pytest

import kerasgen
from kerasgen import losses


def numpy_mmd(x, y, scales=losses.WAE_KERNEL_SCALES, prior_variance=1.0):
    """Tolstikhin et al. (2018), Algorithm 2, written out with explicit loops over pairs."""
    n, d = x.shape
    total = 0.0
    for s in scales:
        c = s * 2.0 * d * prior_variance

        def k(a, b):
            return c / (c + np.sum((a - b) ** 2))

        within_x = sum(k(x[l], x[j]) for l in range(n) for j in range(n) if l != j)
        within_y = sum(k(y[l], y[j]) for l in range(n) for j in range(n) if l != j)
        across = sum(k(x[l], y[j]) for l in range(n) for j in range(n))
        total += (within_x + within_y) / (n * (n - 1)) - 2.0 * across / n**2
    return total


def test_imq_kernel_matches_hand_values():
    a = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    b = np.array([[0.0, 0.0], [3.0, 4.0]], np.float32)
    gram = keras.ops.convert_to_numpy(losses.inverse_multiquadratic_kernel(a, b, 2.0))
    # ||a_i - b_j||^2 = [[0, 25], [2, 13]]; k = 2 / (2 + d2).
    np.testing.assert_allclose(gram, [[1.0, 2 / 27], [0.5, 2 / 15]], rtol=1e-6)


@pytest.mark.parametrize("n, d, shift", [(6, 2, 0.0), (16, 8, 1.5), (5, 3, -0.7)])
def test_mmd_matches_numpy_reference(n, d, shift):
    rng = np.random.default_rng(n)
    codes = rng.normal(shift, 1.0, size=(n, d)).astype(np.float32)
    prior = rng.normal(size=(n, d)).astype(np.float32)
    got = float(losses.mmd_penalty(codes, prior))
    np.testing.assert_allclose(got, numpy_mmd(prior.astype(np.float64), codes.astype(np.float64)), rtol=1e-4, atol=1e-6)


def test_mmd_is_unbiased_zero_for_identical_distributions_and_positive_otherwise():
    """Averaged over many batches, the estimate is ~0 when codes and prior samples come from the
    same distribution (the unbiased estimator, not the V-statistic, whose mean is positive)
    and clearly positive when they differ."""
    rng = np.random.default_rng(0)
    same, shifted = [], []
    for _ in range(200):
        prior = rng.normal(size=(16, 4)).astype(np.float32)
        same.append(float(losses.mmd_penalty(rng.normal(size=(16, 4)).astype(np.float32), prior)))
        shifted.append(float(losses.mmd_penalty(rng.normal(1.0, 1.0, size=(16, 4)).astype(np.float32), prior)))
    same, shifted = np.array(same), np.array(shifted)
    standard_error = same.std() / np.sqrt(len(same))
    assert abs(same.mean()) < 3 * standard_error
    assert (same < 0).any()  # unbiased: single estimates fall on both sides of zero
    assert shifted.mean() > 10 * same.std() / np.sqrt(len(same)) and shifted.mean() > 5 * abs(same.mean())


def test_mmd_of_a_sample_with_itself_is_negative_of_the_diagonal_correction():
    """Identical sets: both within terms are the off-diagonal Gram sum S, the cross term is
    S + n (k(z, z) = 1), so the estimate is 2 S / (n (n - 1)) - 2 (S + n) / n^2."""
    z = np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32)
    got = float(losses.mmd_penalty(z, z, scales=(1.0,)))
    gram = 6.0 / (6.0 + ((z[:, None] - z[None]) ** 2).sum(-1))
    off = gram.sum() - np.trace(gram)
    expected = 2 * off / (8 * 7) - 2 * gram.sum() / 64
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_wae_objective_is_cost_plus_lambda_mmd():
    keras.utils.set_random_seed(0)
    model = kerasgen.models.WAE(latent_dim=4, seed=3, regularization_weight=7.0)
    images = np.random.default_rng(0).uniform(-1, 1, size=(6, 28, 28, 1)).astype(np.float32)
    terms = {k: float(v) for k, v in model.compute_terms(images).items()}
    np.testing.assert_allclose(terms["loss"], terms["reconstruction_loss"] + 7.0 * terms["mmd"], rtol=1e-5)
    decoded = keras.ops.convert_to_numpy(model.decoder(model.encoder(images)))
    cost = (((images + 1) / 2 - (decoded + 1) / 2) ** 2).reshape(6, -1).sum(-1).mean()
    np.testing.assert_allclose(terms["reconstruction_loss"], cost, rtol=1e-5)


def test_wae_learns_fashion_mnist(fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    keras.utils.set_random_seed(0)
    model = kerasgen.models.WAE(latent_dim=8, seed=0)
    model.compile()
    history = model.fit(images[:1024], batch_size=64, epochs=3, shuffle=False, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]
    samples = keras.ops.convert_to_numpy(model.generate(16, seed=0))
    assert samples.shape == (16, 28, 28, 1) and samples.min() >= -1 and samples.max() <= 1
    assert samples.std(axis=0).mean() > 0.05  # different prior draws decode to different images
    codes = keras.ops.convert_to_numpy(model.encode(images[:512]))
    # The MMD term pulls the aggregate posterior towards N(0, I).
    assert np.all(np.abs(codes.mean(0)) < 0.6) and np.all((codes.std(0) > 0.3) & (codes.std(0) < 2.0))


def test_wae_rejects_bad_arguments():
    with pytest.raises(ValueError, match="regularization_weight"):
        kerasgen.models.WAE(regularization_weight=-1)
    with pytest.raises(ValueError, match="kernel_scales"):
        kerasgen.models.WAE(kernel_scales=(0.0,))
