"""Streaming sample-quality metrics for generative models (NumPy/SciPy, float64).

Feed features (e.g. Inception pool3 activations) or class probabilities you
computed yourself; nothing here depends on tensorflow-gan.

    moments = kerasgen.metrics.FeatureMoments()
    for batch in feature_batches:
        moments.update(batch)
    fid = kerasgen.metrics.frechet_distance(moments.mean, moments.covariance, mu_ref, sigma_ref)
"""

from kerasgen.metrics.scores import (
    fid_from_features,
    frechet_distance,
    inception_score,
    inception_score_from_logits,
    kernel_inception_distance,
    precision_recall,
)
from kerasgen.metrics.statistics import FeatureMoments
from kerasgen.metrics.features import (
    FeatureExtractor,
    get_extractor,
    inception_extractor,
    train_domain_classifier,
)
from kerasgen.metrics.evaluation import evaluate_generator, evaluate_samples, extract_features

__all__ = [
    "FeatureMoments",
    "frechet_distance",
    "fid_from_features",
    "kernel_inception_distance",
    "inception_score",
    "inception_score_from_logits",
    "precision_recall",
    "FeatureExtractor",
    "get_extractor",
    "inception_extractor",
    "train_domain_classifier",
    "evaluate_samples",
    "evaluate_generator",
    "extract_features",
]
