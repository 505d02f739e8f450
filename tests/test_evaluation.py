"""FIDMonitor and `kerasgen evaluate`, on a small cached Fashion-MNIST classifier."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import kerasgen
from kerasgen import cli
from kerasgen.metrics import features

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def small_classifier(tmp_path_factory):
    """A 1-epoch classifier on 2048 images: a cheap but real feature space for these tests."""
    return features.train_domain_classifier("fashion_mnist", epochs=1, limit=2048, cache_dir=str(tmp_path_factory.mktemp("cache")))


def test_fid_monitor_logs_scores_each_epoch(small_classifier, fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    model = kerasgen.models.DCGAN(latent_dim=8, base_filters=8)
    model.compile()
    monitor = kerasgen.callbacks.FIDMonitor(images[:500], small_classifier, num_samples=200)
    history = model.fit(images[:256], batch_size=64, epochs=2, verbose=0, callbacks=[monitor]).history
    assert len(history["fid"]) == len(history["kid"]) == 2
    assert all(np.isfinite(history["fid"])) and min(history["fid"]) > 0
    assert [r["epoch"] for r in monitor.results] == [1, 2]
    assert {r["feature_space"] for r in monitor.results} == {"fashion_mnist_classifier"}
    assert all(r["num_fake"] == 200 for r in monitor.results)


def test_evaluate_a_saved_model_without_its_python_class(small_classifier, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(features, "get_extractor", lambda name, **kwargs: small_classifier)
    out = tmp_path / "dcgan.json"
    cli.main(["evaluate", os.path.join(REPO, "saved_models", "dcgan_fashion_mnist"), "--num-samples", "1000", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["feature_space"] == "fashion_mnist_classifier" and result["num_fake"] == 1000
    assert np.isfinite(result["fid"]) and 0.0 < result["precision"] <= 1.0
    assert "fid" in capsys.readouterr().out


def test_evaluate_a_run_and_train_the_classifier(small_classifier, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(features, "get_extractor", lambda name, **kwargs: small_classifier)
    monkeypatch.setattr(features, "train_domain_classifier", lambda dataset, **kwargs: small_classifier)
    run = tmp_path / "run"
    cli.main(["train", "vae", "--limit", "256", "--batch-size", "64", "--latent-dim", "2", "--epochs", "1", "--out", str(run)])
    cli.main(["evaluate", str(run), "--num-samples", "500", "--train-classifier", "fashion_mnist"])
    printed = capsys.readouterr().out
    assert "fashion_mnist_classifier: test accuracy" in printed
    result = json.loads((run / "evaluation.json").read_text())
    assert result["feature_extractor_test_accuracy"] == small_classifier.test_accuracy
    with pytest.raises(SystemExit, match="inception-weights"):
        cli.main(["evaluate", str(run), "--features", "inception"])
