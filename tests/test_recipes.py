"""Every default a GAN paper fixes is the paper's: optimizers, betas, learning rates,
n_critic, initialization, normalization, batch size, network layout, and WGAN's
critic warm-up schedule against the authors' training loop."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from kerasgen import networks
from kerasgen.layers import SpectralNormalization
from kerasgen.models import DCGAN, LSGAN, SNGAN, WGAN, WGANGP, ConditionalGAN

WEIGHTED = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)


def optimizer_settings(optimizer):
    """(class, learning rate, beta_1 or rho, beta_2 or None) of a compiled optimizer."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    if isinstance(optimizer, keras.optimizers.Adam):
        return ("adam", rate, optimizer.beta_1, optimizer.beta_2)
    return (type(optimizer).__name__.lower(), rate, optimizer.rho, None)


def both_optimizers(model):
    model.compile()
    return optimizer_settings(model.optimizer), optimizer_settings(model.discriminator_optimizer)


def weighted_layers(network):
    """The conv/dense layers of a network, unwrapped from spectral normalization."""
    found = []
    for layer in network.layers:
        inner = layer.layer if isinstance(layer, SpectralNormalization) else layer
        if isinstance(inner, WEIGHTED):
            found.append(inner)
    return found


# ---------------------------------------------------------------- DCGAN
def test_dcgan_optimizers_batch_size_and_latent_are_radford_et_al_section_4():
    model = DCGAN()
    assert both_optimizers(model) == (("adam", pytest.approx(2e-4), 0.5, 0.999),) * 2
    assert DCGAN.default_batch_size == 128 and model.latent_dim == 100
    assert model.fit_batch_size(DCGAN.default_batch_size) == 128  # k = 1


@pytest.mark.parametrize("name", ["generator", "discriminator"])
def test_dcgan_weights_start_from_normal_0_002(name):
    keras.utils.set_random_seed(0)
    network = getattr(DCGAN(), name)
    kernels = weighted_layers(network)
    assert len(kernels) >= 3
    for layer in kernels:
        config = keras.initializers.serialize(layer.kernel_initializer)
        assert config["class_name"] == "RandomNormal", layer.name
        assert (config["config"]["mean"], config["config"]["stddev"]) == (0.0, 0.02), layer.name
    largest = max(kernels, key=lambda layer: int(np.prod(layer.kernel.shape)))
    values = keras.ops.convert_to_numpy(largest.kernel).ravel()
    assert abs(values.mean()) < 1e-3 and values.std() == pytest.approx(0.02, rel=0.02)


@pytest.mark.parametrize("model_class", [DCGAN, WGAN, ConditionalGAN, LSGAN])
def test_dcgan_family_batch_norm_matches_the_authors_torch_code(model_class):
    model = model_class(latent_dim=8, base_filters=8)
    norms = [layer for network in (model.generator, model.discriminator) for layer in network.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) >= 3
    for layer in norms:
        assert (layer.momentum, layer.epsilon) == (0.9, 1e-5), layer.name
        gamma = keras.initializers.serialize(layer.gamma_initializer)["config"]
        assert (gamma["mean"], gamma["stddev"]) == (1.0, 0.02), layer.name


def test_translation_networks_share_the_dcgan_batch_norm():
    generator = networks.unet_generator((32, 32, 3), base_filters=8)
    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all((layer.momentum, layer.epsilon) == (0.9, 1e-5) for layer in norms)


# ----------------------------------------------------------------- WGAN
def test_wgan_defaults_are_algorithm_1_and_the_authors_code():
    model = WGAN()
    assert both_optimizers(model) == (("rmsprop", pytest.approx(5e-5), 0.99, None),) * 2
    assert (model.discriminator_steps, model.clip_value, WGAN.default_batch_size) == (5, 0.01, 64)
    assert (model.warmup_critic_steps, model.warmup_generator_steps, model.warmup_every) == (100, 25, 500)


def authors_diters(generator_updates, n_critic, warmup, first, every):
    """`Diters` of Arjovsky et al.'s main.py: critic updates before generator update g + 1."""
    return warmup if generator_updates < first or generator_updates % every == 0 else n_critic


def test_wgan_critic_updates_due_equals_the_authors_running_total():
    model = WGAN()
    total, expected = 0, []
    for g in range(2600):
        total += authors_diters(g, 5, 100, 25, 500)
        expected.append(total)
    due = keras.ops.convert_to_numpy(model.critic_updates_due(keras.ops.arange(2600)))
    np.testing.assert_array_equal(due, expected)
    assert [int(model.critic_updates_due(g)) for g in (0, 24, 25, 499, 500, 501)] == [
        100, 2500, 2505, 4875, 4975, 4980]
    off = WGAN(warmup_critic_steps=None)
    assert [int(off.critic_updates_due(g)) for g in (0, 1, 9)] == [5, 10, 50]


def test_wgan_fit_makes_generator_updates_on_the_authors_schedule(fashion_mnist_subset):
    images, _ = fashion_mnist_subset
    k, warmup, first, every = 2, 6, 2, 4
    model = WGAN(latent_dim=8, base_filters=8, discriminator_steps=k, warmup_critic_steps=warmup,
                 warmup_generator_steps=first, warmup_every=every, seed=0)
    model.compile()
    counts = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            counts.append((int(model.discriminator_optimizer.iterations.numpy()),
                           int(model.optimizer.iterations.numpy())))

    model.fit(images[:32 * k * 24], batch_size=32 * k, epochs=1, shuffle=False, verbose=0, callbacks=[Count()])
    expected, critic, generator, since = [], 0, 0, 0
    for _ in range(24):  # the authors' loop, k critic minibatches per fit batch
        critic, since = critic + k, since + k
        if since == authors_diters(generator, k, warmup, first, every):
            generator, since = generator + 1, 0
        expected.append((critic, generator))
    assert counts == expected
    assert expected[-1][1] >= 5  # warm-up (updates 0, 1 and 4) and plain n_critic updates both happened


def test_wgan_warmup_is_saved_in_the_config():
    model = WGAN(latent_dim=8, base_filters=8, warmup_critic_steps=None)
    assert WGAN.from_config(model.get_config()).warmup_critic_steps is None
    with pytest.raises(ValueError, match="warmup_critic_steps=None"):
        WGAN(latent_dim=8, base_filters=8, warmup_critic_steps=0)


# -------------------------------------------------------------- WGAN-GP
def test_wgan_gp_defaults_are_gulrajani_et_al_algorithm_1():
    model = WGANGP()
    assert both_optimizers(model) == (("adam", pytest.approx(1e-4), 0.0, 0.9),) * 2
    assert (model.discriminator_steps, model.gradient_penalty_weight, WGANGP.default_batch_size) == (5, 10.0, 64)
    assert model.latent_dim == 128
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.critic.layers)


# ---------------------------------------------------------------- SNGAN
def test_sngan_defaults_are_miyato_et_al_setting_c_with_the_hinge_loss():
    model = SNGAN()
    assert both_optimizers(model) == (("adam", pytest.approx(2e-4), 0.5, 0.999),) * 2
    assert (model.discriminator_steps, model.adversarial_loss, model.latent_dim) == (1, "hinge", 128)
    assert SNGAN.default_batch_size == 64


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3)])
def test_sngan_discriminator_is_the_standard_cnn_of_table_3(image_shape):
    critic = SNGAN(image_shape=image_shape).discriminator
    wrapped = [layer for layer in critic.layers if isinstance(layer, SpectralNormalization)]
    convs = [layer.layer for layer in wrapped if isinstance(layer.layer, keras.layers.Conv2D)]
    assert [(c.kernel_size[0], c.strides[0], c.filters) for c in convs] == [
        (3, 1, 64), (4, 2, 64), (3, 1, 128), (4, 2, 128), (3, 1, 256), (4, 2, 256), (3, 1, 512)]
    assert len(wrapped) == len(weighted_layers(critic)) == 8  # every conv and the dense unit
    slopes = [layer.negative_slope for layer in critic.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert slopes == pytest.approx([0.1] * 7)
    assert not any("normalization" in type(layer).__name__.lower() for layer in critic.layers
                   if not isinstance(layer, SpectralNormalization))
    assert critic.layers[-1].output.shape == (None, 1)
    final_map = wrapped[-2].output.shape  # the last convolution's
    assert final_map[1:3] == (4, 4)  # the paper's M = 4 for 32x32; 28x28 reaches it with "same" padding


def test_sngan_discriminator_scales_with_base_filters_and_takes_labels():
    critic = networks.sngan_discriminator((28, 28, 1), num_classes=10, base_filters=8)
    assert [i.name for i in critic.inputs] == ["images", "labels"]
    scores = critic([np.zeros((2, 28, 28, 1), "float32"), np.array([1, 2])])
    assert scores.shape == (2, 1)
    with pytest.raises(ValueError, match="at least 8x8"):
        networks.sngan_discriminator((4, 4, 1))


def test_wgan_warmup_refuses_steps_per_execution_with_advice(small_images):
    model = WGAN(latent_dim=8, base_filters=8, discriminator_steps=2)
    model.compile(steps_per_execution=2)
    with pytest.raises(ValueError, match=r"steps_per_execution=1.*warmup_critic_steps=None"):
        model.fit(small_images[:64], batch_size=32, epochs=1, verbose=0)


def test_wgan_optimizer_updates_after_predicts_fit():
    model = WGAN(latent_dim=8, base_filters=8, discriminator_steps=2, warmup_critic_steps=4, warmup_generator_steps=1)
    assert model.optimizer_updates_after(4, from_start=True) == 3  # critic totals 2, 4 (g=1), 6 (g=2), 8 (g=3)
    off = WGAN(latent_dim=8, base_filters=8, warmup_critic_steps=None)
    assert off.optimizer_updates_after(4, from_start=True) == 4
