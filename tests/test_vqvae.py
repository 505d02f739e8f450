"""VQ-VAE: nearest-code quantization, straight-through gradients, the eq. 3 terms, EMA codebook,
the PixelCNN prior over codes, learning on Fashion-MNIST."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen import losses  # noqa: E402
from kerasgen.layers import LevelEmbedding, VectorQuantizer  # noqa: E402
from kerasgen.layers.vector_quantizer import code_statistics, straight_through  # noqa: E402
from kerasgen.models import PixelCNN, VQVAE  # noqa: E402
from kerasgen.networks import pixelcnn_network  # noqa: E402

SMALL = kerasgen.models.REGISTRY["vqvae"].small_config


def _np(x):
    return keras.ops.convert_to_numpy(x)


def quantizer_with(codebook, **kwargs):
    codebook = np.asarray(codebook, np.float32)
    layer = VectorQuantizer(*codebook.shape, **kwargs)
    layer.codebook.assign(codebook)
    if layer.ema:
        layer.code_sum.assign(codebook)
    return layer


# ---------------------------------------------------------------- quantization
def test_quantization_picks_the_nearest_code_on_a_handmade_set():
    layer = quantizer_with([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    encodings = np.array([[[[0.1, -0.2], [0.9, 0.4], [0.2, 0.7]],
                           [[3.0, 3.1], [-4.0, 0.0], [0.6, 0.1]]]], np.float32)  # (1, 2, 3, 2)
    np.testing.assert_array_equal(_np(layer.nearest(encodings)), [[[0, 1, 2], [3, 0, 1]]])
    quantized, indices = layer(encodings)
    np.testing.assert_array_equal(_np(quantized), layer.codebook.numpy()[_np(indices)])


def test_quantization_agrees_with_brute_force_numpy():
    rng = np.random.default_rng(0)
    codebook = rng.normal(size=(37, 5)).astype(np.float32)
    encodings = rng.normal(size=(4, 3, 3, 5)).astype(np.float32)
    distances = ((encodings[..., None, :] - codebook) ** 2).sum(-1)  # (4, 3, 3, 37)
    np.testing.assert_array_equal(_np(quantizer_with(codebook).nearest(encodings)), distances.argmin(-1))


def test_straight_through_forwards_the_codes_and_passes_the_gradient_unchanged():
    encodings = tf.constant([[0.3, -1.2], [2.0, 0.5]])
    codes = tf.constant([[0.0, -1.0], [2.5, 0.0]])
    weights = tf.constant([[1.0, 2.0], [-3.0, 4.0]])
    with tf.GradientTape() as tape:
        tape.watch(encodings)
        out = straight_through(encodings, codes)
        objective = tf.reduce_sum(weights * out)
    np.testing.assert_array_equal(_np(out), _np(codes))
    np.testing.assert_array_equal(_np(tape.gradient(objective, encodings)), _np(weights))


def test_codebook_and_commitment_losses_against_hand_computed_values():
    encodings = tf.constant([[[[1.0, 2.0], [0.0, -1.0]]]])  # (1, 1, 2, 2)
    codes = tf.constant([[[[0.0, 0.0], [1.0, 1.0]]]])
    # squared differences 1, 4, 1, 4 -> mean 2.5, for both terms
    assert float(losses.vq_codebook_loss(encodings, codes)[0]) == pytest.approx(2.5)
    assert float(losses.vq_commitment_loss(encodings, codes)[0]) == pytest.approx(2.5)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([encodings, codes])
        codebook = tf.reduce_sum(losses.vq_codebook_loss(encodings, codes))
        commitment = tf.reduce_sum(losses.vq_commitment_loss(encodings, codes))
    # d/de mean (e - z)^2 = 2 (e - z) / 4; the stop-gradient side gets nothing
    np.testing.assert_allclose(_np(tape.gradient(codebook, codes)), _np(codes - encodings) / 2.0)
    assert tape.gradient(codebook, encodings) is None
    np.testing.assert_allclose(_np(tape.gradient(commitment, encodings)), _np(encodings - codes) / 2.0)
    assert tape.gradient(commitment, codes) is None


def test_code_statistics():
    perplexity, usage = code_statistics(np.array([[0, 1], [2, 3]]), 8)  # 4 codes used equally
    assert float(perplexity) == pytest.approx(4.0) and float(usage) == pytest.approx(0.5)
    perplexity, usage = code_statistics(np.zeros((2, 3, 3), np.int32), 8)
    assert float(perplexity) == pytest.approx(1.0) and float(usage) == pytest.approx(1 / 8)


def test_ema_update_matches_appendix_a1_in_numpy():
    rng = np.random.default_rng(1)
    codebook = rng.normal(size=(4, 3)).astype(np.float32)
    layer = quantizer_with(codebook, ema=True, decay=0.9, epsilon=1e-5)
    assert not layer.codebook.trainable
    encodings = rng.normal(size=(2, 2, 3, 3)).astype(np.float32)
    indices = _np(layer.nearest(encodings))
    layer.update_codebook(encodings, indices)

    one_hot = np.eye(4)[indices.reshape(-1)]
    n = 0.9 * np.ones(4) + 0.1 * one_hot.sum(0)
    m = 0.9 * codebook + 0.1 * one_hot.T @ encodings.reshape(-1, 3)
    smoothed = (n + 1e-5) / (n.sum() + 4e-5) * n.sum()
    np.testing.assert_allclose(layer.cluster_size.numpy(), n, rtol=1e-6)
    np.testing.assert_allclose(layer.codebook.numpy(), m / smoothed[:, None], rtol=1e-5)
    unused = np.setdiff1d(np.arange(4), indices)
    # A code no encoding picked keeps (almost: Laplace smoothing) its vector.
    np.testing.assert_allclose(layer.codebook.numpy()[unused], codebook[unused], rtol=1e-3)


def test_quantizer_config_round_trip_and_bad_settings():
    layer = VectorQuantizer(10, 3, ema=True, decay=0.95)
    again = VectorQuantizer.from_config(layer.get_config())
    assert (again.num_codes, again.code_dim, again.ema, again.decay) == (10, 3, True, 0.95)
    with pytest.raises(ValueError, match="num_codes must be >= 2"):
        VectorQuantizer(1, 3)
    with pytest.raises(ValueError, match="decay must be in"):
        VectorQuantizer(4, 3, decay=1.0)
    with pytest.raises(ValueError, match="needs VectorQuantizer\\(ema=True\\)"):
        VectorQuantizer(4, 2).update_codebook(np.zeros((1, 1, 1, 2), np.float32), np.zeros((1, 1, 1), np.int32))


# ------------------------------------------------------------------ the model
def test_the_straight_through_gradient_reaches_the_encoder():
    model = VQVAE(**SMALL, seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
    with tf.GradientTape(persistent=True) as tape:
        terms, _, _ = model._terms(images, training=True)
    encoder = model.encoder.trainable_variables
    reconstruction = tape.gradient(terms["reconstruction_loss"], encoder)
    assert all(g is not None for g in reconstruction) and any(np.any(_np(g) != 0) for g in reconstruction)
    # The codebook learns from the codebook loss only; the encoder not at all from it.
    codebook_on_encoder = tape.gradient(terms["codebook_loss"], encoder)
    assert all(g is None for g in codebook_on_encoder)
    assert tape.gradient(terms["reconstruction_loss"], model.quantizer.codebook) is None
    assert tape.gradient(terms["codebook_loss"], model.quantizer.codebook) is not None
    # The prior's loss reaches no autoencoder weight.
    assert all(g is None for g in tape.gradient(terms["prior_loss"], model.autoencoder_variables))


def test_loss_is_eq3_with_beta_and_drops_the_codebook_term_under_ema(fashion_mnist_subset):
    images = fashion_mnist_subset[0][:32]
    for ema in (False, True):
        model = VQVAE(**SMALL, ema=ema, beta=0.25, seed=0)
        terms = {k: float(v) for k, v in model._terms(images, training=False)[0].items()}
        expected = terms["reconstruction_loss"] + 0.25 * terms["commitment_loss"]
        expected += 0.0 if ema else terms["codebook_loss"]
        assert terms["loss"] == pytest.approx(expected, rel=1e-6)
        assert terms["codebook_loss"] == pytest.approx(terms["commitment_loss"], rel=1e-6)
        assert 1.0 <= terms["perplexity"] <= SMALL["num_codes"]
        assert terms["prior_bits_per_code"] == pytest.approx(terms["prior_loss"] / (49 * np.log(2)), rel=1e-6)


def test_vqvae_learns_on_fashion_mnist_and_samples_from_its_prior():
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", limit=1024, batch_size=64, seed=0)
    model = VQVAE(**SMALL, seed=0)
    model.compile(keras.optimizers.Adam(2e-3), keras.optimizers.Adam(3e-3))  # fast rates for a short run
    before = model.evaluate(train, verbose=0, return_dict=True)
    model.fit(train, epochs=4, verbose=0)
    after = model.evaluate(train, verbose=0, return_dict=True)
    assert after["reconstruction_loss"] < 0.4 * before["reconstruction_loss"], (before, after)
    assert after["prior_loss"] < before["prior_loss"], (before, after)
    assert after["codebook_usage"] > 0.25 and after["perplexity"] > 2.0, after
    samples = _np(model.generate(8, seed=1))
    assert samples.shape == (8, 28, 28, 1) and samples.min() >= -1.0 and samples.max() <= 1.0
    assert samples.std(axis=0).mean() > 0.05  # different code grids decode to different images
    np.testing.assert_array_equal(_np(model.generate(8, seed=1)), samples)

    # The paper's second stage: only the prior moves, and it fits the frozen codes better.
    frozen = [v.numpy() for v in model.autoencoder_variables]
    prior_before = model.prior.evaluate(model.code_dataset(train), verbose=0, return_dict=True)["loss"]
    history = model.fit_prior(train, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] < prior_before
    # It beats a model of the codes' frequencies alone, whose cost is their entropy, log2(perplexity).
    assert history["bits_per_dim"][-1] < np.log2(after["perplexity"]) - 0.2, (history, after)
    assert all(np.array_equal(v.numpy(), w) for v, w in zip(model.autoencoder_variables, frozen))


def test_codes_round_trip_through_encode_and_decode(fashion_mnist_subset):
    model = VQVAE(**SMALL, seed=0)
    images = fashion_mnist_subset[0][:6]
    codes = _np(model.encode(images))
    assert codes.shape == (6, 7, 7) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < SMALL["num_codes"]
    np.testing.assert_array_equal(_np(model.reconstruct(images)), _np(model.decode(codes)))
    np.testing.assert_array_equal(_np(model(images)), _np(model.decode(codes)))
    model.check_codes(codes)
    with pytest.raises(ValueError, match=r"code indices in \[0, 16\)"):
        model.check_codes(codes + 16)
    with pytest.raises(ValueError, match="integer code indices"):
        model.check_codes(codes.astype(np.float32))


def test_ema_codebook_trains_under_two_replicas(mirrored_strategy):
    strategy = mirrored_strategy  # the session's one: a second MirroredStrategy could collide on collective keys
    images = np.random.default_rng(0).uniform(-1, 1, (32, 28, 28, 1)).astype(np.float32)
    with strategy.scope():
        model = VQVAE(**SMALL, ema=True, seed=0)
        model.compile()
    start = model.quantizer.codebook.numpy()
    history = model.fit(images, batch_size=16, epochs=1, verbose=0).history
    assert all(np.isfinite(v[0]) for v in history.values())
    mirrored = model.quantizer.codebook.value  # the tf.distribute variable the Keras one wraps
    replicas = [np.asarray(v) for v in mirrored.values]
    assert len(replicas) == 2 and not np.array_equal(replicas[0], start)
    np.testing.assert_array_equal(replicas[0], replicas[1])


def test_clear_errors_for_bad_settings():
    with pytest.raises(ValueError, match="not latent_dim"):
        VQVAE(latent_dim=8)
    with pytest.raises(ValueError, match="divisible by 2\\^num_downsamples = 4"):
        VQVAE((30, 30, 1), **SMALL)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        VQVAE(**SMALL, beta=-1.0)
    wrong_prior = PixelCNN((7, 7, 1), num_levels=8, value_range=(0.0, 7.0), filters=8, num_layers=0)
    with pytest.raises(ValueError, match="The prior must be a PixelCNN with image_shape \\(7, 7, 1\\), num_levels 16"):
        VQVAE(**SMALL, prior=wrong_prior)
    encoder = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, strides=2, padding="same")])
    with pytest.raises(ValueError, match="code grid"):
        VQVAE(**SMALL, encoder=encoder)
    with pytest.raises(RuntimeError, match="Compile the VQVAE"):
        VQVAE(**SMALL).fit_prior(np.zeros((2, 28, 28, 1), np.float32))


# -------------------------------------------------------- the prior's embedding
def test_level_embedding_looks_up_each_level():
    layer = LevelEmbedding(5, 3)
    levels = np.array([[[[0, 4], [2, 1]]]])  # (1, 1, 2, 2)
    out = _np(layer(levels * (2.0 / 4) - 1.0))
    table = layer.embeddings.numpy()
    assert out.shape == (1, 1, 2, 6)
    np.testing.assert_array_equal(out[0, 0, 0], np.concatenate([table[0], table[4]]))
    np.testing.assert_array_equal(out[0, 0, 1], np.concatenate([table[2], table[1]]))


@pytest.mark.parametrize("gated", [False, True])
def test_an_embedding_pixelcnn_is_causal(gated):
    """Changing the code at position s changes no logits at positions <= s (and changes the next one)."""
    keras.utils.set_random_seed(2)
    shape, levels = (4, 4, 1), 6
    network = pixelcnn_network(shape, levels, filters=8, num_layers=1, gated=gated, embedding_dim=3)
    rng = np.random.default_rng(0)
    base = rng.integers(0, levels, size=(1, *shape))
    scale = lambda x: x * (2.0 / (levels - 1)) - 1.0  # noqa: E731
    reference = _np(network(scale(base))).reshape(16, levels)
    for s in range(16):
        changed = base.copy().reshape(-1)
        changed[s] = (changed[s] + 1) % levels
        logits = _np(network(scale(changed.reshape(1, *shape)))).reshape(16, levels)
        np.testing.assert_array_equal(logits[: s + 1], reference[: s + 1], err_msg=f"position {s} leaks")
        if s < 15:
            assert np.any(logits[s + 1] != reference[s + 1]), f"position {s + 1} does not see position {s}"
