"""Feature extractors (InceptionV3 with local/random weights, Fashion-MNIST classifier) and
evaluate_samples / evaluate_generator. No internet: InceptionV3 runs with random weights."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kerasgen import datasets  # noqa: E402
from kerasgen.metrics import evaluation, features  # noqa: E402

EXPECTED_KEYS = {"feature_space", "num_real", "num_fake", "fid", "kid", "kid_std_error",
                 "precision", "recall", "inception_score", "inception_score_std"}


@pytest.fixture(scope="module")
def inception():
    import keras
    keras.utils.set_random_seed(0)
    return features.inception_extractor()


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("kerasgen_cache")


@pytest.fixture(scope="module")
def classifier(classifier_cache):
    return features.train_domain_classifier("fashion_mnist", epochs=1, limit=2048,
                                            cache_dir=str(classifier_cache))


@pytest.fixture(scope="module")
def real_images():
    x, _ = datasets.load_arrays("fashion_mnist", split="test", limit=400)
    return datasets.to_value_range(x, (-1.0, 1.0))


def test_inception_random_weights_shapes(inception):
    rng = np.random.default_rng(0)
    gray = rng.uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    f = inception(gray)
    assert f.shape == (3, 2048) and np.all(np.isfinite(f))
    rgb = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    f_rgb = inception(rgb, batch_size=1)
    assert f_rgb.shape == (2, 2048) and np.all(np.isfinite(f_rgb))
    assert "random weights" in inception.name and inception.dim == 2048
    assert inception.logits(gray) is None
    assert inception.value_range == (-1.0, 1.0)


def test_inception_local_weights_and_value_range(inception, tmp_path):
    path = tmp_path / "inc.weights.h5"
    inception.model.save_weights(str(path))
    loaded = features.inception_extractor(str(path))
    assert loaded.name == "inception_v3_pool3" and "random" not in loaded.name
    rng = np.random.default_rng(1)
    x01 = rng.uniform(0, 1, (2, 28, 28, 1)).astype(np.float32)
    reference = inception(2 * x01 - 1)
    np.testing.assert_allclose(loaded(2 * x01 - 1), reference, atol=1e-5)
    unit = features.inception_extractor(str(path), value_range=(0.0, 1.0))
    assert unit.value_range == (0.0, 1.0)
    np.testing.assert_allclose(unit(x01), reference, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        features.inception_extractor(str(tmp_path / "missing.weights.h5"))


def test_domain_classifier_trains_caches_and_reloads(classifier, classifier_cache, real_images, monkeypatch):
    assert classifier.name == "fashion_mnist_classifier"
    assert classifier.test_accuracy > 0.5
    f = classifier(real_images[:50])
    logits = classifier.logits(real_images[:50])
    assert f.shape == (50, 128) and logits.shape == (50, 10)
    files = sorted(os.listdir(classifier_cache))
    # a quick model gets its own cache key, never the real model's file name
    assert files == ["fashion_mnist_classifier_e1_n2048.json", "fashion_mnist_classifier_e1_n2048.keras"]
    mtime = os.path.getmtime(classifier_cache / files[1])

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although a cached classifier exists")

    monkeypatch.setattr(features, "_train_classifier", no_training)
    again = features.train_domain_classifier("fashion_mnist", epochs=1, limit=2048,
                                             cache_dir=str(classifier_cache))
    assert again.test_accuracy == pytest.approx(classifier.test_accuracy)
    np.testing.assert_array_equal(again(real_images[:50]), f)
    np.testing.assert_array_equal(again.logits(real_images[:50]), logits)
    assert os.path.getmtime(classifier_cache / files[1]) == mtime
    assert sorted(os.listdir(classifier_cache)) == files   # no temp files left behind
    # different settings are a different cache entry -> would train
    with pytest.raises(AssertionError, match="retrained"):
        features.train_domain_classifier("fashion_mnist", epochs=2, limit=2048,
                                         cache_dir=str(classifier_cache))


def test_get_extractor(classifier_cache, classifier):
    e = features.get_extractor("fashion_mnist_classifier", epochs=1, limit=2048,
                               cache_dir=str(classifier_cache))
    assert e.name == "fashion_mnist_classifier" and e.dim == 128
    with pytest.raises(ValueError, match="fashion_mnist_classifier.*inception"):
        features.get_extractor("vgg")


def test_evaluate_samples_identical_and_noise(classifier, real_images):
    same = evaluation.evaluate_samples(real_images, real_images, classifier, kid_subsets=5)
    assert set(same) == EXPECTED_KEYS
    assert same["feature_space"] == "fashion_mnist_classifier"
    assert same["num_real"] == same["num_fake"] == len(real_images)
    assert abs(same["fid"]) < 1e-3
    assert same["precision"] == same["recall"] == 1.0
    assert same["inception_score"] > 1.5
    noise = np.random.default_rng(0).uniform(-1, 1, real_images.shape).astype(np.float32)
    far = evaluation.evaluate_samples(real_images, noise, classifier, kid_subsets=5)
    assert far["fid"] > 10.0 and far["fid"] > 1000 * abs(same["fid"])
    assert far["kid"] > same["kid"] + 0.1
    assert far["recall"] < 0.2
    # Precision of noise is NOT low in this weak 1-epoch feature space (measured 0.73: the noise
    # features collapse into a region the real k=3 balls cover), so only recall separates here.
    assert far["precision"] < same["precision"]


def test_evaluate_generator_batches_calls(classifier, real_images):
    calls = []

    def generate(n, seed):
        calls.append((n, seed))
        start = (seed * 37) % (len(real_images) - n)
        return real_images[start:start + n]

    result = evaluation.evaluate_generator(generate, real_images, classifier, num_samples=250,
                                           batch_size=100, seed=3, kid_subsets=5)
    assert calls == [(100, 3), (100, 4), (50, 5)]
    assert result["num_fake"] == 250 and result["num_real"] == len(real_images)
    assert set(result) == EXPECTED_KEYS
    assert result["precision"] == 1.0   # every sample is a real image
    again = evaluation.evaluate_generator(generate, real_images, classifier, num_samples=250,
                                          batch_size=100, seed=3, kid_subsets=5)
    assert again == result


def test_evaluators_reuse_precomputed_real_features(classifier, real_images):
    """Scoring against `extract_features`' output gives the same figures without reading the images,
    in evaluate_generator and in evaluate_samples."""
    def generate(n, seed):
        return real_images[seed * 10:seed * 10 + n]

    expected = evaluation.evaluate_generator(generate, real_images, classifier, num_samples=120, batch_size=60,
                                             kid_subsets=5, kid_subset_size=50)
    real = evaluation.extract_features(classifier, real_images, batch_size=60)
    assert real.shape[0] == len(real_images)
    reused = evaluation.evaluate_generator(generate, None, classifier, num_samples=120, batch_size=60,
                                           kid_subsets=5, kid_subset_size=50, real_features=real)
    assert reused == expected
    with pytest.raises(ValueError, match="real_images, or their real_features"):
        evaluation.evaluate_generator(generate, None, classifier, num_samples=120)
    fake = real_images[:120]
    assert (evaluation.evaluate_samples(None, fake, classifier, kid_subsets=5, kid_subset_size=50, real_features=real)
            == evaluation.evaluate_samples(real_images, fake, classifier, kid_subsets=5, kid_subset_size=50,
                                           batch_size=60))
    with pytest.raises(ValueError, match="real_images, or their real_features"):
        evaluation.evaluate_samples(None, fake, classifier)
