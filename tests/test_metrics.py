"""Tests for kerasgen.metrics: streaming moments, FID, KID, IS, precision/recall.

Every reference value is computed independently here (closed forms, NumPy
eigendecompositions, brute-force distance matrices), not with the code under test.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.spatial.distance  # noqa: E402
import scipy.special  # noqa: E402

from kerasgen.metrics import (  # noqa: E402
    FeatureMoments,
    fid_from_features,
    frechet_distance,
    inception_score,
    inception_score_from_logits,
    kernel_inception_distance,
    precision_recall,
)


def _uneven_batches(x, sizes):
    start = 0
    for size in sizes:
        yield x[start:start + size]
        start += size
    assert start == len(x)


def _reference_fid(mu1, s1, mu2, s2):
    """Independent FID: Tr sqrtm(S1 S2) = sum sqrt(eig(S1^1/2 S2 S1^1/2)) (a symmetric PSD matrix)."""
    w, v = np.linalg.eigh(s1)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = sqrt_s1 @ s2 @ sqrt_s1
    eig = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    tr_covmean = np.sum(np.sqrt(np.clip(eig, 0, None)))
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ---------------------------------------------------------------------------
# FeatureMoments
# ---------------------------------------------------------------------------


def test_feature_moments_matches_numpy_on_uneven_batches():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 12)) * rng.uniform(0.1, 5, size=12) + rng.normal(size=12)
    moments = FeatureMoments()
    for batch in _uneven_batches(x, [1, 2, 0, 317, 5, 64, 611]):
        moments.update(batch)
    assert moments.count == 1000 and moments.dim == 12
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(moments.covariance, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)


def test_feature_moments_stable_with_large_offset_and_merge():
    # Mean 1e6 with unit spread: a raw sum of outer products would lose ~12 digits.
    rng = np.random.default_rng(2)
    x = 1e6 + rng.normal(size=(900, 5))
    a, b = FeatureMoments(), FeatureMoments()
    for batch in _uneven_batches(x[:400], [7, 393]):
        a.update(batch.astype(np.float64))
    for batch in _uneven_batches(x[400:], [250, 1, 249]):
        b.update(batch)
    a.merge(b)
    np.testing.assert_allclose(a.mean, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(a.covariance, np.cov(x, rowvar=False), rtol=1e-8, atol=1e-9)


def test_feature_moments_accepts_tensors_and_validates():
    import tensorflow as tf

    x = np.random.default_rng(3).normal(size=(50, 3)).astype(np.float32)
    moments = FeatureMoments().update(tf.constant(x[:20])).update(x[20:])
    np.testing.assert_allclose(moments.covariance, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10)
    with pytest.raises(ValueError, match="does not match"):
        moments.update(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(batch, d\)"):
        moments.update(np.zeros((4, 5, 1)))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureMoments().update(np.zeros((1, 3))).covariance


# ---------------------------------------------------------------------------
# FID
# ---------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(4).normal(size=(2000, 16))
    assert abs(fid_from_features(x, x)) < 1e-6


def test_fid_matches_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(5)
    d = 8
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3, size=d), rng.uniform(0.1, 3, size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_fid_between_gaussian_samples_is_close_to_closed_form():
    rng = np.random.default_rng(6)
    n = 20000
    s1, s2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([2.0, 1.0, 1.0, 0.25])
    mu2 = np.array([1.0, 0.5, -0.5, 0.0])
    expected = mu2 @ mu2 + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))  # 2.179
    a = rng.normal(size=(n, 4)) * np.sqrt(s1)
    b = mu2 + rng.normal(size=(n, 4)) * np.sqrt(s2)
    # Tolerance: the leading sampling error is 2 dmu.(mean error), with std
    # sqrt(4 dmu^T (S1 + S2) dmu / n) = sqrt(16.5 / 20000) = 0.029; the covariance
    # term adds a little (over 20 seeds the error had std 0.025, |max| 0.062 and a
    # +0.012 bias of order d/n). 0.1 is about 4 standard deviations.
    assert abs(fid_from_features(a, b) - expected) < 0.1


def test_fid_matches_independent_eigendecomposition_implementation():
    rng = np.random.default_rng(7)
    d = 16
    for _ in range(3):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
        np.testing.assert_allclose(frechet_distance(mu1, s1, mu2, s2), _reference_fid(mu1, s1, mu2, s2), rtol=1e-4)
    a = rng.normal(size=(500, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(700, d)) + 0.3
    expected = _reference_fid(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    np.testing.assert_allclose(fid_from_features(a, b, batch_size=128), expected, rtol=1e-4)


def test_fid_with_singular_covariances_and_errors():
    rng = np.random.default_rng(8)
    # Fewer samples than dimensions: rank-deficient covariances.
    fid = fid_from_features(rng.normal(size=(10, 32)), rng.normal(size=(10, 32)) + 1)
    assert np.isfinite(fid) and fid > 0
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance(np.zeros(3), -np.eye(3), np.zeros(3), np.eye(3))


def test_fid_retries_with_eps_offset_when_sqrtm_fails(monkeypatch):
    import scipy.linalg

    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def flaky_sqrtm(a):
        calls.append(a.copy())
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(scipy.linalg, "sqrtm", flaky_sqrtm)
    s1, s2 = np.diag([1.0, 2.0]), np.diag([3.0, 0.5])
    got = frechet_distance(np.zeros(2), s1, np.ones(2), s2, eps=1e-3)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (s1 + 1e-3 * np.eye(2)) @ (s2 + 1e-3 * np.eye(2)))
    expected = 2 + np.sum(np.diag(s1) + np.diag(s2) - 2 * np.sqrt((np.diag(s1) + 1e-3) * (np.diag(s2) + 1e-3)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# ---------------------------------------------------------------------------
# KID
# ---------------------------------------------------------------------------


def _reference_mmd2(x, y):
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, written out with explicit masks."""
    d = x.shape[1]
    m = len(x)
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    off = ~np.eye(m, dtype=bool)
    return kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean()


def test_kid_matches_independent_mmd_on_one_subset():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(300, 10)), rng.normal(size=(300, 10)) * 1.2 + 0.1
    # subset_size >= n: the single subset is a permutation of each set, and MMD^2_u is permutation invariant.
    mean, std_error = kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    np.testing.assert_allclose(mean, _reference_mmd2(x, y), rtol=1e-4)
    assert np.isnan(std_error)


def test_kid_same_distribution_is_near_zero_and_shift_is_positive():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(20000, 16))
    # A set with itself: subsets of 100 out of 20000 rarely share rows (see the
    # docstring on the small downward bias from shared rows), so the mean is
    # within a few standard errors of 0.
    mean_self, se_self = kernel_inception_distance(x, x, num_subsets=50, subset_size=100, seed=0)
    assert se_self > 0 and abs(mean_self) < 3 * se_self
    # Two independent samples of one distribution, and a shifted one.
    y = rng.normal(size=(2000, 16))
    mean_same, se_same = kernel_inception_distance(x[:2000], y, num_subsets=20, subset_size=500)
    mean_shift, se_shift = kernel_inception_distance(x[:2000], y + 0.5, num_subsets=20, subset_size=500)
    assert mean_shift > 0 and mean_shift > 20 * se_shift
    assert abs(mean_same) < 0.05 * mean_shift
    mean_far, _ = kernel_inception_distance(x[:2000], y + 1.0, num_subsets=20, subset_size=500)
    assert mean_far > mean_shift


def test_kid_is_reproducible_and_validates():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(150, 4))
    assert kernel_inception_distance(x, y, 5, 100, seed=3) == kernel_inception_distance(x, y, 5, 100, seed=3)
    with pytest.raises(ValueError, match="dimensions"):
        kernel_inception_distance(x, y[:, :3])


# ---------------------------------------------------------------------------
# Inception Score
# ---------------------------------------------------------------------------


def test_inception_score_extremes():
    classes, n = 10, 1000
    # Confident and uniform over classes: every contiguous split of 100 holds 10 of each.
    one_hot = np.eye(classes)[np.tile(np.arange(classes), n // classes)]
    mean, std = inception_score(one_hot, num_splits=10)
    np.testing.assert_allclose(mean, classes, rtol=1e-12)
    assert std < 1e-12
    # Everything in one class: p(y|x) = p(y), KL = 0.
    mean, std = inception_score(np.eye(classes)[np.zeros(n, dtype=int)], num_splits=10)
    np.testing.assert_allclose(mean, 1.0, rtol=1e-12)
    # Uniform predictions also give 1.
    np.testing.assert_allclose(inception_score(np.full((n, classes), 1 / classes))[0], 1.0, rtol=1e-12)


def test_inception_score_from_logits_agrees_with_probabilities():
    rng = np.random.default_rng(12)
    logits = rng.normal(size=(503, 7)) * 3
    probs = scipy.special.softmax(logits, axis=1)
    np.testing.assert_allclose(inception_score_from_logits(logits, 5), inception_score(probs, 5), rtol=1e-10)
    # Independent single-split value.
    p_y = probs.mean(0)
    expected = np.exp(np.mean(np.sum(probs * (np.log(probs) - np.log(p_y)), axis=1)))
    np.testing.assert_allclose(inception_score(probs, 1)[0], expected, rtol=1e-10)
    # Huge logits stay exact (softmax underflows to exact zeros).
    labels = np.tile(np.arange(7), 20)
    np.testing.assert_allclose(inception_score_from_logits(1e4 * np.eye(7)[labels], 1)[0], 7.0, rtol=1e-10)
    with pytest.raises(ValueError, match="from_logits"):
        inception_score(logits)


# ---------------------------------------------------------------------------
# Precision and recall
# ---------------------------------------------------------------------------


def _reference_precision_recall(real, fake, k):
    def radii(x):
        d = scipy.spatial.distance.cdist(x, x)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    r_real, r_fake = radii(real), radii(fake)
    d = scipy.spatial.distance.cdist(fake, real)
    precision = np.mean(np.any(d <= r_real[None, :], axis=1))
    recall = np.mean(np.any(d.T <= r_fake[None, :], axis=1))
    return precision, recall


def test_precision_recall_matches_brute_force_with_any_block_size():
    rng = np.random.default_rng(13)
    real = rng.normal(size=(230, 6))
    fake = rng.normal(size=(170, 6)) * 1.3 + 0.4
    expected = _reference_precision_recall(real, fake, k=3)
    assert 0.1 < expected[0] < 0.95 and 0.1 < expected[1] < 0.95  # a non-trivial case
    for batch_size in (1000, 64, 7):
        np.testing.assert_allclose(precision_recall(real, fake, k=3, batch_size=batch_size), expected, rtol=1e-12)
    np.testing.assert_allclose(
        precision_recall(real, fake, k=5, batch_size=50), _reference_precision_recall(real, fake, k=5), rtol=1e-12
    )


def test_precision_recall_identical_and_disjoint_sets():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(500, 8))
    assert precision_recall(x, x.copy(), batch_size=128) == (1.0, 1.0)
    assert precision_recall(x, rng.normal(size=(400, 8)) + 100.0) == (0.0, 0.0)
    with pytest.raises(ValueError, match="more than k"):
        precision_recall(x, x[:3], k=3)


def test_precision_recall_with_half_the_modes():
    rng = np.random.default_rng(15)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])
    real = np.concatenate([c + rng.normal(size=(500, 2)) for c in centres])
    # Exactly the real samples of two modes: every fake is a real point, and
    # every real point in a covered mode is itself a fake centre.
    assert precision_recall(real, real[:1000]) == (1.0, 0.5)
    # Fresh samples of two modes: k-NN balls do not cover the tails perfectly
    # (seeds 0-4 gave precision 0.978-0.984, recall 0.4875-0.49).
    fake = np.concatenate([c + rng.normal(size=(500, 2)) for c in centres[:2]])
    precision, recall = precision_recall(real, fake)
    assert precision > 0.95
    assert 0.46 < recall <= 0.5
