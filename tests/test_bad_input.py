"""The bad-input catalogue: every wrong input kerasgen meets gets a clear error.

Each case is one call with bad input, the exact exception type it must raise
and a fragment of its message (which says what is wrong and what to do).
`CASES` are plain calls; the CLI cases run `kerasgen` in-process and read the
message of its SystemExit (or, for argparse usage errors, its stderr).
"""

from __future__ import annotations

import gzip
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen import callbacks, cli, datasets  # noqa: E402
from kerasgen.datasets import DatasetError  # noqa: E402

HAVE_FASHION = os.path.isfile(os.path.join(datasets.FASHION_MNIST_DIR, "t10k-images-idx3-ubyte.gz"))
RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(-1.0, 1.0, (96, 28, 28, 1)).astype("float32")
LABELS = (np.arange(96) % 10).astype("int32")


# --------------------------------------------------------------- helpers
def _with(array, index, value):
    """A copy of `array` with `array[index] = value`."""
    copy = np.array(array)
    copy[index] = value
    return copy


def _batches(images, labels=None, batch_size=32):
    data = images if labels is None else (images, labels)
    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def _vae():
    model = kerasgen.models.VAE(latent_dim=2, seed=0)
    model.compile()
    return model


def _cvae():
    model = kerasgen.models.ConditionalVAE(latent_dim=2, seed=0)
    model.compile()
    return model


def _wgan():
    model = kerasgen.models.WGAN(latent_dim=8, base_filters=8, seed=0)  # k = 5 critic steps
    model.compile()
    return model


def _glo():
    model = kerasgen.models.GLO(latent_dim=4, num_images=96, seed=0)
    model.compile()
    return model


def _ddpm():
    return kerasgen.models.DDPM(timesteps=40, base_filters=8, channel_multipliers=(1, 2), seed=0)


def _realnvp():
    model = kerasgen.models.RealNVP(filters=8, num_blocks=0, seed=0)
    model.compile()
    return model


def _fit(make_model, *data, **kwargs):
    def run(tmp_path):
        make_model().fit(*data, epochs=1, verbose=0, **kwargs)

    return run


def _idx_file(tmp_path, payload, name="train-images-idx3-ubyte"):
    (tmp_path / name).write_bytes(payload)
    return tmp_path / name


def _image_folder(tmp_path, sizes, corrupt=False, empty_class=False):
    for klass, size in enumerate(sizes):
        folder = tmp_path / f"class{klass}"
        folder.mkdir()
        Image.fromarray(np.zeros(size, np.uint8)).save(folder / "a.png")
    if corrupt:
        (tmp_path / "class0" / "b.png").write_bytes(b"not a png")
    if empty_class:
        (tmp_path / "class00_empty").mkdir()
    return tmp_path


def _export(model, tmp_path):
    return tf.saved_model.load(kerasgen.export.save_for_serving(model, tmp_path / "export"))


# ---------------------------------------------------------- the catalogue
CASES = {
    # Data sources.
    "unknown dataset": (lambda p: datasets.load("no_such_dataset_xyz"), DatasetError, "is not a TFDS builder"),
    "missing data_dir": (lambda p: datasets.load("fashion_mnist", data_dir=str(p / "nowhere")), DatasetError,
                         "does not exist"),
    "empty data_dir": (lambda p: datasets.load("fashion_mnist", data_dir=str(p)), DatasetError, "no IDX files in"),
    "idx wrong magic": (lambda p: datasets.read_idx(_idx_file(p, b"\x01\x02\x08\x03" + bytes(12))), DatasetError,
                        "bad IDX magic number"),
    "idx truncated": (lambda p: datasets.read_idx(_idx_file(p, bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(3))),
                      DatasetError, "truncated"),
    "idx .gz that is not gzip": (lambda p: datasets.read_idx(_idx_file(p, b"plain bytes", "x-idx1-ubyte.gz")),
                                 DatasetError, "corrupt/truncated gzip"),
    "idx gzip cut short": (lambda p: datasets.read_idx(_idx_file(p, gzip.compress(bytes(100))[:20], "y.gz")),
                           DatasetError, "corrupt/truncated gzip"),
    "image folder of mixed sizes": (lambda p: datasets.load_arrays(str(_image_folder(p, [(8, 8), (9, 8)]))),
                                    DatasetError, "all images must share one size"),
    "corrupt image file": (lambda p: datasets.load_arrays(str(_image_folder(p, [(8, 8)], corrupt=True))),
                           DatasetError, "cannot read image"),
    "empty class subfolder": (lambda p: datasets.load_arrays(str(_image_folder(p, [(8, 8), (8, 8)], empty_class=True))),
                              DatasetError, "holds no image files"),
    "labels that are not whole numbers": (lambda p: datasets.load((np.zeros((3, 8, 8), np.uint8), [0.0, 1.5, 2.0])),
                                          DatasetError, "whole numbers"),
    "labels of the wrong length": (lambda p: datasets.load((np.zeros((3, 8, 8), np.uint8), [0, 1])), DatasetError,
                                   "counts must match"),
    "arrays of the wrong rank": (lambda p: datasets.load(np.zeros((3, 8), np.uint8)), DatasetError, "rank 2"),
    "arrays with 2 channels": (lambda p: datasets.load(np.zeros((3, 8, 8, 2), np.uint8)), DatasetError, "2 channels"),
    "float arrays outside [0, 1]": (lambda p: datasets.load(np.full((3, 8, 8), 2.0)), DatasetError,
                                    "expected uint8 in [0, 255] or float in [0, 1]"),
    # What fit() receives, checked before training.
    "images without a channel axis": (_fit(_vae, IMAGES[..., 0]), ValueError, "expects NHWC images of shape"),
    "images of another size": (_fit(_vae, np.zeros((8, 32, 32, 1), "float32")), ValueError, "(batch, 28, 28, 1)"),
    "integer images": (_fit(_vae, np.zeros((8, 28, 28, 1), "uint8")), ValueError, "expects float images"),
    "images outside the value range": (_fit(_vae, IMAGES * 255), ValueError, "expects images in [-1, 1]"),
    "NaN images": (_fit(_vae, _with(IMAGES, (3, 4, 4, 0), np.nan)), ValueError, "got values in [nan"),
    "empty array": (_fit(_vae, IMAGES[:0]), ValueError, "empty array"),
    "empty dataset": (_fit(_vae, _batches(IMAGES[:0])), ValueError, "the dataset is empty"),
    "conditional model without labels": (_fit(_cvae, IMAGES), ValueError, "needs class labels"),
    "labels out of range": (_fit(_cvae, IMAGES, LABELS + 5), ValueError, "num_classes=10, got labels in [5, 14]"),
    "labels of the wrong length for fit": (_fit(_cvae, IMAGES, LABELS[:50]), ValueError, "labels of shape (50,)"),
    "float labels for fit": (_fit(_cvae, IMAGES, LABELS.astype("float32")), ValueError, "integer class labels"),
    "batch not divisible by k": (_fit(_wgan, _batches(IMAGES, batch_size=32)), ValueError, "a multiple of 5"),
    "indexed model without indices": (_fit(_glo, IMAGES), ValueError, "(images, indices)"),
    "indices beyond num_images": (_fit(_glo, IMAGES, np.arange(96) + 10), ValueError, "num_images=96 codes"),
    # Every later batch of a dataset is checked too, with the same message.
    "later batch outside the range": (_fit(_vae, _batches(_with(IMAGES, 70, 3.0))), ValueError,
                                      "got values in [-0.999"),
    "later batch with NaN": (_fit(_vae, _batches(_with(IMAGES, 70, np.nan))), ValueError,
                             "got values in [nan, nan] in batch 3 of the epoch"),
    "later batch with bad labels": (_fit(_cvae, _batches(IMAGES, _with(LABELS, 80, 12))), ValueError,
                                    "got labels in [0, 12] in batch 3 of the epoch"),
    "later batch not divisible by k": (_fit(_wgan, _batches(IMAGES[:88], batch_size=40)), ValueError,
                                       "got batches of 8 in batch 3 of the epoch"),
    "later batch with bad indices": (_fit(_glo, _batches(IMAGES, np.arange(96) + 1)), ValueError,
                                     "got image indices in [65, 96] in batch 3 of the epoch"),
    "later batch in validation data": (_fit(_vae, IMAGES, validation_data=_batches(_with(IMAGES, 40, 9.0))),
                                       ValueError, "in batch 2 of the epoch"),
    "later batch for evaluate": (lambda p: _vae().evaluate(_batches(_with(IMAGES, 70, -4.0)), verbose=0), ValueError,
                                 "got values in [-4"),
    # Models and networks.
    "image shape the networks cannot build": (lambda p: kerasgen.models.VAE(image_shape=(30, 30, 1)), ValueError,
                                              "divisible by 4"),
    "image shape without channels": (lambda p: kerasgen.models.VAE(image_shape=(28, 28)), ValueError,
                                     "need a channel axis"),
    "latent_dim 0": (lambda p: kerasgen.models.VAE(latent_dim=0), ValueError, "latent_dim must be a positive integer"),
    "generate(-1)": (lambda p: kerasgen.models.VAE(latent_dim=2).generate(-1), ValueError,
                     "num_samples must be an int >= 0"),
    "generate(2.5)": (lambda p: kerasgen.models.DCGAN(latent_dim=8, base_filters=8).generate(2.5), ValueError,
                      "num_samples must be an int >= 0"),
    "generate with too few labels": (lambda p: _cvae().generate(4, labels=[1, 2]), ValueError, "Got 2 labels for 4"),
    "DDIM steps beyond T": (lambda p: _ddpm().generate(2, steps=41), ValueError, "steps must be in [1, T=40], got 41"),
    "DDPM timesteps below 2": (lambda p: kerasgen.models.DDPM(timesteps=1), ValueError, "timesteps (T) must be >= 2"),
    "unknown beta schedule": (lambda p: kerasgen.models.DDPM(beta_schedule="quadratic"), ValueError,
                              "beta_schedule must be one of ('linear', 'cosine')"),
    "flow image shape it cannot squeeze": (lambda p: kerasgen.models.RealNVP(image_shape=(28, 30, 1), num_scales=3),
                                           ValueError, "must be divisible by 4, got 28x30. Choose fewer scales"),
    "flow images outside the value range": (_fit(_realnvp, IMAGES * 255), ValueError, "expects images in [-1, 1]"),
    "flow log_prob of integer images": (lambda p: _realnvp().log_prob(np.zeros((2, 28, 28, 1), "uint8")), ValueError,
                                        "expects float images"),
    "negative sampling temperature": (lambda p: _realnvp().generate(2, temperature=-0.5), ValueError,
                                      "temperature must be >= 0"),
    # SavedModel signatures.
    "NaN z for a SavedModel": (lambda p: _export(_vae(), p).signatures["serving_default"](
        z=tf.constant([[np.nan, 0.0]])), tf.errors.InvalidArgumentError, "z must be float32 (batch, 2) with finite"),
    "infinite z for a SavedModel": (lambda p: _export(_vae(), p).signatures["decode"](
        z=tf.constant([[np.inf, 0.0]])), tf.errors.InvalidArgumentError, "with finite values"),
    # Checkpoints.
    "truncated checkpoint": (lambda p: callbacks.load_checkpoint(_checkpoint(p, truncate=True)), callbacks.CheckpointError,
                             "corrupt or partial"),
    "state claiming more epochs than requested": (lambda p: callbacks.load_checkpoint(_checkpoint(
        p, epochs_completed=7, epochs_requested=5)), callbacks.CheckpointError, "corrupt"),
    "state with a negative epoch count": (lambda p: callbacks.load_checkpoint(_checkpoint(p, epochs_completed=-1)),
                                          callbacks.CheckpointError, "corrupt"),
    "state that is not JSON": (lambda p: callbacks.load_checkpoint(_checkpoint(p, state_text="{oops")),
                               callbacks.CheckpointError, "unreadable"),
    "state without its model": (lambda p: callbacks.load_checkpoint(_checkpoint(p, remove_model=True)),
                                callbacks.CheckpointError, "model.keras is missing"),
}


def _checkpoint(tmp_path, truncate=False, state_text=None, remove_model=False, **state):
    """A one-epoch checkpoint of a tiny autoencoder in `tmp_path`, then damaged as asked."""
    path = tmp_path / "model.keras"
    model = kerasgen.models.AutoEncoder(latent_dim=2)
    model.compile()
    model.fit(IMAGES[:32], batch_size=32, epochs=1, verbose=0, callbacks=[callbacks.AtomicModelCheckpoint(str(path))])
    state_path = tmp_path / "model.state.json"
    if state:
        state_path.write_text(json.dumps({**json.loads(state_path.read_text()), **state}))
    if state_text is not None:
        state_path.write_text(state_text)
    if truncate:
        path.write_bytes(path.read_bytes()[:1000])
    if remove_model:
        path.unlink()
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_a_clear_error(case, tmp_path):
    call, error_type, fragment = CASES[case]
    if case == "empty data_dir" and not HAVE_FASHION:
        pytest.skip("dataset-fashion-mnist not installed")
    with pytest.raises(error_type) as raised:
        call(tmp_path)
    assert type(raised.value) is error_type
    message = raised.value.message if isinstance(raised.value, tf.errors.OpError) else str(raised.value)
    assert fragment in message, message


def test_an_empty_data_dir_message_does_not_claim_the_debian_folder_is_empty(tmp_path):
    if not HAVE_FASHION:
        pytest.skip("dataset-fashion-mnist not installed")
    with pytest.raises(DatasetError) as raised:
        datasets.load("fashion_mnist", data_dir=str(tmp_path))
    message = str(raised.value)
    assert f"no IDX files in {tmp_path}" in message
    assert f"{datasets.FASHION_MNIST_DIR} does hold them" in message


# --------------------------------------------------------------- degenerate requests
@pytest.mark.parametrize("name", ["vae", "cvae", "wae", "dcgan", "pixelcnn", "pixelrnn", "glo", "ddpm", "realnvp"])
def test_generate_zero_returns_zero_images_of_the_right_shape(name):
    spec = kerasgen.models.REGISTRY[name]
    kwargs = dict(spec.small_config, **({"num_images": 8} if spec.indexed else {}))
    images = spec.create(**kwargs).generate(0)
    assert tuple(images.shape) == (0, 28, 28, 1) and images.dtype == "float32"


def test_saved_model_signatures_return_empty_outputs_for_empty_batches(tmp_path):
    loaded = _export(_cvae(), tmp_path)
    empty = {
        "serving_default": {"z": tf.zeros((0, 2)), "labels": tf.zeros((0,), tf.int32)},
        "decode": {"z": tf.zeros((0, 2)), "labels": tf.zeros((0,), tf.int32)},
        "encode": {"images": tf.zeros((0, 28, 28, 1)), "labels": tf.zeros((0,), tf.int32)},
        "reconstruct": {"images": tf.zeros((0, 28, 28, 1)), "labels": tf.zeros((0,), tf.int32)},
    }
    for name, inputs in empty.items():
        outputs = loaded.signatures[name](**inputs)
        for key, value in outputs.items():
            expected = (0, 2) if key.startswith("z_") else (0, 28, 28, 1)
            assert tuple(value.shape) == expected, (name, key)


# ------------------------------------------------------------------------- the CLI
TINY = ["--limit", "64", "--batch-size", "32", "--latent-dim", "2"]


def _cli_error(argv, capsys):
    """The message of the SystemExit `kerasgen argv` ends with (argparse's usage error from stderr)."""
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    code = raised.value.code
    return capsys.readouterr().err if code == 2 else str(code)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "ae", "--epochs", "0"], "--epochs: must be a positive integer, got 0"),
        (["train", "ae", "--epochs", "-1"], "--epochs: must be a positive integer, got -1"),
        (["train", "ae", "--latent-dim", "0"], "--latent-dim: must be a positive integer"),
        (["train", "ae", "--batch-size", "0"], "--batch-size: must be a positive integer"),
        (["train", "ae", "--limit", "0"], "--limit: must be a positive integer"),
        (["train", "ae", "--learning-rate", "0"], "--learning-rate: must be a positive finite number"),
        (["train", "ae", "--learning-rate", "-0.1"], "--learning-rate: must be a positive finite number"),
        (["train", "ae", "--learning-rate", "nan"], "--learning-rate: must be a positive finite number"),
        (["train", "ae", "--epochs", "two"], "expected a positive integer, got 'two'"),
        (["sample", "runs/x", "--num", "0"], "--num: must be a positive integer"),
        (["evaluate", "runs/x", "--num-samples", "0"], "--num-samples: must be a positive integer"),
        (["export", "runs/x", "--out", "o", "--version", "-1"], "--version: must be a non-negative integer"),
    ],
)
def test_cli_refuses_impossible_values(argv, fragment, capsys):
    assert fragment in _cli_error(argv, capsys)


def test_cli_refuses_an_out_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("not a folder")
    message = _cli_error(["train", "ae", *TINY, "--out", str(target)], capsys)
    assert message.startswith("--out") and "is a file, not a folder" in message and "\n" not in message


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished one-epoch `kerasgen train ae` run folder, and the SHA-256 of its model."""
    run = tmp_path_factory.mktemp("run") / "ae"
    cli.main(["train", "ae", *TINY, "--epochs", "1", "--out", str(run)])
    return run, callbacks._sha256(run / "model.keras")


def test_training_never_overwrites_a_run_silently(trained_run, capsys):
    run, sha = trained_run
    message = _cli_error(["train", "ae", *TINY, "--epochs", "1", "--out", str(run)], capsys)
    assert "never overwrites" in message and "--resume" in message and "--overwrite" in message
    assert callbacks._sha256(run / "model.keras") == sha


def test_resume_refuses_a_different_architecture_or_data(trained_run, capsys):
    run, sha = trained_run
    message = _cli_error(["train", "ae", "--latent-dim", "3", "--epochs", "2", "--out", str(run), "--resume"], capsys)
    assert "--latent-dim 3" in message and "latent_dim 2" in message
    message = _cli_error(["train", "ae", "--batch-size", "16", "--epochs", "2", "--out", str(run), "--resume"], capsys)
    assert "differ from the run's own: --batch-size 16 (the run's: 32)" in message
    message = _cli_error(["train", "ae", "--model-arg", "filters=(8,)", "--epochs", "2", "--out", str(run), "--resume"],
                         capsys)
    assert "--model-arg filters=(8,)" in message
    message = _cli_error(["train", "ae", "--epochs", "2", "--out", str(run), "--resume", "--overwrite"], capsys)
    assert "pass one of them" in message
    assert callbacks._sha256(run / "model.keras") == sha


def test_resuming_a_finished_run_has_nothing_to_do(trained_run, capsys):
    run, _ = trained_run
    cli.main(["train", "ae", "--epochs", "1", "--out", str(run), "--resume"])
    assert "nothing to do" in capsys.readouterr().out


def test_resume_without_a_state_record_does_not_advise_overwriting(tmp_path, trained_run, capsys):
    run, sha = trained_run
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "model.keras").write_bytes((run / "model.keras").read_bytes())
    message = _cli_error(["train", "ae", *TINY, "--epochs", "2", "--out", str(copy), "--resume"], capsys)
    assert "no model.state.json" in message and "left untouched" in message and "copy it elsewhere" in message
    message = _cli_error(["train", "ae", *TINY, "--epochs", "2", "--out", str(copy)], capsys)
    assert "already holds a model.keras" in message
    assert callbacks._sha256(copy / "model.keras") == sha


def test_resume_applies_a_new_learning_rate_and_says_so(tmp_path, trained_run, capsys):
    run, _ = trained_run
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.keras", "model.state.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    cli.main(["train", "ae", "--epochs", "2", "--learning-rate", "0.0005", "--out", str(copy), "--resume"])
    assert "Learning rate set to 0.0005 for the resumed epochs (the run used 0.001)" in capsys.readouterr().out
    model, epochs = callbacks.load_checkpoint(copy / "model.keras")
    assert epochs == 2 and int(model.optimizer.iterations) == 4  # 64 images in batches of 32, the run's own
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.optimizer.learning_rate), 5e-4)


def test_overwrite_trains_from_scratch(tmp_path, trained_run):
    run, _ = trained_run
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.keras", "model.state.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    cli.main(["train", "ae", *TINY, "--latent-dim", "3", "--epochs", "1", "--out", str(copy), "--overwrite"])
    model, epochs = callbacks.load_checkpoint(copy / "model.keras")
    assert model.latent_dim == 3 and epochs == 1


# -------------------------------------------------------------- diverging training
def test_exploding_losses_stop_training_and_only_finite_models_are_kept(tmp_path, capsys):
    """DCGAN at learning rate 1e6: huge-but-finite losses and weights stop training too."""
    run = tmp_path / "run"
    args = ["train", "dcgan", "--limit", "256", "--batch-size", "64", "--latent-dim", "8",
            "--model-arg", "base_filters=8", "--epochs", "3", "--learning-rate", "1e6", "--out", str(run)]
    message = _cli_error(args, capsys)
    assert "Training diverged in epoch 1" in message and "Lower the learning rate" in message
    assert "Nothing was saved" in message and not (run / "model.keras").exists()


def test_divergence_after_a_good_epoch_keeps_that_epoch_and_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    cli.main(["train", "ae", *TINY, "--epochs", "1", "--out", str(run)])
    model, _ = callbacks.load_checkpoint(run / "model.keras")
    # A weight beyond the divergence bound: the next epoch must not be saved.
    kernel = model.decoder.trainable_weights[0]
    kernel.assign(np.full(kernel.shape, 1e11, "float32"))
    model.save(run / "model.keras")
    state = json.loads((run / "model.state.json").read_text())
    state["sha256"] = callbacks._sha256(run / "model.keras")
    (run / "model.state.json").write_text(json.dumps(state))
    sha = state["sha256"]
    message = _cli_error(["train", "ae", "--epochs", "2", "--out", str(run), "--resume"], capsys)
    assert "Training diverged in epoch 2" in message
    assert "holds epoch 1, the last complete epoch" in message
    assert callbacks._sha256(run / "model.keras") == sha  # the diverged epoch 2 was not saved


def test_checkpoint_never_saves_non_finite_weights(tmp_path):
    model = kerasgen.models.AutoEncoder(latent_dim=2)
    model.compile()
    model.fit(IMAGES[:32], batch_size=32, epochs=1, verbose=0)
    checkpoint = callbacks.AtomicModelCheckpoint(str(tmp_path / "model.keras"))
    checkpoint.set_model(model)
    kernel = model.encoder.trainable_weights[0]
    kernel.assign(np.full(kernel.shape, np.inf, "float32"))
    checkpoint.on_epoch_end(0, {"loss": 0.5})  # the logged loss was finite before the last update
    assert not (tmp_path / "model.keras").exists()
    assert "weight tensors" in checkpoint.skipped[1]
    assert callbacks.diverged_weights(model) == [kernel.path]
    assert callbacks.diverged_values({"loss": 2e10, "kl": 1.0}) == {"loss": 2e10}
