"""Smoke test of `benchmarks/zoo.py --quick`: the benchmark table's machinery runs end to end.

The full run (every registered model for minutes each) is not a test; this runs the quick
mode on a few models of different families plus the hand-written baseline, then builds the
BENCHMARKS.md table from the rows into a temporary file.
"""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_MODELS = ["ae", "gan", "pix2pix", "cyclegan", "handwritten_dcgan"]


@pytest.fixture(scope="module")
def quick_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    command = [sys.executable, os.path.join(ROOT, "benchmarks", "zoo.py"), "--quick", "--budget-minutes", "0.05",
               "--out", str(out), "--models", *SMOKE_MODELS]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return out, {name: json.load(open(out / f"{name}.json")) for name in [*SMOKE_MODELS, "real_data_floor"]}


def test_every_row_has_finite_scores_speed_and_size(quick_rows):
    _, rows = quick_rows
    for name in SMOKE_MODELS:
        row = rows[name]
        assert row["name"] == name
        for key in ("fid", "kid", "kid_std_error", "precision", "recall", "train_images_per_second", "train_seconds"):
            assert math.isfinite(row[key]) and row[key] >= 0, (name, key, row[key])
        assert row["parameters"] > 0 and row["cpus"] >= 1
        assert row["feature_space"].startswith("fashion_mnist_classifier")
    assert rows["ae"]["scored"] == "reconstructions" and rows["gan"]["scored"] == "samples"
    assert rows["pix2pix"]["scored"] == rows["cyclegan"]["scored"] == "translations"
    assert rows["pix2pix"]["num_fake"] == rows["cyclegan"]["num_fake"] == 500  # quick: 500 test translations
    assert 0 < rows["pix2pix"]["test_l1"] < 2 and 0 <= rows["pix2pix"]["class_kept"] <= 1
    assert 0 < rows["cyclegan"]["test_cycle_l1"] < 2 and 0 <= rows["cyclegan"]["target_class_rate"] <= 1
    # The real-data floor is far below what a few seconds of training reach.
    assert rows["real_data_floor"]["fid"] < min(rows[name]["fid"] for name in SMOKE_MODELS)


def test_report_table_lists_every_row(quick_rows, tmp_path, monkeypatch):
    sys.path.insert(0, ROOT)
    from benchmarks import common, zoo

    folder, _ = quick_rows
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# Benchmarks\n")
    monkeypatch.setattr(common, "BENCHMARKS_MD", str(target))
    zoo.write_report(str(folder))
    text = target.read_text()
    assert "<!-- zoo:begin -->" in text and "Published Inception FIDs" in text
    lines = [line for line in text.splitlines() if line.startswith("| ") and "FID" not in line]
    names = [line.split("|")[1].split()[0] for line in lines]
    assert sorted(names) == sorted(SMOKE_MODELS) and names[-1] == "handwritten_dcgan"  # registry order, baseline last
    assert "ae (recon.)" in text and "pix2pix (transl.)" in text and "classified as B" in text


def test_report_names_the_sampler_and_held_out_terms(tmp_path, monkeypatch):
    """Rows of DDPM (sampled by DDIM) and VQ-VAE (codebook use) get their own labels and columns."""
    sys.path.insert(0, ROOT)
    from benchmarks import common, zoo

    base = dict(fid=200.0, kid=19.0, kid_std_error=0.1, precision=0.6, recall=0.2, train_seconds=300.0,
                train_images_per_second=80.0, peak_rss_mib=2000.0, parameters=10, classifier_test_accuracy=0.9,
                cpus=1, num_fake=10_000, scored="samples")
    rows = {"ddpm": dict(base, name="ddpm", sampler=zoo.SAMPLER["ddpm"], test_loss=0.0612),
            "vqvae": dict(base, name="vqvae", test_reconstruction_loss=0.0517, test_codebook_usage=0.05,
                          test_perplexity=11.3),
            "real_data_floor": {"fid": 0.9}}
    for name, row in rows.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(row))
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# Benchmarks\n")
    monkeypatch.setattr(common, "BENCHMARKS_MD", str(target))
    zoo.write_report(str(tmp_path))
    text = target.read_text()
    assert f"| ddpm (DDIM, {zoo.SAMPLER['ddpm']['steps']} steps) | 200.00 |" in text and "noise MSE 0.0612" in text
    assert "recon. MSE 0.0517; 5% of codes used, perplexity 11.3" in text
