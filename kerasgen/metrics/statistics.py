"""Streaming statistics over batches of feature vectors.

`FeatureMoments` accumulates the mean and covariance of features (for
example Inception pool3 activations) one batch at a time, so a Frechet
distance over 50,000 samples never needs all features in memory at once:
memory is O(d^2) whatever the number of samples.

The update is Chan, Golub & LeVeque's pairwise combination (1979, "Updating
formulae and a pairwise algorithm for computing sample variances"), the
parallel form of Welford's algorithm, applied to a mean vector and an M2
matrix (sum of outer products of deviations from the mean). For a running
state (n_a, mean_a, M2_a) and a batch with (n_b, mean_b, M2_b):

    n     = n_a + n_b
    delta = mean_b - mean_a
    mean  = mean_a + delta * n_b / n
    M2    = M2_a + M2_b + outer(delta, delta) * n_a * n_b / n

and the unbiased covariance is M2 / (n - 1). Unlike accumulating a raw sum of
outer products (sum x x^T - n mean mean^T), this never subtracts two large
nearly equal numbers, so it stays accurate when features have a large mean
relative to their spread. Everything is float64.
"""

from __future__ import annotations

import numpy as np


class FeatureMoments:
    """Streaming mean and unbiased covariance of feature vectors.

        moments = FeatureMoments()
        for batch in feature_batches:          # each (batch, d), any float dtype
            moments.update(batch)
        mu, sigma = moments.mean, moments.covariance

    `update` accepts anything `np.asarray` understands (NumPy arrays,
    eager TensorFlow tensors, Keras tensors on the TF backend). Batches may
    have different sizes (including 0 rows); all must share the feature
    dimension `d`, which is fixed by the first non-empty batch (or by `dim`).
    Two accumulators over disjoint data combine with `merge`.
    """

    def __init__(self, dim: int | None = None):
        self._dim = None if dim is None else int(dim)
        self.reset()

    def reset(self):
        """Forgets every sample seen so far (keeps `dim` if it was given)."""
        self._count = 0
        self._mean = None if self._dim is None else np.zeros(self._dim, np.float64)
        self._m2 = None if self._dim is None else np.zeros((self._dim, self._dim), np.float64)

    # -- accumulation -------------------------------------------------------

    def update(self, features) -> "FeatureMoments":
        """Adds a batch of features, shape `(batch, d)`. Returns `self`."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(
                f"FeatureMoments.update expects features of shape (batch, d), got shape {x.shape}; "
                "flatten or pool spatial feature maps first."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("FeatureMoments.update got non-finite features (nan or inf).")
        n_b = x.shape[0]
        if n_b == 0:
            if self._dim is not None and x.shape[1] != self._dim:
                raise ValueError(f"feature dimension {x.shape[1]} does not match earlier batches ({self._dim}).")
            return self
        mean_b = x.mean(axis=0)
        centered = x - mean_b
        m2_b = centered.T @ centered
        self._combine(n_b, mean_b, m2_b)
        return self

    def merge(self, other: "FeatureMoments") -> "FeatureMoments":
        """Adds the samples summarized by another accumulator. Returns `self`."""
        if not isinstance(other, FeatureMoments):
            raise TypeError(f"merge expects a FeatureMoments, got {type(other).__name__}.")
        if other._count > 0:
            self._combine(other._count, other._mean.copy(), other._m2.copy())
        return self

    def _combine(self, n_b, mean_b, m2_b):
        d = mean_b.shape[0]
        if self._dim is None:
            self._dim = d
        elif d != self._dim:
            raise ValueError(f"feature dimension {d} does not match earlier batches ({self._dim}).")
        n_a = self._count
        if n_a == 0:
            self._count = n_b
            self._mean = mean_b
            self._m2 = m2_b
            return
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
        self._count = n

    # -- results ------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of samples seen."""
        return self._count

    @property
    def dim(self) -> int | None:
        """Feature dimension `d` (None before the first batch unless given)."""
        return self._dim

    @property
    def mean(self) -> np.ndarray:
        """Sample mean, float64 array of shape `(d,)` (a copy)."""
        if self._count < 1:
            raise ValueError("FeatureMoments.mean needs at least 1 sample; call update() first.")
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased sample covariance M2 / (n - 1), float64 `(d, d)`, exactly symmetric."""
        if self._count < 2:
            raise ValueError(f"FeatureMoments.covariance needs at least 2 samples, got {self._count}.")
        cov = self._m2 / (self._count - 1)
        return 0.5 * (cov + cov.T)

    def __repr__(self):
        return f"FeatureMoments(count={self._count}, dim={self._dim})"
