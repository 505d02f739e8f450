"""The command line and the callbacks, end to end on small real runs."""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from PIL import Image

import kerasgen
from kerasgen import cli
from kerasgen.models import REGISTRY


def _png(path):
    return np.asarray(Image.open(path))


def test_help_lists_every_model_and_command():
    result = subprocess.run([sys.executable, "-m", "kerasgen.cli", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for name in REGISTRY:
        assert name in result.stdout
    top = subprocess.run([sys.executable, "-m", "kerasgen.cli", "--help"], capture_output=True, text=True)
    assert "train" in top.stdout and "sample" in top.stdout


def test_unknown_model_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "no_such_model"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_train_writes_model_grids_logs_then_sample(tmp_path):
    run = tmp_path / "run"
    cli.main(["train", "cvae", "--epochs", "2", "--limit", "256", "--batch-size", "64",
              "--latent-dim", "2", "--out", str(run)])
    assert (run / "model.keras").is_file()
    assert not list(run.glob("*.partial*")), "a temporary checkpoint was left behind"
    summary = json.loads((run / "run.json").read_text())
    assert len(summary["history"]["loss"]) == 2
    samples = sorted(p.name for p in (run / "samples").iterdir())
    for epoch in ("e001", "e002"):
        for kind in ("samples", "reconstructions", "latent_scatter", "latent_manifold"):
            assert f"{kind}_{epoch}.png" in samples
    assert any((run / "logs").rglob("events.out.tfevents*")), "no TensorBoard logs"
    model = keras.models.load_model(run / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 8  # 2 epochs x 4 batches

    grid_path = tmp_path / "grid.png"
    cli.main(["sample", str(run), "--num", "10", "--labels", *map(str, range(10)), "--seed", "3", "--out", str(grid_path)])
    grid = _png(grid_path)
    assert grid.shape == (2 + 30, 2 + 10 * 30)  # one row of ten 28x28 images, 2 px padding
    assert grid.std() > 10


def test_sample_without_a_model_says_what_to_pass(tmp_path):
    with pytest.raises(SystemExit, match="No trained model"):
        cli.main(["sample", str(tmp_path), "--out", str(tmp_path / "x.png")])


def test_sample_grid_pictures_for_a_2d_vae(tmp_path, fashion_mnist_subset):
    images, labels = fashion_mnist_subset
    keras.utils.set_random_seed(0)
    vae = kerasgen.models.VAE(latent_dim=2)
    vae.compile()
    grid = kerasgen.callbacks.SampleGrid(tmp_path, num_samples=16, images=images[:500], labels=labels[:500], manifold_size=5)
    vae.fit(images[:512], batch_size=128, epochs=1, verbose=0, callbacks=[grid])
    names = sorted(os.path.basename(p) for p in grid.written)
    assert names == ["latent_manifold_e001.png", "latent_scatter_e001.png",
                     "reconstructions_e001.png", "samples_e001.png"]
    assert _png(tmp_path / "samples_e001.png").shape == (2 + 4 * 30, 2 + 4 * 30)
    # Reconstructions: 4 rows of inputs interleaved with 4 rows of reconstructions, 8 columns.
    assert _png(tmp_path / "reconstructions_e001.png").shape == (2 + 8 * 30, 2 + 8 * 30)
    assert _png(tmp_path / "latent_manifold_e001.png").shape == (5 * 28, 5 * 28)
    scatter = _png(tmp_path / "latent_scatter_e001.png")
    colours = {tuple(c) for c in scatter.reshape(-1, 3)[::7]}
    assert len(colours) > 5, "the scatter should show several class colours"


def test_atomic_checkpoint_replaces_the_file_whole(tmp_path, small_images):
    path = tmp_path / "ckpt" / "model.keras"
    model = kerasgen.models.AutoEncoder(latent_dim=4)
    model.compile()
    checkpoint = kerasgen.callbacks.AtomicModelCheckpoint(str(path))
    model.fit(small_images, batch_size=32, epochs=2, verbose=0, callbacks=[checkpoint])
    assert sorted(os.listdir(path.parent)) == ["model.keras", "model.state.json"]  # no partial files
    restored = keras.models.load_model(path)
    assert int(restored.optimizer.iterations.numpy()) == 4
    with pytest.raises(ValueError, match=".keras"):
        kerasgen.callbacks.AtomicModelCheckpoint(str(tmp_path / "model.h5"))


def test_train_a_gan_feeds_k_minibatches_per_fit_batch(tmp_path):
    run = tmp_path / "wgan"
    cli.main(["train", "wgan", "--epochs", "1", "--limit", "400", "--batch-size", "16",
              "--model-arg", "base_filters=8", "--model-arg", "latent_dim=8",
              "--model-arg", "warmup_critic_steps=None",  # else the warm-up's 100 critic updates come first
              "--out", str(run)])
    model = keras.models.load_model(run / "model.keras")
    # 400 images, fit batches of 5 x 16 = 80: 5 generator updates, 25 critic updates.
    assert int(model.optimizer.iterations.numpy()) == 5
    assert int(model.discriminator_optimizer.iterations.numpy()) == 25
    assert (run / "samples" / "samples_e001.png").is_file()
    assert not (run / "samples" / "reconstructions_e001.png").exists()  # GANs do not reconstruct


def test_nan_guard_names_the_diverged_terms_and_checkpoint_skips_them(tmp_path):
    model = kerasgen.models.AutoEncoder(latent_dim=2)
    guard = kerasgen.callbacks.TerminateOnNaN()
    guard.set_model(model)
    model.stop_training = False  # what fit() sets before the first batch
    guard.on_train_batch_end(0, {"d_loss": 0.5, "g_loss": 1.0})
    assert guard.message is None and not model.stop_training
    guard.on_train_batch_end(6, {"d_loss": float("nan"), "g_loss": 1.0})
    assert model.stop_training
    assert "batch 7" in guard.message and "d_loss=nan" in guard.message and "learning rate" in guard.message

    path = tmp_path / "model.keras"
    checkpoint = kerasgen.callbacks.AtomicModelCheckpoint(str(path))
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": float("nan")})
    assert not path.exists()
    checkpoint.on_epoch_end(0, {"loss": 0.25})
    assert path.is_file()


def test_train_under_a_named_strategy(tmp_path):
    """--strategy mirrored builds, compiles and fits the model in the strategy's scope."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-m", "kerasgen.cli", "train", "vae", "--strategy", "mirrored", "--limit", "128",
         "--batch-size", "64", "--latent-dim", "2", "--epochs", "1", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "replica(s) (MirroredStrategy)" in result.stdout
    assert (tmp_path / "run" / "model.keras").is_file()


def test_train_translation_models_writes_translation_grids_and_exports(tmp_path):
    """pix2pix learns edges -> images and cyclegan sneakers <-> ankle boots, offline, from the CLI."""
    pix2pix = tmp_path / "pix2pix"
    cli.main(["train", "pix2pix", "--epochs", "1", "--limit", "64", "--batch-size", "16",
              "--model-arg", "base_filters=4", "--out", str(pix2pix)])
    model = keras.models.load_model(pix2pix / "model.keras")
    assert type(model).__name__ == "Pix2Pix" and int(model.optimizer.iterations.numpy()) == 4
    # 4 blocks of 3 rows (edge maps, translations, real images), 8 columns of 28 + 2 px.
    assert _png(pix2pix / "samples" / "translations_e001.png").shape == (2 + 12 * 30, 2 + 8 * 30)
    assert not (pix2pix / "samples" / "samples_e001.png").exists()  # nothing to sample from a prior
    with pytest.raises(SystemExit, match=r"translates images instead of sampling them.*model.translate"):
        cli.main(["sample", str(pix2pix), "--out", str(tmp_path / "x.png")])

    cyclegan = tmp_path / "cyclegan"
    cli.main(["train", "cyclegan", "--epochs", "1", "--limit", "32", "--batch-size", "16", "--classes", "0", "6",
              "--model-arg", "base_filters=4", "--model-arg", "num_blocks=1", "--out", str(cyclegan)])
    # Rows: T-shirts, their translations to shirts, and those translated back.
    assert _png(cyclegan / "samples" / "translations_e001.png").shape == (2 + 12 * 30, 2 + 8 * 30)
    cli.main(["export", str(cyclegan), "--out", str(tmp_path / "served")])
    metadata = json.loads((tmp_path / "served" / "1" / "assets.extra" / "kerasgen_export.json").read_text())
    assert metadata["family"] == "translation" and metadata["signatures"] == ["serving_default", "a2b", "b2a"]
    with pytest.raises(SystemExit, match="pass --dataset-b"):
        cli.main(["train", "cyclegan", "--dataset", "mnist", "--out", str(tmp_path / "other")])


def test_sample_grid_shows_inputs_translations_and_targets(tmp_path):
    rng = np.random.default_rng(0)
    edges = rng.uniform(-1, 1, (5, 28, 28, 1)).astype("float32")
    colour = rng.uniform(-1, 1, (5, 28, 28, 3)).astype("float32")
    model = kerasgen.models.Pix2Pix(image_shape=(28, 28, 3), source_shape=(28, 28, 1), base_filters=4)
    grid = kerasgen.callbacks.SampleGrid(tmp_path, images=edges, targets=colour)
    grid.set_model(model)
    grid.on_epoch_end(0)
    picture = _png(tmp_path / "translations_e001.png")
    # One block of 5 columns: grey inputs shown as RGB beside the colour translations and targets.
    assert picture.shape == (2 + 3 * 30, 2 + 5 * 30, 3)
    first_input = picture[2:30, 2:30]
    np.testing.assert_array_equal(first_input[..., 0], first_input[..., 2])
    np.testing.assert_array_equal(first_input[..., 0], kerasgen.images.to_uint8(edges[0, :, :, 0]))
