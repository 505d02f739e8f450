"""Smoke test of `benchmarks/zoo.py --quick`: the benchmark table's machinery runs end to end.

The full run (every registered model for thousands of updates, three seeds per GAN) is not a
test; this runs the quick mode on a few models of different families (the GAN with two seeds
and an export), then builds the BENCHMARKS.md table from the rows into a temporary file.
"""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_MODELS = ["ae", "gan", "pix2pix", "cyclegan"]
UPDATES, GAN_SEEDS = 4, 2


@pytest.fixture(scope="module")
def quick_rows(tmp_path_factory):
    out, exports = tmp_path_factory.mktemp("zoo"), tmp_path_factory.mktemp("exports")
    command = [sys.executable, os.path.join(ROOT, "benchmarks", "zoo.py"), "--quick", "--updates", str(UPDATES),
               "--seeds", str(GAN_SEEDS), "--curve-every", "2", "--out", str(out), "--models", *SMOKE_MODELS,
               "--export-models", "gan", "--export-dir", str(exports)]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = {file[:-5]: json.load(open(out / file)) for file in os.listdir(out) if file.endswith(".json")}
    return out, exports, rows


def test_every_model_trains_to_the_same_number_of_updates(quick_rows):
    _, _, rows = quick_rows
    runs = {name: [rows[f"{name}_seed{seed}"] for seed in range(GAN_SEEDS if name == "gan" else 1)]
            for name in SMOKE_MODELS}
    assert set(rows) == {f"{name}_seed{row['seed']}" for name in runs for row in runs[name]} | {"real_data_floor"}
    for name, model_runs in runs.items():
        for row in model_runs:
            assert row["name"] == name and row["updates"] == UPDATES == row["train_batches"]
            for key in ("fid", "kid", "kid_std_error", "precision", "recall", "train_images_per_second", "train_seconds"):
                assert math.isfinite(row[key]) and row[key] >= 0, (name, key, row[key])
            assert row["parameters"] > 0 and row["cpus"] >= 1 and row["cpu"]
            assert row["feature_space"].startswith("fashion_mnist_classifier")
    assert rows["ae_seed0"]["scored"] == "reconstructions" and rows["gan_seed0"]["scored"] == "samples"
    assert rows["pix2pix_seed0"]["scored"] == rows["cyclegan_seed0"]["scored"] == "translations"
    assert rows["pix2pix_seed0"]["num_fake"] == rows["cyclegan_seed0"]["num_fake"] == 500  # quick: 500 test translations
    assert 0 < rows["pix2pix_seed0"]["test_l1"] < 2 and 0 <= rows["pix2pix_seed0"]["class_kept"] <= 1
    # Two seeds are two different runs; the FID curve has a point every 2 updates.
    assert rows["gan_seed0"]["fid"] != rows["gan_seed1"]["fid"]
    assert [point[0] for point in rows["gan_seed1"]["fid_curve"]] == list(range(2, UPDATES + 1, 2))
    assert "fid_curve" not in rows["ae_seed0"]  # curves are the GANs'
    # The real-data floor is far below what a few updates reach.
    assert rows["real_data_floor"]["fid"] < min(row["fid"] for key, row in rows.items() if key != "real_data_floor")


def test_exports_grids_and_pictures(quick_rows):
    """Seed 0 of an exported model is a servable SavedModel whose samples make its grid; every
    model gets a grid, and the run tiles them into a contact sheet beside the FID curve plot."""
    out, exports, rows = quick_rows
    from PIL import Image

    assert (exports / "gan_fashion_mnist" / "1" / "saved_model.pb").exists()
    assert rows["gan_seed0"]["export"]["mib"] > 0 and "export" not in rows["gan_seed1"]
    assert not [f for f in os.listdir(exports) if "staging" in f]  # nothing half-written is left behind
    for name in SMOKE_MODELS:
        grid = Image.open(out / "grids" / f"{name}.png")
        assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 8x8 tiles of 28 pixels, padding 2
    assert set(os.listdir(out)) >= {"contact_sheet.png", "fid_vs_updates.png"}
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size[0] > 4 * 200  # four grids side by side


def test_report_aggregates_seeds_and_ranks(quick_rows, tmp_path, monkeypatch):
    sys.path.insert(0, ROOT)
    from benchmarks import common, zoo

    folder, _, rows = quick_rows
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# Benchmarks\n")
    monkeypatch.setattr(common, "BENCHMARKS_MD", str(target))
    zoo.write_report(str(folder))
    text = target.read_text()
    assert "<!-- zoo:begin -->" in text and "published Inception FID" in text
    lines = [line for line in text.splitlines() if line.startswith("| ") and "FID" not in line]
    names = [line.split("|")[2].split()[0] for line in lines]
    assert names == SMOKE_MODELS  # registry order
    gan = next(line for line in lines if line.split("|")[2].split()[0] == "gan").split("|")
    fids = [rows[f"gan_seed{seed}"]["fid"] for seed in range(GAN_SEEDS)]
    assert gan[1].strip() == "1" and gan[4].strip() == str(GAN_SEEDS)  # the only sampled model ranks first
    assert f"{sum(fids) / 2:.2f} ± {abs(fids[0] - fids[1]) / 2 ** 0.5:.2f}" in gan[5]  # mean ± sample std
    assert "ae (recon.)" in text and "pix2pix (transl.)" in text and "classified as B" in text


def test_fit_steps_for_counts_the_wgan_warm_up():
    """WGAN's critic-only warm-up steps make no generator update; the zoo trains past them."""
    sys.path.insert(0, ROOT)
    import kerasgen
    from benchmarks import zoo

    model = kerasgen.models.WGAN(latent_dim=8, base_filters=8, discriminator_steps=2)  # the paper's warm-up
    model.compile()
    k = model.discriminator_steps
    steps = zoo.fit_steps_for(model, 30)
    assert model.optimizer_updates_after(steps, from_start=True) == 30
    assert model.optimizer_updates_after(steps - 1, from_start=True) == 29
    # 25 warm-up updates of 100 critic updates each (k per fit step), then one per step.
    assert steps == 25 * math.ceil(100 / k) + 5
    plain = kerasgen.models.REGISTRY["vae"].create(**kerasgen.models.REGISTRY["vae"].small_config)
    plain.compile()
    assert zoo.fit_steps_for(plain, 30) == 30


def test_report_names_the_sampler_and_held_out_terms(tmp_path, monkeypatch):
    """Rows of DDPM (sampled by DDIM) and VQ-VAE (codebook use) get their own labels and columns."""
    sys.path.insert(0, ROOT)
    from benchmarks import common, zoo

    base = dict(fid=200.0, kid=19.0, kid_std_error=0.1, precision=0.6, recall=0.2, train_seconds=300.0,
                train_images_per_second=80.0, peak_rss_mib=2000.0, parameters=10, classifier_test_accuracy=0.9,
                cpus=1, num_fake=10_000, scored="samples", updates=100, seed=0)
    rows = {"ddpm": dict(base, name="ddpm", sampler=zoo.SAMPLER["ddpm"], test_loss=0.0612),
            "vqvae": dict(base, name="vqvae", test_reconstruction_loss=0.0517, test_codebook_usage=0.05,
                          test_perplexity=11.3),
            "real_data_floor": {"fid": 0.9}}
    for name, row in rows.items():
        (tmp_path / (name if name == "real_data_floor" else f"{name}_seed0")).with_suffix(".json").write_text(json.dumps(row))
    target = tmp_path / "BENCHMARKS.md"
    target.write_text("# Benchmarks\n")
    monkeypatch.setattr(common, "BENCHMARKS_MD", str(target))
    zoo.write_report(str(tmp_path))
    text = target.read_text()
    assert f"| ddpm (DDIM, {zoo.SAMPLER['ddpm']['steps']} steps) | 100 | 1 | 200.00 |" in text and "noise MSE 0.0612" in text
    assert "recon. MSE 0.0517; 5% of codes used, perplexity 11.3" in text


def test_ddpm_ancestral_chunks_resume_and_the_restore_is_checked(tmp_path, monkeypatch):
    """`benchmarks/ddpm_ancestral.py` restores an export's EMA weights into a rebuilt DDPM (and refuses a
    mismatched config), draws fixed-seed chunks that a later run reproduces and skips, and leaves no
    temporary files."""
    import argparse

    import numpy as np

    sys.path.insert(0, ROOT)
    import kerasgen
    from benchmarks import ddpm_ancestral

    config = dict(timesteps=8, base_filters=4, channel_multipliers=[1, 2], ema_decay=0.9999)
    model = kerasgen.models.DDPM(image_shape=(28, 28, 1), seed=3, **config)
    model.compile(optimizer="adam")
    model.generate(2, steps=2)
    for weight in model.ema_network.weights:  # weights unlike a fresh model's, so a failed restore shows
        weight.assign(weight + 0.01)
    export = kerasgen.export.save_for_serving(model, str(tmp_path / "export"))
    restored = ddpm_ancestral.restored_model(export, config)
    for ours, theirs in zip(restored.sampling_network.weights, model.ema_network.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(ValueError, match="does not match"):
        ddpm_ancestral.restored_model(export, dict(config, base_filters=8))

    monkeypatch.setattr(ddpm_ancestral, "CHUNK_DIR", str(tmp_path / "chunks"))
    args = argparse.Namespace(samples=5, chunk=3, minutes=5.0)
    ddpm_ancestral.draw_chunks(restored, args)
    first = sorted(os.listdir(tmp_path / "chunks"))
    assert first == ["chunk_000.npz", "chunk_001.npz"]  # ceil(5 / 3) chunks, no temporary files
    before = {name: np.load(tmp_path / "chunks" / name)["images_uint8"] for name in first}
    stamp = os.path.getmtime(tmp_path / "chunks" / "chunk_001.npz")
    os.remove(tmp_path / "chunks" / "chunk_000.npz")  # as if the run had stopped before it
    ddpm_ancestral.draw_chunks(restored, args)
    assert os.path.getmtime(tmp_path / "chunks" / "chunk_001.npz") == stamp  # skipped, not redrawn
    np.testing.assert_array_equal(np.load(tmp_path / "chunks" / "chunk_000.npz")["images_uint8"],
                                  before["chunk_000.npz"])  # the same draw
    images, seconds = ddpm_ancestral.load_chunks(args.samples)
    assert images.shape == (5, 28, 28, 1) and seconds > 0
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0
    (tmp_path / "chunks" / ".tmp-1-chunk_002.npz").write_bytes(b"cut short")  # an interrupted run's leftover
    assert ddpm_ancestral.load_chunks(args.samples)[0].shape == images.shape
