"""AutoEncoder and DenoisingAutoEncoder: corruption, inference, training, validation, saving."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import models  # noqa: E402


def to_np(x):
    return keras.ops.convert_to_numpy(x)


# --------------------------------------------------------------------- corruption
@pytest.mark.parametrize("corruption", [0.3, 0.5])
def test_masking_corrupts_the_expected_fraction(corruption):
    dae = models.DenoisingAutoEncoder(latent_dim=2, corruption=corruption, seed=0)
    low, high = dae.value_range
    ones = np.full((64, 28, 28, 1), high, np.float32)
    corrupted = to_np(dae.corrupt(ones, training=True))
    assert corrupted.shape == ones.shape
    masked = corrupted == low
    # Every pixel is either kept as is or set to the low end of the range.
    assert np.all(masked | (corrupted == high))
    # 50176 Bernoulli(p) draws: std of the fraction <= 0.0023, so +-0.01 is > 4 sigma.
    assert abs(masked.mean() - corruption) < 0.01
    # The model's SeedGenerator advances: a second call masks different pixels.
    again = to_np(dae.corrupt(ones, training=True)) == low
    assert not np.array_equal(masked, again)


def test_masking_uses_the_low_end_of_a_custom_value_range():
    dae = models.DenoisingAutoEncoder(latent_dim=2, value_range=(0.0, 1.0), corruption=0.5, seed=0)
    corrupted = to_np(dae.corrupt(np.full((8, 28, 28, 1), 0.75, np.float32), training=True))
    assert set(np.unique(corrupted).tolist()) == {0.0, 0.75}


def test_corruption_is_training_only(small_images):
    for noise in ("masking", "gaussian"):
        dae = models.DenoisingAutoEncoder(latent_dim=2, noise=noise, seed=0)
        np.testing.assert_array_equal(to_np(dae.corrupt(small_images, training=False)), small_images)
        np.testing.assert_array_equal(to_np(dae.corrupt(small_images)), small_images)
        assert not np.array_equal(to_np(dae.corrupt(small_images, training=True)), small_images)


def test_gaussian_noise_std_and_range():
    corruption = 0.05
    dae = models.DenoisingAutoEncoder(latent_dim=2, noise="gaussian", corruption=corruption, seed=0)
    low, high = dae.value_range
    zeros = np.zeros((64, 28, 28, 1), np.float32)  # mid-range: clipping needs a 10-sigma draw
    noisy = to_np(dae.corrupt(zeros, training=True)).astype(np.float64)
    expected_std = corruption * (high - low)  # 0.1
    n = noisy.size
    assert abs(noisy.mean()) < 5 * expected_std / np.sqrt(n)
    assert abs(noisy.std() - expected_std) < 5 * expected_std / np.sqrt(2 * n)

    # Heavy noise on saturated pixels is clipped back into the value range.
    heavy = models.DenoisingAutoEncoder(latent_dim=2, noise="gaussian", corruption=0.5, seed=0)
    out = to_np(heavy.corrupt(np.full((16, 28, 28, 1), high, np.float32), training=True))
    assert out.min() >= low and out.max() <= high
    # noise ~ N(0, 1): positive draws (p = 0.5) clip at `high`, draws below -2
    # (p = 0.0228) at `low`. 12544 pixels: standard errors 0.0045 and 0.0013.
    assert abs(np.mean(out == high) - 0.5) < 0.025
    assert abs(np.mean(out == low) - 0.0228) < 0.007


def test_dae_inference_sees_clean_input(small_images):
    dae = models.DenoisingAutoEncoder(latent_dim=4, corruption=0.5, seed=0)
    first = to_np(dae(small_images))
    second = to_np(dae(small_images))
    np.testing.assert_array_equal(first, second)
    assert first.shape == small_images.shape
    np.testing.assert_allclose(to_np(dae.reconstruct(small_images)), first, atol=1e-6)
    np.testing.assert_allclose(dae.predict(small_images, verbose=0), first, atol=1e-5)
    clean = to_np(dae.decode(dae.encode(small_images)))
    np.testing.assert_allclose(clean, first, atol=1e-6)
    # ... and what it reconstructs is not the reconstruction of a corrupted input.
    corrupted = dae.corrupt(small_images, training=True)
    assert not np.allclose(to_np(dae(corrupted)), first, atol=1e-6)


def test_autoencoder_shapes_and_bce_range(small_images):
    ae = models.AutoEncoder(latent_dim=3, reconstruction="bce", seed=0)
    codes = to_np(ae.encode(small_images))
    assert codes.shape == (64, 3)
    out = to_np(ae.decode(codes))
    assert out.shape == (64, 28, 28, 1)
    # Sigmoid outputs mapped back to value_range.
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert ae.corrupt(small_images, training=True) is small_images


# --------------------------------------------------------------------- training
@pytest.mark.parametrize(
    "make",
    [
        lambda: models.AutoEncoder(latent_dim=8, reconstruction="mse"),
        lambda: models.AutoEncoder(latent_dim=8, reconstruction="bce"),
        lambda: models.DenoisingAutoEncoder(latent_dim=8),
    ],
    ids=["ae-mse", "ae-bce", "dae"],
)
def test_loss_falls_on_fashion_mnist(make, fashion_mnist_subset):
    images = fashion_mnist_subset[0][:1024]
    model = make()
    model.compile()
    history = model.fit(images, batch_size=128, epochs=2, verbose=0).history
    assert set(history) == {"loss"}
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][1] < history["loss"][0]
    # evaluate reports the same (clean-input) loss as a per-example mean.
    result = model.evaluate(images[:256], batch_size=256, verbose=0, return_dict=True)
    assert set(result) == {"loss"} and 0.0 < result["loss"] < history["loss"][0]


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize("cls", [models.AutoEncoder, models.DenoisingAutoEncoder])
def test_fit_rejects_bad_images(cls, fashion_mnist_subset):
    model = cls(latent_dim=2)
    model.compile()
    images = fashion_mnist_subset[0][:64]
    uint8 = np.round((images + 1.0) * 127.5).astype(np.uint8)
    with pytest.raises(ValueError, match="to_value_range"):
        model.fit(uint8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="to_value_range"):
        model.fit(tf.data.Dataset.from_tensor_slices(uint8).batch(16), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expects images in \[-1, 1\], got values in \[0, 255\]"):
        model.fit(uint8.astype(np.float32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model.evaluate(uint8.astype(np.float32), verbose=0)
    with pytest.raises(ValueError, match="channel axis"):
        model.fit(images[..., 0], epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0  # nothing was trained


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="reconstruction"):
        models.AutoEncoder(latent_dim=2, reconstruction="l1")
    with pytest.raises(ValueError, match="noise"):
        models.DenoisingAutoEncoder(latent_dim=2, noise="salt")
    with pytest.raises(ValueError, match="corruption"):
        models.DenoisingAutoEncoder(latent_dim=2, corruption=1.0)
    with pytest.raises(ValueError, match="latent_dim"):
        models.AutoEncoder(latent_dim=0)
    with pytest.raises(ValueError, match="channel axis"):
        models.AutoEncoder(latent_dim=2, image_shape=(28, 28))
    with pytest.raises(ValueError, match="value_range"):
        models.AutoEncoder(latent_dim=2, value_range=(1.0, -1.0))


# --------------------------------------------------------------------- config and saving
@pytest.mark.parametrize(
    "make",
    [
        lambda: models.AutoEncoder(latent_dim=3, reconstruction="bce", value_range=(0.0, 1.0), seed=5),
        lambda: models.DenoisingAutoEncoder(latent_dim=3, noise="gaussian", corruption=0.2),
    ],
    ids=["ae", "dae"],
)
def test_config_round_trip(make, small_images):
    model = make()
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config, "from_config must not consume the config it is given"
    assert type(clone) is type(model)
    assert clone.get_config() == config
    for attr in ("latent_dim", "image_shape", "value_range", "reconstruction", "seed"):
        assert getattr(clone, attr) == getattr(model, attr)
    if isinstance(model, models.DenoisingAutoEncoder):
        assert (clone.noise, clone.corruption) == ("gaussian", 0.2)
    # Same architecture (weights are fresh, so only shapes are compared).
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_dae_save_load_resume(fashion_mnist_subset, check_save_load_resume):
    model = models.DenoisingAutoEncoder(latent_dim=4, corruption=0.3)
    model, loaded = check_save_load_resume(model, fashion_mnist_subset[0][:512])
    assert (loaded.noise, loaded.corruption) == ("masking", 0.3)
