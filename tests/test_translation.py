"""pix2pix and CycleGAN: networks at the papers' sizes, the papers' training steps written
out by hand, learning on Fashion-MNIST-derived tasks, bad inputs, domains of different shapes."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen import datasets, export, networks  # noqa: E402
from kerasgen.models import CycleGAN, Pix2Pix  # noqa: E402


def trainable_parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def as_numpy(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


# --------------------------------------------------- networks at the papers' sizes
def test_unet_at_256_pixels_is_the_pix2pix_generator():
    generator = networks.unet_generator((256, 256, 3))
    # Isola et al., Appendix 6.1.1, with the authors' code's biases (none next to batch norm):
    # encoder C64-C128-C256-C512-C512-C512-C512-C512, 4x4 kernels, batch norm on all but the
    # first and the innermost; decoder back up with skip concatenations, then 64*2 -> 3 channels.
    encoder = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 4 * 512 * 512 * 16
    encoder_norm = 2 * (128 + 256 + 4 * 512)
    decoder = 512 * 512 * 16 + 3 * 1024 * 512 * 16 + 1024 * 256 * 16 + 512 * 128 * 16 + 256 * 64 * 16
    to_image = 128 * 3 * 16 + 3
    decoder_norm = 2 * (4 * 512 + 256 + 128 + 64)
    expected = encoder + encoder_norm + decoder + to_image + decoder_norm
    assert trainable_parameters(generator) == expected == 54_413_955  # "54.414 M" in the authors' log
    assert tuple(generator.get_layer("down_7").output.shape[1:]) == (1, 1, 512)  # 1x1 bottleneck
    assert len([layer for layer in generator.layers if isinstance(layer, keras.layers.Concatenate)]) == 7
    dropouts = [layer.name for layer in generator.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == ["up_6_dropout", "up_5_dropout", "up_4_dropout"]  # CD512-CD1024-CD1024: the first three


def test_resnet_generator_at_256_pixels_is_the_cyclegan_generator():
    generator = networks.resnet_generator((256, 256, 3))
    # Zhu et al., Appendix 7.2: c7s1-64, d128, d256, R256 x 9, u128, u64, c7s1-3 (biases, no affine instance norm).
    expected = (
        (3 * 64 * 49 + 64) + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256)
        + 9 * 2 * (256 * 256 * 9 + 256)
        + (256 * 128 * 9 + 128) + (128 * 64 * 9 + 64) + (64 * 3 * 49 + 3)
    )
    assert trainable_parameters(generator) == expected == 11_378_179  # "11.378 M"
    blocks = [layer.name for layer in generator.layers if layer.name.startswith("r") and layer.name[1:].isdigit()]
    assert len(blocks) == 9
    # The paper's 6 blocks for 128x128 images.
    small = networks.resnet_generator((128, 128, 3), base_filters=8)
    assert len([layer for layer in small.layers if isinstance(layer, keras.layers.Add)]) == 6


@pytest.mark.parametrize(
    "kwargs, first_layer_inputs, expected",
    [
        ({"normalization": "instance"}, 3, 2_764_737),  # CycleGAN: D(y), "2.765 M"
        ({"condition_shape": (256, 256, 3)}, 6, 2_768_705),  # pix2pix: D(x, y), batch norm
    ],
)
def test_patchgan_at_256_pixels_is_the_papers_discriminator(kwargs, first_layer_inputs, expected):
    discriminator = networks.patchgan_discriminator((256, 256, 3), **kwargs)
    batch_norm = "condition_shape" in kwargs  # no bias next to batch norm; bias on the first and last layers
    bias = 0 if batch_norm else 1
    norm = 2 if batch_norm else 0  # gamma and beta per channel
    count = (first_layer_inputs * 64 * 16 + 64) + (64 * 128 * 16 + 128 * (bias + norm))
    count += (128 * 256 * 16 + 256 * (bias + norm)) + (256 * 512 * 16 + 512 * (bias + norm)) + (512 * 16 + 1)
    assert trainable_parameters(discriminator) == count == expected
    assert tuple(discriminator.output.shape[1:]) == (32, 32, 1)


@pytest.mark.parametrize("num_downsamples, field", [(1, 16), (2, 34), (3, 70)])
def test_each_patch_score_sees_a_patch_of_the_receptive_field_size(num_downsamples, field):
    """Isola et al., Sec. 4.4: 16x16 and 70x70 PatchGANs. The input gradient of one central
    patch score is non-zero exactly on a square of that side."""
    assert networks.patch_receptive_field(num_downsamples) == field
    discriminator = networks.patchgan_discriminator(
        (128, 128, 1), base_filters=4, num_downsamples=num_downsamples, normalization=None
    )
    images = tf.random.normal((1, 128, 128, 1), seed=1)
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = discriminator(images)
        center = scores.shape[1] // 2
        score = scores[0, center, center, 0]
    gradient = np.abs(tape.gradient(score, images).numpy()[0, :, :, 0])
    rows, columns = np.nonzero(gradient.sum(axis=1))[0], np.nonzero(gradient.sum(axis=0))[0]
    assert rows.max() - rows.min() + 1 == field
    assert columns.max() - columns.min() + 1 == field
    assert len(rows) == len(columns) == field  # contiguous


def test_networks_for_28_pixel_images_and_other_channel_counts():
    images = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype("float32")
    unet = networks.unet_generator((28, 28, 1), 3, base_filters=8, value_range=(0.0, 1.0))
    out = keras.ops.convert_to_numpy(unet(images))
    assert out.shape == (2, 28, 28, 3) and out.min() >= 0.0 and out.max() <= 1.0
    # Depth ceil(log2 28) = 5: reflection padded to 32, down to a 1x1 bottleneck, cropped back.
    assert tuple(unet.get_layer("pad_to_multiple").output.shape[1:3]) == (32, 32)
    assert tuple(unet.get_layer("down_4").output.shape[1:3]) == (1, 1)
    resnet = networks.resnet_generator((28, 28, 3), 1, base_filters=8, num_blocks=2)
    assert resnet(out * 2 - 1).shape == (2, 28, 28, 1)
    assert tuple(resnet.get_layer("d2").output.shape[1:3]) == (7, 7)  # 28 -> 14 -> 7
    patch = networks.patchgan_discriminator((28, 28, 3), condition_shape=(28, 28, 1), base_filters=8)
    assert patch([images, out]).shape == (2, 4, 4, 1)
    with pytest.raises(ValueError, match="divisible by 4"):
        networks.resnet_generator((30, 30, 1))
    with pytest.raises(ValueError, match="same height and width"):
        networks.patchgan_discriminator((28, 28, 1), condition_shape=(32, 32, 1))


def test_instance_normalization_normalizes_each_image_and_channel_over_height_and_width():
    from kerasgen.networks.adversarial import _normalization

    x = np.random.default_rng(0).normal(3.0, 2.0, (2, 5, 4, 3)).astype("float32")
    x[1, ..., 2] *= 10.0  # statistics of one image and channel must not leak into the others
    layer = _normalization("instance", "instance_norm")
    out = keras.ops.convert_to_numpy(layer(x))
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=1e-4)
    assert layer.weights == []  # no learned scale or shift, as in CycleGAN's code


def test_unet_dropout_is_the_noise_of_training_only():
    unet = networks.unet_generator((28, 28, 1), base_filters=8)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype("float32")
    first, second = (keras.ops.convert_to_numpy(unet(x, training=False)) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    noisy = [keras.ops.convert_to_numpy(unet(x, training=True)) for _ in range(2)]
    assert np.abs(noisy[0] - noisy[1]).max() > 1e-3


# ---------------------------------------------------- the papers' steps, by hand
def clone(network):
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    return copy


def edges_batch(count=8):
    test = datasets.fashion_mnist_translation("paired", split="test", batch_size=count, shuffle=False)
    return next(iter(test))


def test_pix2pix_train_step_is_the_papers_iteration():
    """D takes one SGD step on 1/2 [-log D(x, y) - log(1 - D(x, G(x)))]; then G one step on
    -log D'(x, G(x)) + 100 |y - G(x)| against the UPDATED D', with the same G(x)."""
    keras.utils.set_random_seed(0)
    generator = networks.unet_generator((28, 28, 1), base_filters=8, dropout_layers=0)  # no random masks
    model = Pix2Pix(generator=generator, base_filters=8, seed=0)
    model.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(1.0))
    x, y = edges_batch()
    G, D, D_before = clone(model.generator), clone(model.discriminator), clone(model.discriminator)
    model.train_on_batch(x, y)

    def apply(loss_tape, loss, network, rate):
        gradients = loss_tape.gradient(loss, network.trainable_weights)
        for weight, gradient in zip(network.trainable_weights, gradients):
            weight.assign(weight - rate * gradient)

    def generator_step(discriminator):
        network = clone(G)
        with tf.GradientTape() as tape:
            fake = network(x, training=True)
            adversarial = tf.reduce_mean(tf.nn.softplus(-discriminator([x, fake], training=True)))
            loss = adversarial + 100.0 * tf.reduce_mean(tf.abs(y - fake))
        apply(tape, loss, network, 0.05)
        return network

    fake = G(x, training=True)
    with tf.GradientTape() as tape:
        real_scores = D([x, y], training=True)
        fake_scores = D([x, fake], training=True)
        d_loss = 0.5 * (tf.reduce_mean(tf.nn.softplus(-real_scores)) + tf.reduce_mean(tf.nn.softplus(fake_scores)))
    apply(tape, d_loss, D, 1.0)
    for expected, actual in zip(as_numpy(D.trainable_weights), as_numpy(model.discriminator.trainable_weights)):
        np.testing.assert_allclose(actual, expected, atol=2e-5)
    by_hand, against_old_d = generator_step(D), generator_step(D_before)
    differences = []
    for expected, old, actual in zip(
        as_numpy(by_hand.trainable_weights), as_numpy(against_old_d.trainable_weights),
        as_numpy(model.generator.trainable_weights),
    ):
        np.testing.assert_allclose(actual, expected, atol=2e-5)
        differences.append(np.abs(old - expected).max())
    # The check has teeth: a G step against the discriminator before its update lands elsewhere.
    assert max(differences) > 1e-3


def test_cyclegan_train_step_is_the_papers_iteration():
    """G and F take one step on the LSGAN terms + 10 * cycle + 5 * identity L1; then D_A and
    D_B one step on their halved least-squares objectives, against the fakes from before it."""
    keras.utils.set_random_seed(0)
    model = CycleGAN(base_filters=4, num_blocks=1, pool_size=0, seed=0)  # pool_size=0: fakes pass through
    model.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.5))
    a, b = next(iter(datasets.fashion_mnist_translation("unpaired", split="test", batch_size=8, shuffle=False)))
    G, F = clone(model.generator_a2b), clone(model.generator_b2a)
    D_A, D_B = clone(model.discriminator_a), clone(model.discriminator_b)
    model.train_on_batch(a, b)

    def l1(p, q):
        return tf.reduce_mean(tf.abs(p - q))

    generators = G.trainable_weights + F.trainable_weights
    with tf.GradientTape() as tape:
        fake_b, fake_a = G(a, training=True), F(b, training=True)
        adversarial = tf.reduce_mean((D_B(fake_b, training=True) - 1) ** 2) + tf.reduce_mean(
            (D_A(fake_a, training=True) - 1) ** 2)
        cycle = l1(F(fake_b, training=True), a) + l1(G(fake_a, training=True), b)
        identity = l1(F(a, training=True), a) + l1(G(b, training=True), b)
        loss = adversarial + 10.0 * cycle + 5.0 * identity
    for weight, gradient in zip(generators, tape.gradient(loss, generators)):
        weight.assign(weight - 0.05 * gradient)
    discriminators = D_A.trainable_weights + D_B.trainable_weights
    with tf.GradientTape() as tape:
        d_b = 0.5 * (tf.reduce_mean((D_B(b, training=True) - 1) ** 2) + tf.reduce_mean(D_B(fake_b, training=True) ** 2))
        d_a = 0.5 * (tf.reduce_mean((D_A(a, training=True) - 1) ** 2) + tf.reduce_mean(D_A(fake_a, training=True) ** 2))
        d_loss = d_a + d_b
    for weight, gradient in zip(discriminators, tape.gradient(d_loss, discriminators)):
        weight.assign(weight - 0.5 * gradient)
    pairs = [
        (G, model.generator_a2b), (F, model.generator_b2a), (D_A, model.discriminator_a), (D_B, model.discriminator_b),
    ]
    for by_hand, trained in pairs:
        for expected, actual in zip(as_numpy(by_hand.trainable_weights), as_numpy(trained.trainable_weights)):
            np.testing.assert_allclose(actual, expected, atol=2e-5, err_msg=trained.name)


def test_fresh_models_report_the_papers_loss_values_at_a_neutral_discriminator():
    """With the discriminators' last layer zeroed every patch score is 0: pix2pix reports
    d_loss = 1/2 (log 2 + log 2) and g_loss = log 2; CycleGAN d = 1/2 (0 - 1)^2 = 0.5, g = 1."""
    x, y = edges_batch()
    pix2pix = Pix2Pix(base_filters=4, seed=0)
    cyclegan = CycleGAN(base_filters=4, num_blocks=1, seed=0)
    for model in (pix2pix, cyclegan):
        model.compile()
        for network in (getattr(model, name) for name in model.NETWORKS if "discriminator" in name):
            for weight in network.get_layer("patch_scores").weights:
                weight.assign(tf.zeros_like(weight))
    results = pix2pix.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose([results["d_loss"], results["g_loss"]], [np.log(2.0)] * 2, rtol=1e-6)
    results = cyclegan.evaluate(x, y, verbose=0, return_dict=True)
    for name, value in (("d_a_loss", 0.5), ("d_b_loss", 0.5), ("g_a2b_loss", 1.0), ("g_b2a_loss", 1.0)):
        np.testing.assert_allclose(results[name], value, rtol=1e-6, err_msg=name)


# ------------------------------------------------- learning on Fashion-MNIST
def test_pix2pix_learns_fashion_mnist_edges_to_images():
    keras.utils.set_random_seed(0)
    train = datasets.fashion_mnist_translation("paired", limit=512, batch_size=32, seed=0)
    test = datasets.fashion_mnist_translation("paired", split="test", limit=256, batch_size=128, shuffle=False)
    model = Pix2Pix(base_filters=8, seed=0)
    model.compile()
    before = model.evaluate(test, verbose=0, return_dict=True)["l1_loss"]
    history = model.fit(train, epochs=5, verbose=0).history
    after = model.evaluate(test, verbose=0, return_dict=True)["l1_loss"]
    assert np.all(np.diff(history["l1_loss"]) < 0), history["l1_loss"]  # training L1 falls every epoch
    assert after < 0.8 * before, (before, after)  # and so does the held-out L1 to the targets
    edges, images = (t.numpy() for t in next(iter(test)))
    translated = keras.ops.convert_to_numpy(model.translate(edges))
    assert translated.std(axis=0).mean() > 0.05, "the same image for every edge map"
    # Each translation is closer to its own target than to other images' targets.
    own = np.abs(translated - images).mean()
    others = np.abs(translated - np.roll(images, 1, axis=0)).mean()
    assert own < 0.9 * others, (own, others)


def test_cyclegan_cycle_error_falls_on_sneakers_and_ankle_boots(tmp_path):
    keras.utils.set_random_seed(0)
    train = datasets.fashion_mnist_translation("unpaired", limit=512, batch_size=32, seed=0)
    test = datasets.fashion_mnist_translation("unpaired", split="test", limit=256, batch_size=128, shuffle=False)
    model = CycleGAN(base_filters=8, num_blocks=2, seed=0)
    model.compile()
    before = model.evaluate(test, verbose=0, return_dict=True)
    model.fit(train, epochs=2, verbose=0)
    after = model.evaluate(test, verbose=0, return_dict=True)
    for name in ("cycle_a_loss", "cycle_b_loss"):
        assert after[name] < 0.5 * before[name], (name, before[name], after[name])
    sneakers, boots = (t.numpy() for t in next(iter(test)))
    for direction, images in (("a2b", sneakers), ("b2a", boots)):
        translated = keras.ops.convert_to_numpy(model.translate(images, direction=direction))
        assert translated.std(axis=0).mean() > 0.05, direction
    # The image pools filled with 50 past fakes each, and come back with the saved model.
    assert int(model.pool_a.count.numpy()) == int(model.pool_b.count.numpy()) == 50
    model.save(tmp_path / "cyclegan.keras")
    loaded = keras.models.load_model(tmp_path / "cyclegan.keras")
    for pool in ("pool_a", "pool_b"):
        for saved, restored in zip(getattr(model, pool).weights, getattr(loaded, pool).weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved))


# -------------------------------------------------------------- bad inputs
def test_bad_data_and_arguments_get_clear_errors():
    model = Pix2Pix(base_filters=4, seed=0)
    model.compile()
    x, y = (t.numpy() for t in edges_batch())
    with pytest.raises(ValueError, match=r"trains on batches of \(domain A images, domain B images\), got images only"):
        model.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"domain B images of shape \(batch, 28, 28, 1\), got \(8, 28, 28, 3\)"):
        model.fit(x, np.repeat(y, 3, axis=-1), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"domain A images in \[-1, 1\], got values in \[0, 255\]"):
        model.fit((x + 1) * 127.5, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="float domain B images"):
        model.fit(x, y.astype("int32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="translates in the directions"):
        model.translate(x, direction="b2a")
    with pytest.raises(ValueError, match=r"domain A images of shape \(batch, 28, 28, 1\), got \(8, 14, 28, 1\)"):
        model.translate(x[:, :14])
    with pytest.raises(ValueError, match="no latent code"):
        Pix2Pix(latent_dim=8)
    with pytest.raises(ValueError, match="height and width"):
        Pix2Pix(source_shape=(32, 32, 1))
    with pytest.raises(ValueError, match="choose one of"):
        Pix2Pix(adversarial_loss="hinge")
    with pytest.raises(ValueError, match="identity_weight=0"):
        CycleGAN(source_shape=(28, 28, 3))


def test_domains_of_different_channels_train_save_and_serve(tmp_path):
    """Grey edge maps (A) to RGB images (B) and back: shapes stay per domain everywhere."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    b = rng.uniform(-1, 1, (16, 28, 28, 3)).astype("float32")
    model = CycleGAN(image_shape=(28, 28, 3), source_shape=(28, 28, 1), identity_weight=0.0,
                     base_filters=4, num_blocks=1, seed=0)
    model.compile()
    model.fit(a, b, batch_size=8, epochs=1, verbose=0)
    assert "identity_a_loss" not in model.trackers
    assert model.translate(a).shape == (16, 28, 28, 3) and model.translate(b, "b2a").shape == (16, 28, 28, 1)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.source_shape == (28, 28, 1) and loaded.image_shape == (28, 28, 3)
    np.testing.assert_allclose(loaded.translate(a[:4]), model.translate(a[:4]), atol=1e-6)

    served = tf.saved_model.load(export.save_for_serving(model, tmp_path / "served"))
    np.testing.assert_allclose(
        served.signatures["b2a"](images=tf.constant(b[:2]))["images"], model.translate(b[:2], "b2a"), atol=1e-5
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \(batch, 28, 28, 1\); got shape\] \[2 28 28 3\]"):
        served.signatures["a2b"](images=tf.constant(b[:2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"with values in \[-1, 1\]"):
        served.signatures["serving_default"](images=tf.constant(a[:2] * 3.0))
