"""Score generated images against real ones in a named feature space.

    extractor = features.get_extractor("fashion_mnist_classifier")
    result = evaluation.evaluate_generator(generate, real_images, extractor, num_samples=10000)
    # {"feature_space": "fashion_mnist_classifier", "fid": ..., "kid": ..., "precision": ..., ...}

Images are passed through the extractor in batches; only the (n, dim) feature arrays are
kept in memory. Scores from different feature spaces are not comparable: always report
``feature_space`` with them.
"""
from __future__ import annotations

import numpy as np

from kerasgen.metrics.scores import (
    fid_from_features,
    inception_score_from_logits,
    kernel_inception_distance,
    precision_recall,
)


def _features_and_logits(extractor, images, batch_size):
    both = getattr(extractor, "features_and_logits", None)
    if both is not None:
        return both(images, batch_size=batch_size)
    return extractor(images, batch_size=batch_size), extractor.logits(images, batch_size=batch_size)


def scores_from_features(real_features, fake_features, feature_space, fake_logits=None,
                         kid_subsets=100, kid_subset_size=1000, k=3, seed=0) -> dict:
    """The result dict of :func:`evaluate_samples` from precomputed features (and fake logits)."""
    real = np.asarray(real_features, dtype=np.float64)
    fake = np.asarray(fake_features, dtype=np.float64)
    kid, kid_se = kernel_inception_distance(real, fake, num_subsets=kid_subsets,
                                            subset_size=kid_subset_size, seed=seed)
    precision, recall = precision_recall(real, fake, k=k)
    result = {
        "feature_space": feature_space,
        "num_real": int(real.shape[0]),
        "num_fake": int(fake.shape[0]),
        "fid": float(fid_from_features(real, fake)),
        "kid": kid,
        "kid_std_error": kid_se,
        "precision": precision,
        "recall": recall,
    }
    if fake_logits is not None:
        logits = np.asarray(fake_logits, dtype=np.float64)
        mean, std = inception_score_from_logits(logits, num_splits=min(10, logits.shape[0]))
        result["inception_score"] = mean
        result["inception_score_std"] = std
    return result


def evaluate_samples(real_images, fake_images, extractor, kid_subsets=100, kid_subset_size=1000,
                     k=3, batch_size=500, real_features=None) -> dict:
    """FID, KID (+- subset std error), precision/recall (and Inception Score if the extractor
    has logits) of `fake_images` against `real_images`, both float32 NHWC in
    ``extractor.value_range``. ``real_features``: the real images' features from
    :func:`extract_features` with this `extractor`, if already computed (then ``real_images``
    is not read and may be None).

    Returns ``{"feature_space", "num_real", "num_fake", "fid", "kid", "kid_std_error",
    "precision", "recall"[, "inception_score", "inception_score_std"]}``; the Inception Score
    is computed on the fake images with the extractor's logits (10 splits).
    """
    if real_features is None and real_images is None:
        raise ValueError("evaluate_samples needs real_images, or their real_features from extract_features.")
    if real_features is None:
        real_features = extract_features(extractor, real_images, batch_size)
    fake_features, fake_logits = _features_and_logits(extractor, fake_images, batch_size)
    return scores_from_features(real_features, fake_features, extractor.name, fake_logits,
                                kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k=k)


def extract_features(extractor, images, batch_size=500):
    """The `(n, dim)` float features of `images` (float32 NHWC in ``extractor.value_range``).

    Pass them as ``evaluate_generator(..., real_features=...)`` to score several generators
    (or one at several points of training) against the same real images without extracting
    the real images' features again each time.
    """
    return _features_and_logits(extractor, images, batch_size)[0]


def evaluate_generator(generate, real_images, extractor, num_samples=10000, batch_size=500,
                       seed=0, real_features=None, **kwargs) -> dict:
    """As :func:`evaluate_samples`, with ``num_samples`` fake images drawn from `generate`.

    ``generate(n, seed)`` must return ``n`` float32 NHWC images in ``extractor.value_range``;
    it is called with ``n <= batch_size`` and seeds ``seed, seed + 1, ...`` so results are
    reproducible and only one batch of images is in memory at a time. ``real_features``:
    the real images' features from :func:`extract_features` with this `extractor`, if
    already computed (then ``real_images`` is not read and may be None). ``kwargs`` go to
    :func:`evaluate_samples` (``kid_subsets``, ``kid_subset_size``, ``k``).
    """
    if real_features is None and real_images is None:
        raise ValueError("evaluate_generator needs real_images, or their real_features from extract_features.")
    num_samples, batch_size = int(num_samples), int(batch_size)
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    feats, logits = [], []
    for i, start in enumerate(range(0, num_samples, batch_size)):
        n = min(batch_size, num_samples - start)
        images = np.asarray(generate(n, seed + i))
        if images.shape[0] != n:
            raise ValueError(f"generate({n}, {seed + i}) returned {images.shape[0]} images, expected {n}.")
        f, lg = _features_and_logits(extractor, images, batch_size)
        feats.append(f)
        if lg is not None:
            logits.append(lg)
    if real_features is None:
        real_features = extract_features(extractor, real_images, batch_size)
    return scores_from_features(real_features, np.concatenate(feats), extractor.name,
                                np.concatenate(logits) if logits else None, **kwargs)
