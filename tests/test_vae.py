"""VAE and ConditionalVAE: training, sampling, encoding, ELBO bookkeeping, validation, saving."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import models  # noqa: E402

LOSS_NAMES = {"loss", "reconstruction_loss", "kl_loss", "neg_elbo"}


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def train(model, images, labels=None, epochs=2):
    """Compiles and fits `model` for `epochs` on `images` (batch 128), seeded."""
    keras.utils.set_random_seed(0)
    model.compile()
    return model.fit(images, labels, batch_size=128, epochs=epochs, verbose=0).history


@pytest.fixture(scope="module")
def trained_vae(fashion_mnist_subset):
    """A Bernoulli VAE (latent_dim 4) after 2 epochs on 1024 Fashion-MNIST images, and its history."""
    keras.utils.set_random_seed(0)
    vae = models.VAE(latent_dim=4)
    return vae, train(vae, fashion_mnist_subset[0][:1024])


@pytest.fixture(scope="module")
def trained_cvae(fashion_mnist_subset):
    """A ConditionalVAE (latent_dim 4, 10 classes) after 2 epochs on 1024 labelled images."""
    keras.utils.set_random_seed(0)
    images, labels = fashion_mnist_subset
    cvae = models.ConditionalVAE(latent_dim=4)
    return cvae, train(cvae, images[:1024], labels[:1024])


def assert_losses_fall(history):
    assert set(history) == LOSS_NAMES
    for name in LOSS_NAMES:
        assert len(history[name]) == 2 and np.all(np.isfinite(history[name])), name
    assert history["loss"][1] < history["loss"][0]
    assert history["reconstruction_loss"][1] < history["reconstruction_loss"][0]
    assert min(history["kl_loss"]) >= 0.0


# --------------------------------------------------------------------- training
def test_vae_bernoulli_loss_falls(trained_vae):
    assert_losses_fall(trained_vae[1])


def test_vae_gaussian_loss_falls(fashion_mnist_subset):
    vae = models.VAE(latent_dim=4, likelihood="gaussian")
    assert_losses_fall(train(vae, fashion_mnist_subset[0][:1024]))


def test_cvae_loss_falls(trained_cvae):
    assert_losses_fall(trained_cvae[1])


def test_cvae_trains_from_labelled_dataset(fashion_mnist_subset):
    images, labels = fashion_mnist_subset
    cvae = models.ConditionalVAE(latent_dim=2, num_classes=10)
    cvae.compile()
    dataset = tf.data.Dataset.from_tensor_slices((images[:256], labels[:256])).batch(128)
    history = cvae.fit(dataset, epochs=1, verbose=0).history
    assert set(history) == LOSS_NAMES and np.isfinite(history["loss"][0])
    assert int(cvae.optimizer.iterations) == 2


# --------------------------------------------------------------------- sampling and encoding
def test_generate_is_reproducible_and_varied(trained_vae):
    vae, _ = trained_vae
    first = to_np(vae.generate(16, seed=0))
    second = to_np(vae.generate(16, seed=0))
    assert first.shape == (16, 28, 28, 1)
    np.testing.assert_array_equal(first, second)
    assert first.min() >= -1.0 and first.max() <= 1.0
    # Different prior draws decode to different images.
    assert first.std(axis=0).mean() > 0.01
    assert not np.allclose(to_np(vae.generate(16, seed=1)), first)
    # seed=None advances the model's own SeedGenerator.
    assert not np.array_equal(to_np(vae.generate(4)), to_np(vae.generate(4)))


def test_encode_decode_reconstruct(trained_vae, fashion_mnist_subset):
    vae, _ = trained_vae
    images = fashion_mnist_subset[0][1024:1056]
    z_mean, z_log_var = vae.encode(images)
    z_mean, z_log_var = to_np(z_mean), to_np(z_log_var)
    assert z_mean.shape == z_log_var.shape == (32, 4)
    assert np.all(np.isfinite(z_mean)) and np.all(np.isfinite(z_log_var))
    reconstruction = to_np(vae.reconstruct(images))
    assert reconstruction.shape == images.shape
    np.testing.assert_allclose(reconstruction, to_np(vae.decode(z_mean)), atol=1e-6)
    # call / predict decode the posterior mean: deterministic at inference.
    np.testing.assert_allclose(to_np(vae(images)), reconstruction, atol=1e-6)
    np.testing.assert_allclose(vae.predict(images, verbose=0), reconstruction, atol=1e-5)
    # training=True decodes a posterior sample instead.
    assert not np.allclose(to_np(vae(images, training=True)), reconstruction, atol=1e-4)


def test_cvae_generate_per_class(trained_cvae):
    cvae, _ = trained_cvae
    per_class = to_np(cvae.generate(10, labels=range(10), seed=0))
    assert per_class.shape == (10, 28, 28, 1)
    assert per_class.min() >= -1.0 and per_class.max() <= 1.0
    # Default labels are 0, 1, 2, ...
    np.testing.assert_array_equal(to_np(cvae.generate(10, seed=0)), per_class)
    # Same z (same seed), different label: only the first row (label 0 in both) coincides.
    all_zero = to_np(cvae.generate(10, labels=[0] * 10, seed=0))
    np.testing.assert_array_equal(all_zero[0], per_class[0])
    for i in range(1, 10):
        assert not np.allclose(all_zero[i], per_class[i], atol=1e-4), i
    z_mean, z_log_var = cvae.encode(per_class, labels=np.arange(10))
    assert to_np(z_mean).shape == to_np(z_log_var).shape == (10, 4)


def test_cvae_rejects_bad_labels(trained_cvae, fashion_mnist_subset):
    cvae, _ = trained_cvae
    for bad in ([0, 10], [-1, 3]):
        with pytest.raises(ValueError, match="num_classes=10"):
            cvae.generate(2, labels=bad)
    with pytest.raises(ValueError, match="3 samples"):
        cvae.generate(3, labels=[0, 1])
    images, labels = fashion_mnist_subset
    with pytest.raises(ValueError, match="num_classes=10"):
        cvae.fit(images[:8], np.full(8, 10, np.int32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="integer class labels"):
        cvae.fit(images[:8], labels[:8].astype(np.float32), epochs=1, verbose=0)


def test_cvae_requires_labels(fashion_mnist_subset):
    cvae = models.ConditionalVAE(latent_dim=2)
    cvae.compile()
    images = fashion_mnist_subset[0][:16]
    with pytest.raises(ValueError, match="labels"):
        cvae.fit(images, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels"):
        cvae.fit(tf.data.Dataset.from_tensor_slices(images).batch(8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="labels"):
        cvae.evaluate(images, verbose=0)
    with pytest.raises(ValueError, match=r"\[images, labels\]"):
        cvae(images)
    assert int(cvae.optimizer.iterations) == 0


# --------------------------------------------------------------------- ELBO bookkeeping
def test_evaluate_reports_consistent_elbo_terms(trained_vae, fashion_mnist_subset):
    vae, _ = trained_vae
    result = vae.evaluate(fashion_mnist_subset[0][1024:1280], batch_size=128, verbose=0, return_dict=True)
    assert set(result) == LOSS_NAMES
    assert result["kl_loss"] > 0.0 and result["reconstruction_loss"] > 0.0
    np.testing.assert_allclose(
        result["neg_elbo"], result["reconstruction_loss"] + result["kl_loss"], rtol=1e-5
    )
    assert vae.beta == 1.0
    np.testing.assert_allclose(result["loss"], result["neg_elbo"], rtol=1e-6)


def test_beta_weights_only_the_objective(small_images):
    vae = models.VAE(latent_dim=2, beta=0.25, seed=0)
    vae.compile()
    result = vae.evaluate(small_images, batch_size=32, verbose=0, return_dict=True)
    recon, kl = result["reconstruction_loss"], result["kl_loss"]
    assert kl > 0.0
    np.testing.assert_allclose(result["loss"], recon + 0.25 * kl, rtol=1e-5)
    np.testing.assert_allclose(result["neg_elbo"], recon + kl, rtol=1e-5)
    assert result["loss"] < result["neg_elbo"]


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize("conditional", [False, True], ids=["vae", "cvae"])
def test_fit_rejects_bad_images(conditional, fashion_mnist_subset):
    model = models.ConditionalVAE(latent_dim=2) if conditional else models.VAE(latent_dim=2)
    model.compile()
    images, labels = fashion_mnist_subset[0][:32], fashion_mnist_subset[1][:32]
    y = labels if conditional else None
    uint8 = np.round((images + 1.0) * 127.5).astype(np.uint8)
    with pytest.raises(ValueError, match="to_value_range"):
        model.fit(uint8, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expects images in \[-1, 1\], got values in \[0, 255\]"):
        model.fit(uint8.astype(np.float32), y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="channel axis"):
        model.fit(images[..., 0], y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        nan_images = images.copy()
        nan_images[0, 0, 0, 0] = np.nan
        model.fit(nan_images, y, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_value_range_is_the_models_own(fashion_mnist_subset):
    vae = models.VAE(latent_dim=2, value_range=(0.0, 1.0))
    vae.compile()
    images = fashion_mnist_subset[0][:16]  # in [-1, 1]
    with pytest.raises(ValueError, match=r"expects images in \[0, 1\]"):
        vae.fit(images, epochs=1, verbose=0)
    history = vae.fit((images + 1.0) / 2.0, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    generated = to_np(vae.generate(4, seed=0))
    assert generated.min() >= 0.0 and generated.max() <= 1.0


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="likelihood"):
        models.VAE(latent_dim=2, likelihood="poisson")
    with pytest.raises(ValueError, match="decoder_std"):
        models.VAE(latent_dim=2, likelihood="gaussian", decoder_std=0.0)
    with pytest.raises(ValueError, match="beta"):
        models.VAE(latent_dim=2, beta=-1.0)
    with pytest.raises(ValueError, match="channel axis"):
        models.VAE(latent_dim=2, image_shape=(28, 28))


# --------------------------------------------------------------------- config and saving
@pytest.mark.parametrize(
    "make",
    [
        lambda: models.VAE(latent_dim=3, likelihood="gaussian", decoder_std=0.2, beta=0.5, seed=3),
        lambda: models.ConditionalVAE(latent_dim=3, num_classes=5, value_range=(0.0, 1.0)),
    ],
    ids=["vae", "cvae"],
)
def test_config_round_trip(make):
    model = make()
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config, "from_config must not consume the config it is given"
    assert type(clone) is type(model)
    assert clone.get_config() == config
    for attr in ("latent_dim", "image_shape", "value_range", "num_classes", "likelihood",
                 "decoder_std", "beta", "seed"):
        assert getattr(clone, attr) == getattr(model, attr), attr
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_vae_save_load_resume(fashion_mnist_subset, check_save_load_resume, small_images):
    vae = models.VAE(latent_dim=4)
    vae, loaded = check_save_load_resume(vae, fashion_mnist_subset[0][:512])
    # The loaded model samples and encodes like the original.
    np.testing.assert_allclose(to_np(loaded.generate(8, seed=0)), to_np(vae.generate(8, seed=0)), atol=1e-6)
    for a, b in zip(loaded.encode(small_images), vae.encode(small_images)):
        np.testing.assert_allclose(to_np(a), to_np(b), atol=1e-5)
