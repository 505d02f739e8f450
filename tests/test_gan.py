"""Adversarial models: Algorithm 1 bookkeeping, WGAN clipping, penalties, EMA, mode coverage."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
from scipy import stats

import kerasgen
from kerasgen import losses, networks
from kerasgen.models import DCGAN, GAN, WGAN, WGANGP, ConditionalGAN

SMALL = {"latent_dim": 8, "base_filters": 8}


def test_discriminator_takes_k_updates_per_generator_update(fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    model = DCGAN(discriminator_steps=3, **SMALL)
    model.compile()
    model.fit(images[:576], batch_size=96, epochs=1, verbose=0)  # 6 iterations of 3 x 32
    assert int(model.optimizer.iterations.numpy()) == 6
    assert int(model.discriminator_optimizer.iterations.numpy()) == 18


def test_each_discriminator_update_sees_its_own_real_minibatch():
    seen = []

    class Spy(GAN):
        def discriminator_step(self, real, labels):
            seen.append(keras.ops.convert_to_numpy(real)[:, 0, 0, 0].copy())
            return super().discriminator_step(real, labels)

    model = Spy(latent_dim=2, image_shape=(1, 1, 1), discriminator_steps=4, value_range=(0.0, 1000.0))
    model.compile(run_eagerly=True)
    batch = np.arange(32, dtype="float32").reshape(32, 1, 1, 1)  # every example has its own value
    model.fit(batch, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert len(seen) == 4
    assert [len(chunk) for chunk in seen] == [8, 8, 8, 8]
    np.testing.assert_array_equal(np.concatenate(seen), np.arange(32))  # disjoint, covering the batch


def test_batch_not_divisible_by_k_is_refused_with_advice(small_images):
    model = WGAN(**SMALL)
    model.compile()
    with pytest.raises(ValueError, match=r"multiple of 5.*320"):
        model.fit(small_images, batch_size=32, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"batches of 32"):  # Keras's default batch size for arrays
        model.fit(small_images, epochs=1, verbose=0)
    dataset = kerasgen.datasets.load((small_images + 1.0) / 2.0, batch_size=48)  # load() takes [0, 1] floats
    with pytest.raises(ValueError, match=r"batches of 48"):
        model.fit(dataset, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_wgan_defaults_follow_the_paper():
    model = WGAN(**SMALL)
    model.compile()
    assert model.discriminator_steps == 5 and model.clip_value == 0.01
    assert model.adversarial_loss == "wasserstein" and model.critic is model.discriminator
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert isinstance(model.discriminator_optimizer, keras.optimizers.RMSprop)
    assert float(model.discriminator_optimizer.learning_rate.numpy()) == pytest.approx(5e-5)


def test_wgan_gp_defaults_follow_the_paper():
    model = WGANGP(**SMALL)
    model.compile()
    assert model.discriminator_steps == 5 and model.gradient_penalty_weight == 10.0
    optimizer = model.discriminator_optimizer
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert (float(optimizer.learning_rate.numpy()), optimizer.beta_1, optimizer.beta_2) == pytest.approx((1e-4, 0.0, 0.9))  # Algorithm 1
    norms = [layer for layer in model.critic.layers if "norm" in layer.name]
    assert norms and all(isinstance(layer, keras.layers.LayerNormalization) for layer in norms)


def test_wgan_critic_weights_stay_clipped_after_every_update(fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    model = WGAN(discriminator_steps=2, **SMALL)
    model.compile(keras.optimizers.RMSprop(5e-2), keras.optimizers.RMSprop(5e-2))  # large steps to leave [-c, c]
    largest = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            largest.append(max(float(np.abs(w.numpy()).max()) for w in model.critic.trainable_variables))

    model.fit(images[:256], batch_size=64, epochs=1, verbose=0, callbacks=[Check()])
    assert len(largest) == 4
    assert max(largest) <= 0.01 + 1e-7
    assert max(largest) == pytest.approx(0.01)  # the clip was active, not just never reached
    # ... and directly after a single critic update, before any generator step.
    model.discriminator_step(images[:32], None)
    assert max(float(np.abs(w.numpy()).max()) for w in model.critic.trainable_variables) <= 0.01 + 1e-7


def test_gradient_penalty_interpolates_with_uniform_per_example_weights(monkeypatch, small_images):
    drawn = []
    original = losses.gradient_penalty

    def spy(critic, real, fake, epsilon, one_sided=False):
        drawn.append(keras.ops.convert_to_numpy(epsilon))
        return original(critic, real, fake, epsilon, one_sided)

    monkeypatch.setattr(losses, "gradient_penalty", spy)
    model = WGANGP(discriminator_steps=1, **SMALL)
    model.compile(run_eagerly=True)
    model.fit(small_images, batch_size=32, epochs=4, verbose=0)
    weights = np.concatenate(drawn)
    assert drawn[0].shape == (32,)  # one weight per example
    assert len(np.unique(weights)) == len(weights)
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    assert stats.kstest(weights, "uniform").pvalue > 0.01  # U[0, 1], not N(0, 1)


@pytest.mark.parametrize(
    "arguments, penalty",
    [({"r1_gamma": 10.0}, "r1_penalty"), ({"consistency_weight": 10.0}, "consistency_penalty"),
     ({"drift_weight": 1e-3, "adversarial_loss": "wasserstein"}, "drift_penalty"),
     ({"gradient_penalty_weight": 10.0, "one_sided_penalty": True}, "gradient_penalty")],
)
def test_penalties_compose_with_any_gan(arguments, penalty, fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    model = DCGAN(**SMALL, **arguments)
    model.compile()
    history = model.fit(images[:256], batch_size=64, epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", penalty}
    assert np.isfinite(history[penalty][0]) and history[penalty][0] >= 0.0


def test_unknown_loss_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="least_squares"):
        GAN(adversarial_loss="wasserstien")
    with pytest.raises(ValueError, match="discriminator_steps"):
        GAN(discriminator_steps=0)
    with pytest.raises(ValueError, match="ema_decay"):
        GAN(ema_decay=1.5)


def test_generator_ema_warms_up_then_follows_its_formula_and_drives_generate(small_images):
    """theta_ema <- d_t theta_ema + (1 - d_t) theta after generator update t, d_t = min(decay, (1 + t) / (10 + t)):
    with decay 0.3, d = 2/11, 3/12 (warm-up), then 0.3, 0.3."""
    model = DCGAN(ema_decay=0.3, **SMALL)
    model.compile()
    expected = [w.numpy().copy() for w in model.ema_generator.weights]
    decays = []

    class Average(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            t = batch + 1
            decays.append(min(0.3, (1 + t) / (10 + t)))
            for i, weight in enumerate(model.generator.weights):
                expected[i] = decays[-1] * expected[i] + (1 - decays[-1]) * weight.numpy()

    model.fit(small_images, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[Average()])
    assert int(model.optimizer.iterations.numpy()) == 4
    np.testing.assert_allclose(decays, [2 / 11, 3 / 12, 0.3, 0.3])
    for ema, want in zip(model.ema_generator.weights, expected):
        np.testing.assert_allclose(ema.numpy(), want, rtol=1e-5, atol=1e-6)
    z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    np.testing.assert_allclose(model.predict(z, verbose=0), model.ema_generator.predict(z, verbose=0), atol=1e-6)
    assert not model.ema_generator.trainable_weights


def test_conditional_gan_samples_the_requested_classes(fashion_mnist_subset):
    images, labels = fashion_mnist_subset
    model = ConditionalGAN(**SMALL)
    model.compile()
    model.fit(images[:256], labels[:256], batch_size=64, epochs=1, verbose=0)
    same_z = [keras.ops.convert_to_numpy(model.generate(1, labels=[c], seed=5)) for c in range(3)]
    assert not np.allclose(same_z[0], same_z[1])  # the label changes the image for a fixed z
    with pytest.raises(ValueError, match="labels"):
        model.fit(images[:64], batch_size=64, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="num_classes=10"):
        model.generate(2, labels=[3, 12])


def _eight_gaussians(count, rng, radius=1.0, std=0.05):
    angles = 2 * np.pi * np.arange(8) / 8
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points = centers[rng.integers(0, 8, count)] + std * rng.normal(size=(count, 2))
    return points.astype("float32").reshape(count, 1, 1, 2), centers


def test_gan_covers_the_modes_of_a_mixture_of_eight_gaussians():
    """The classic 2-D mode-collapse check: a seeded MLP GAN must cover >= 6 of 8 modes."""
    keras.utils.set_random_seed(0)
    data, centers = _eight_gaussians(16384, np.random.default_rng(0))
    shape, value_range = (1, 1, 2), (-1.5, 1.5)
    model = GAN(
        latent_dim=2, image_shape=shape, value_range=value_range, seed=0,
        generator=networks.mlp_generator(2, shape, hidden_units=(128, 128), value_range=value_range),
        discriminator=networks.mlp_discriminator(shape, hidden_units=(128, 128)),
    )
    model.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    model.fit(data, batch_size=256, epochs=25, verbose=0)
    samples = keras.ops.convert_to_numpy(model.generate(2000, seed=0)).reshape(-1, 2)
    distances = np.linalg.norm(samples[:, None, :] - centers[None], axis=-1)
    per_mode = (distances < 0.15).sum(axis=0)  # within 3 standard deviations
    assert (per_mode >= 20).sum() >= 6, per_mode
    assert (distances.min(axis=1) < 0.15).mean() > 0.5, "most samples should land on a mode"


@pytest.mark.parametrize("name", ["gan", "dcgan", "lsgan", "wgan", "wgan_gp", "sngan"])
def test_trains_on_fashion_mnist_without_nan_and_samples_vary(name, fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    spec = kerasgen.models.REGISTRY[name]
    model = spec.create(**spec.small_config)
    model.compile()
    batch = 32 * model.discriminator_steps
    history = model.fit(images[: 8 * batch], batch_size=batch, epochs=2, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    samples = keras.ops.convert_to_numpy(model.generate(16, seed=0))
    assert samples.std(axis=0).mean() > 1e-3, "all samples are the same image"
    assert not np.allclose(samples, samples.mean()), "samples are constant"


@pytest.mark.parametrize("shape, base", [((28, 28, 1), (7, 7)), ((32, 32, 3), (4, 4)), ((64, 64, 3), (4, 4))])
def test_dcgan_networks_for_28_32_and_64_pixel_images(shape, base):
    generator = networks.dcgan_generator(16, shape, base_filters=8)
    discriminator = networks.dcgan_discriminator(shape, base_filters=8)
    z = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")
    images = keras.ops.convert_to_numpy(generator(z, training=False))
    assert images.shape == (2, *shape) and np.abs(images).max() <= 1.0
    assert tuple(generator.get_layer("project_bn").output.shape[1:3]) == base
    assert discriminator(images).shape == (2, 1)
    # Radford et al.: no pooling, no batch norm on the discriminator input layer.
    assert not any("pool" in layer.name for layer in generator.layers + discriminator.layers)
    names = [layer.name for layer in discriminator.layers]
    assert "down_0_norm" not in names and "down_1_norm" in names
