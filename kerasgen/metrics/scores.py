"""Sample-quality scores for generative models, in NumPy/SciPy float64.

Every function here takes features or class probabilities that you computed
yourself (with an Inception network or any other feature extractor) as NumPy
arrays (or anything `np.asarray` accepts), and works in float64:

- `frechet_distance` / `fid_from_features`: Frechet Inception Distance
  (Heusel et al., 2017).
- `kernel_inception_distance`: KID, the unbiased squared MMD with a cubic
  polynomial kernel (Binkowski et al., 2018).
- `inception_score` / `inception_score_from_logits`: IS (Salimans et al., 2016).
- `precision_recall`: improved precision and recall via k-NN manifolds
  (Kynkaanniemi et al., 2019).

Scores are only comparable with published numbers when computed with the same
feature extractor, preprocessing and sample counts as the paper in question.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special

from kerasgen.metrics.statistics import FeatureMoments

# An imaginary part of sqrtm(S1 S2)'s diagonal larger than this fraction of its
# real part is not rounding noise: the product has eigenvalues far off the
# positive real axis, so the covariances are not valid (PSD) covariances.
_IMAG_RTOL = 1e-3


def _as_2d_features(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got shape {x.shape}.")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite values (nan or inf).")
    return x


# ---------------------------------------------------------------------------
# Frechet distance
# ---------------------------------------------------------------------------


def _sqrtm_product(sigma1, sigma2):
    """sqrtm(sigma1 @ sigma2) and whether it is usable (finite, imag negligible)."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        return covmean, False
    if np.iscomplexobj(covmean):
        diag = np.diagonal(covmean)
        scale = max(float(np.max(np.abs(diag.real), initial=0.0)), np.finfo(np.float64).tiny)
        if float(np.max(np.abs(diag.imag), initial=0.0)) > _IMAG_RTOL * scale:
            return covmean, False
    return covmean, True


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    Heusel et al., 2017, "GANs Trained by a Two Time-Scale Update Rule
    Converge to a Local Nash Equilibrium" (the FID, with Inception pool3
    statistics of real and generated images):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

    the squared 2-Wasserstein distance between the two Gaussians. The matrix
    square root is `scipy.linalg.sqrtm`. As in the reference TTUR code, if it
    is not finite (e.g. a singular product when there are fewer samples than
    feature dimensions) it is recomputed with `eps * I` added to both
    covariances; here the retry also happens when its diagonal has a large
    imaginary part. A remaining imaginary part of at most 1e-3 times the
    largest real diagonal entry is rounding noise and is discarded; a larger
    one raises `ValueError` (the inputs are then not valid covariances).

    Args:
        mu1, mu2: means, shape `(d,)`.
        sigma1, sigma2: covariances, shape `(d, d)` (symmetric PSD).
        eps: diagonal offset for the retry.

    Returns:
        The squared distance as a Python float (FID is conventionally
        reported as this squared quantity). It is not clipped: rounding can
        make it a tiny negative number (~1e-12 relative) for identical inputs.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means must be vectors of the same length, got shapes {mu1.shape} and {mu2.shape}.")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"covariances must have shape ({d}, {d}) to match the means, "
            f"got {sigma1.shape} and {sigma2.shape}."
        )
    for name, value in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} contains non-finite values (nan or inf).")

    diff = mu1 - mu2
    covmean, ok = _sqrtm_product(sigma1, sigma2)
    if not ok:
        offset = np.eye(d) * eps
        covmean, ok = _sqrtm_product(sigma1 + offset, sigma2 + offset)
        if not np.all(np.isfinite(covmean)):
            raise ValueError(
                f"sqrtm(sigma1 @ sigma2) is not finite even after adding {eps} * I to both covariances; "
                "check the inputs (are they covariance matrices?) or increase eps."
            )
        if not ok:
            imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
            raise ValueError(
                f"sqrtm(sigma1 @ sigma2) has a significant imaginary component (max |imag| on the "
                f"diagonal = {imag:.3g}, more than {_IMAG_RTOL:g} of its real part) even after adding "
                f"{eps} * I; the covariances are probably not symmetric positive semi-definite."
            )
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    trace_covmean = float(np.trace(covmean))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def fid_from_features(features_a, features_b, batch_size: int = 10000, eps: float = 1e-6) -> float:
    """FID between two sets of features, shape `(n_a, d)` and `(n_b, d)`.

    Fits a Gaussian to each set with `FeatureMoments` (sample mean and
    unbiased n-1 covariance, fed `batch_size` rows at a time) and returns
    `frechet_distance` of the two (Heusel et al., 2017). For features that
    do not fit in memory, feed your own `FeatureMoments` and call
    `frechet_distance(m_a.mean, m_a.covariance, m_b.mean, m_b.covariance)`.
    """
    moments = []
    for name, features in (("features_a", features_a), ("features_b", features_b)):
        x = np.asarray(features)
        if x.ndim != 2:
            raise ValueError(f"{name} must have shape (n, d), got shape {x.shape}.")
        m = FeatureMoments()
        for start in range(0, x.shape[0], batch_size):
            m.update(x[start:start + batch_size])
        moments.append(m)
    a, b = moments
    if a.dim != b.dim:
        raise ValueError(f"feature dimensions differ: {a.dim} vs {b.dim}.")
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance, eps=eps)


# ---------------------------------------------------------------------------
# Kernel Inception Distance
# ---------------------------------------------------------------------------


def _polynomial_kernel(x, y, degree, gamma, coef0):
    return (gamma * (x @ y.T) + coef0) ** degree


def _unbiased_mmd2(x, y, degree, gamma, coef0):
    """Unbiased MMD^2 of two equal-size samples (Gretton et al., 2012, eq. 3)."""
    m = x.shape[0]
    k_xx = _polynomial_kernel(x, x, degree, gamma, coef0)
    k_yy = _polynomial_kernel(y, y, degree, gamma, coef0)
    k_xy = _polynomial_kernel(x, y, degree, gamma, coef0)
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return (sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m)


def kernel_inception_distance(
    features_a,
    features_b,
    num_subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int | None = 0,
):
    """Kernel Inception Distance: unbiased MMD^2 averaged over random subsets.

    Binkowski, Sutherland, Arbel & Gretton, 2018, "Demystifying MMD GANs".
    With the polynomial kernel k(x, y) = (gamma x.y + coef0)^degree, by
    default (x.y / d + 1)^3, and m = subset size, each subset gives the
    unbiased estimator

        MMD^2_u = sum_{i != j} k(a_i, a_j) / (m (m - 1))
                + sum_{i != j} k(b_i, b_j) / (m (m - 1))
                - 2 sum_{i, j} k(a_i, b_j) / m^2

    Subsets are drawn as in the paper's code: for each of `num_subsets`
    repetitions, m = min(subset_size, n_a, n_b) rows of `features_a` and,
    independently, m rows of `features_b`, each without replacement, from
    `np.random.default_rng(seed)`.

    Returns:
        `(mean, std_error)`: the mean of the per-subset MMD^2_u values, and
        their sample standard deviation (ddof=1) divided by sqrt(num_subsets)
        (nan when num_subsets == 1). Subsets overlap, so `std_error` measures
        the spread due to subset sampling, not the full sampling error of the
        dataset; it is the number to quote as "KID +- std_error" only in that
        sense. The estimator is unbiased per subset, so it can be slightly
        negative when the distributions match. Note that passing the *same*
        array twice is not an unbiased test of "same distribution": the two
        independently drawn subsets then share rows, and a shared row puts a
        k(x, x) term into the cross sum, biasing the mean downwards.
    """
    a = _as_2d_features(features_a, "features_a")
    b = _as_2d_features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}.")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}.")
    m = min(int(subset_size), a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 samples, got subset size {m}.")
    d = a.shape[1]
    gamma = 1.0 / d if gamma is None else float(gamma)
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        sub_a = a[rng.choice(a.shape[0], m, replace=False)]
        sub_b = b[rng.choice(b.shape[0], m, replace=False)]
        values[i] = _unbiased_mmd2(sub_a, sub_b, degree, gamma, coef0)
    mean = float(values.mean())
    std_error = float(values.std(ddof=1) / np.sqrt(num_subsets)) if num_subsets > 1 else float("nan")
    return mean, std_error


# ---------------------------------------------------------------------------
# Inception Score
# ---------------------------------------------------------------------------


def _inception_score_splits(probs, log_probs, num_splits):
    n = probs.shape[0]
    if not 1 <= num_splits <= n:
        raise ValueError(f"num_splits must be between 1 and the number of samples ({n}), got {num_splits}.")
    scores = []
    for p, log_p in zip(np.array_split(probs, num_splits), np.array_split(log_probs, num_splits)):
        p_y = p.mean(axis=0)
        with np.errstate(divide="ignore"):
            log_p_y = np.log(p_y)
        # KL(p(y|x) || p(y)) with 0 log 0 = 0; where p(y) = 0, p(y|x) = 0 too. The
        # masked log-ratio keeps -inf - (-inf) from ever being evaluated.
        log_ratio = np.where(p > 0, log_p - np.where(np.isfinite(log_p_y), log_p_y, 0.0), 0.0)
        terms = p * log_ratio
        scores.append(np.exp(terms.sum(axis=1).mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())


def inception_score(probabilities, num_splits: int = 10):
    """Inception Score of class probabilities p(y|x), shape `(n, classes)`.

    Salimans et al., 2016, "Improved Techniques for Training GANs":

        IS = exp( E_x KL(p(y|x) || p(y)) ),   p(y) = E_x p(y|x)

    computed separately on `num_splits` contiguous splits of the samples
    (`np.array_split`, so all samples are used; split sizes differ by at most
    one when n is not divisible, where the reference code drops the
    remainder), with p(y) the split's marginal. It lies in [1, classes]:
    classes for confident predictions with uniform class usage, 1 when every
    sample gets the same distribution.

    Returns:
        `(mean, std)` over splits (std with ddof=0, as in the reference code).

    Rows must be probabilities (non-negative, summing to 1 within 1e-3);
    pass logits to `inception_score_from_logits` instead.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probabilities must have shape (n, classes) with n > 0, got {p.shape}.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative; for logits use inception_score_from_logits.")
    row_sums = p.sum(axis=1)
    if np.max(np.abs(row_sums - 1.0)) > 1e-3:
        raise ValueError(
            "probability rows must sum to 1 (max deviation "
            f"{np.max(np.abs(row_sums - 1.0)):.3g}); for logits use inception_score_from_logits."
        )
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    return _inception_score_splits(p, log_p, num_splits)


def inception_score_from_logits(logits, num_splits: int = 10):
    """`inception_score` of softmax(logits), computed stably in float64.

    Takes logits of shape `(n, classes)`; uses `scipy.special.log_softmax`,
    so very confident predictions do not lose precision.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"logits must have shape (n, classes) with n > 0, got {z.shape}.")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain non-finite values (nan or inf).")
    log_p = scipy.special.log_softmax(z, axis=1)
    return _inception_score_splits(np.exp(log_p), log_p, num_splits)


# ---------------------------------------------------------------------------
# Precision and recall
# ---------------------------------------------------------------------------


def _squared_distances(x, y, x_sq, y_sq):
    d2 = x_sq[:, None] + y_sq[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d2, 0.0)


def _knn_squared_radii(x, k, batch_size):
    """Squared distance from each row of x to its k-th nearest other row.

    Works on `batch_size x batch_size` blocks, keeping a running set of the k
    smallest distances per row, so memory is O(batch_size^2 + n k).
    """
    n = x.shape[0]
    x_sq = np.einsum("ij,ij->i", x, x)
    radii = np.empty(n, dtype=np.float64)
    for r0 in range(0, n, batch_size):
        r1 = min(r0 + batch_size, n)
        best = np.full((r1 - r0, k), np.inf)
        for c0 in range(0, n, batch_size):
            c1 = min(c0 + batch_size, n)
            block = _squared_distances(x[r0:r1], x[c0:c1], x_sq[r0:r1], x_sq[c0:c1])
            # Exclude each row's distance to itself.
            lo, hi = max(r0, c0), min(r1, c1)
            if lo < hi:
                idx = np.arange(lo, hi)
                block[idx - r0, idx - c0] = np.inf
            merged = np.concatenate([best, block], axis=1)
            best = np.partition(merged, k - 1, axis=1)[:, :k]
        radii[r0:r1] = best.max(axis=1)
    return radii


def _fraction_inside(queries, support, support_sq_radii, batch_size):
    """Fraction of query rows within the k-NN ball of at least one support row."""
    q_sq = np.einsum("ij,ij->i", queries, queries)
    s_sq = np.einsum("ij,ij->i", support, support)
    inside = np.zeros(queries.shape[0], dtype=bool)
    for r0 in range(0, queries.shape[0], batch_size):
        r1 = min(r0 + batch_size, queries.shape[0])
        hit = np.zeros(r1 - r0, dtype=bool)
        for c0 in range(0, support.shape[0], batch_size):
            c1 = min(c0 + batch_size, support.shape[0])
            todo = ~hit
            if not todo.any():
                break
            block = _squared_distances(queries[r0:r1][todo], support[c0:c1], q_sq[r0:r1][todo], s_sq[c0:c1])
            hit[todo] = np.any(block <= support_sq_radii[None, c0:c1], axis=1)
        inside[r0:r1] = hit
    return float(inside.mean())


def precision_recall(real_features, fake_features, k: int = 3, batch_size: int = 1000):
    """Improved precision and recall (Kynkaanniemi et al., 2019).

    "Improved Precision and Recall Metric for Assessing Generative Models".
    Each set's manifold is approximated by the union of balls around its
    samples, each ball's radius being the distance to the sample's k-th
    nearest neighbour in the same set (excluding itself). Then

        precision = fraction of fake samples inside the real manifold
        recall    = fraction of real samples inside the fake manifold

    where "inside" means ||x - c|| <= radius(c) for some centre c. Euclidean
    distances are computed in float64 on blocks of `batch_size x batch_size`
    pairs, so memory stays O(batch_size^2) whatever the set sizes.

    Args:
        real_features: `(n_real, d)`, n_real > k.
        fake_features: `(n_fake, d)`, n_fake > k.
        k: neighbourhood size (the paper uses 3).
        batch_size: block size for the pairwise distances.

    Returns:
        `(precision, recall)` as floats in [0, 1].
    """
    real = _as_2d_features(real_features, "real_features")
    fake = _as_2d_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}.")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    if real.shape[0] <= k or fake.shape[0] <= k:
        raise ValueError(
            f"precision_recall needs more than k={k} samples in each set, "
            f"got {real.shape[0]} real and {fake.shape[0]} fake."
        )
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    real_radii = _knn_squared_radii(real, k, batch_size)
    fake_radii = _knn_squared_radii(fake, k, batch_size)
    precision = _fraction_inside(fake, real, real_radii, batch_size)
    recall = _fraction_inside(real, fake, fake_radii, batch_size)
    return precision, recall
