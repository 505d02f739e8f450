"""PixelRNN: both LSTM layers against NumPy references of the paper's recurrences, causality of both
networks per colour group, the cached sampler against the full-canvas loop, learning, saving, XLA."""
from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen.layers import DiagonalBiLSTM, RowLSTM  # noqa: E402
from kerasgen.layers.pixel_rnn import skew, unskew  # noqa: E402
from kerasgen.models import PixelCNN, PixelRNN  # noqa: E402
from kerasgen.networks import pixelrnn_network  # noqa: E402

VARIANTS = ("row_lstm", "diagonal_bilstm")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _lstm(gates, c):
    i, f, o, g = np.split(gates, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def _randomize(layer, scale=0.5, seed=1):
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32") * scale)
    return layer


# ------------------------------------------------------------------- the layers
def test_row_lstm_is_the_papers_recurrence_row_by_row():
    """Section 3.1: row i's gates are a masked (1, 3) convolution of row i's inputs plus a width-3
    convolution of row i - 1's states; a NumPy loop over rows and columns computes the same."""
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype("float32")
    layer = RowLSTM(2, image_channels=1)
    layer.build(x.shape)
    _randomize(layer)
    kernel = _np(layer.input_kernel) * layer.mask
    state_kernel, bias = _np(layer.state_kernel), _np(layer.bias)
    np.testing.assert_array_equal(layer.mask[0, 2], 0.0)  # the pixel to the right: masked
    np.testing.assert_array_equal(layer.mask[0, :2], 1.0)  # left and centre (mask B, one channel)
    h = np.zeros((2, 5, 2)), np.zeros((2, 5, 2))
    expected = np.zeros((2, 4, 5, 2))
    for i in range(4):
        h_above, c_above = h
        h_row, c_row = np.zeros((2, 5, 2)), np.zeros((2, 5, 2))
        for j in range(5):
            gates = bias.copy()
            for tap in range(3):
                if 0 <= j + tap - 1 < 5:
                    gates = gates + x[:, i, j + tap - 1] @ kernel[0, tap] + h_above[:, j + tap - 1] @ state_kernel[tap]
            h_row[:, j], c_row[:, j] = _lstm(gates, c_above[:, j])
        h = h_row, c_row
        expected[:, i] = h_row
    np.testing.assert_allclose(_np(layer(x)), expected, atol=1e-5)


def test_diagonal_bilstm_is_the_papers_recurrence_in_image_coordinates():
    """Section 3.2, unskewed: the left-to-right state at (i, j) reads the states at (i - 1, j) and
    (i, j - 1) and the cell at (i, j - 1); the right-to-left one mirrors that, and its output is
    shifted down a row before the two are added."""
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype("float32")
    layer = DiagonalBiLSTM(2, image_channels=1)
    layer.build(x.shape)
    _randomize(layer)

    def direction(d, inputs):
        kernel, state_kernel, bias = (_np(w) for w in layer._direction(d))
        h, c = np.zeros((2, 4 + 1, 5 + 1, 2)), np.zeros((2, 4 + 1, 5 + 1, 2))  # a zero border above/left
        for i in range(4):
            for j in range(5):
                gates = inputs[:, i, j] @ (kernel * layer.mask) + bias
                gates = gates + h[:, i, j + 1] @ state_kernel[0] + h[:, i + 1, j] @ state_kernel[1]
                h[:, i + 1, j + 1], c[:, i + 1, j + 1] = _lstm(gates, c[:, i + 1, j])
        return h[:, 1:, 1:]

    left = direction(0, x)
    right = direction(1, x[:, :, ::-1])[:, :, ::-1]
    expected = left + np.concatenate([np.zeros_like(right[:, :1]), right[:, :-1]], axis=1)
    np.testing.assert_allclose(_np(layer(x)), expected, atol=1e-5)


def test_skew_shifts_row_r_right_by_r_and_unskew_inverts_it():
    x = np.arange(2 * 3 * 4 * 1, dtype="float32").reshape(2, 3, 4, 1) + 1
    skewed = _np(skew(x))
    assert skewed.shape == (2, 3, 6, 1)
    for r in range(3):
        np.testing.assert_array_equal(skewed[:, r, r:r + 4], x[:, r])
        assert np.count_nonzero(skewed[:, r]) == 2 * 4
    np.testing.assert_array_equal(_np(unskew(skewed, 4)), x)


def test_lstm_layers_round_trip_their_config_and_refuse_bad_settings():
    for layer in (RowLSTM(6, image_channels=3, kernel_size=5, name="r"), DiagonalBiLSTM(6, image_channels=3, name="d")):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="units=2 is too small for 3 image channels"):
        RowLSTM(2, image_channels=3)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd integer"):
        RowLSTM(4, kernel_size=2)


# -------------------------------------------------------------------- causality
def _jacobians(network, image_shape, seed=0):
    """`(D, D)` |d logits[t] / d x[s]| for every output sub-pixel t and input sub-pixel s (one backward
    pass: batch element t back-propagates a random mix of sub-pixel t's logits only)."""
    height, width, channels = image_shape
    dims = height * width * channels
    rng = np.random.default_rng(seed)
    x = tf.constant(np.repeat(rng.normal(size=(1, *image_shape)).astype("float32"), dims, axis=0))
    level_weights = rng.normal(size=network.output.shape[-1]).astype("float32")
    selector = tf.constant(np.eye(dims, dtype="float32").reshape(dims, height, width, channels))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.tensordot(network(x), level_weights, axes=1) * selector)
    return np.abs(_np(tape.gradient(loss, x)).reshape(dims, dims))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("image_shape, filters", [((8, 8, 1), 32), ((5, 5, 3), 48)], ids=["grey", "rgb"])
def test_logits_depend_only_on_earlier_sub_pixels(variant, image_shape, filters):
    keras.utils.set_random_seed(1)
    network = pixelrnn_network(image_shape, num_levels=4, variant=variant, filters=filters, num_layers=2)
    jacobian = _jacobians(network, image_shape)
    height, width, channels = image_shape
    dims = jacobian.shape[0]
    for t in range(dims):
        # Exactly zero: masks and the recurrences' direction remove these paths, no rounding involved.
        assert np.all(jacobian[t, t:] == 0), f"sub-pixel {t} sees sub-pixel {np.argmax(jacobian[t, t:] != 0) + t}"
        if t > 0:
            assert np.any(jacobian[t, :t] > 0), f"sub-pixel {t} sees nothing"
    if channels > 1:  # per colour group: G sees R of its pixel, B sees R and G
        for i, j in ((0, 0), (2, 3), (height - 1, width - 1)):
            first = (i * width + j) * channels
            assert jacobian[first + 1, first] > 0 and jacobian[first + 2, first] > 0
            assert jacobian[first + 2, first + 1] > 0
    unseen = {(t, s) for t in range(dims) for s in range(t) if jacobian[t, s] == 0}
    row_ends = {(t, s) for t, s in unseen if s == ((t // channels) // width) * width * channels - 1}
    if variant == "diagonal_bilstm":
        # Every earlier sub-pixel but the very last of the row above: the right-to-left LSTM reads row
        # i - 1's inputs, which (after the mask-A layer) hold sub-pixels before it only.
        assert unseen == row_ends and row_ends, sorted(unseen)[:5]
    else:  # a triangle above the pixel: on the first row, 3 pixels (7x7 mask A) and 1 more per layer
        assert len(unseen) > len(row_ends)
        reach = 3 + 2
        for j in range(1, width):
            sees_first_pixel = jacobian[j * channels, 0] > 0
            assert sees_first_pixel == (j <= reach), j


# --------------------------------------------------------------- the likelihood
def test_log_prob_is_the_networks_categorical_likelihood():
    images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=2)
    model = PixelRNN((28, 28, 1), variant="row_lstm", filters=8, num_layers=1, seed=0)
    levels = images.astype("int64")
    logits = _np(model.network(levels.astype("float32") / 127.5 - 1.0)).astype("float64")
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_softmax, levels[..., None], axis=-1).reshape(2, -1).sum(-1)
    x = kerasgen.datasets.to_value_range(images)
    np.testing.assert_allclose(_np(model.log_prob(x)), expected, rtol=1e-5)
    np.testing.assert_allclose(_np(model.bits_per_dim(x)), -expected / (784 * math.log(2)), rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bits_per_dim_falls_on_fashion_mnist(variant):
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", limit=1024, batch_size=64, seed=0)
    model = PixelRNN(variant=variant, filters=16, num_layers=1, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))  # the LSTMs idle near 8 bits for longer at 1e-3
    before = model.evaluate(train, verbose=0, return_dict=True)["bits_per_dim"]
    history = model.fit(train, epochs=2, verbose=0).history["bits_per_dim"]
    after = model.evaluate(train, verbose=0, return_dict=True)["bits_per_dim"]
    assert before > 7.5  # about log2(256) = 8 bits for an untrained softmax
    assert history[1] < history[0] and after < before - 1.5, (before, history, after)


# --------------------------------------------------------------------- sampling
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("image_shape, filters", [((6, 5, 1), 8), ((4, 4, 3), 12)], ids=["grey", "rgb"])
def test_cached_sampler_gives_the_full_canvas_samplers_images(variant, image_shape, filters):
    model = PixelRNN(image_shape, variant=variant, num_levels=4, filters=filters, num_layers=2, seed=0)
    _randomize(model.network)  # peaked logits: every layer and state matters
    assert model.uncacheable_reason is None
    noise = np.random.default_rng(2).uniform(size=(5, *image_shape)).astype("float32")
    full = _np(model.sample_from_uniform(noise, cached=False))
    np.testing.assert_array_equal(_np(model.sample_from_uniform(noise, cached=True)), full)
    assert len(np.unique(full)) == model.num_levels
    np.testing.assert_array_equal(_np(model.generate(3, seed=4)), _np(model.generate(3, seed=4, cached=False)))
    # A batch of any size reuses the one trace; each image depends on its own noise only.
    np.testing.assert_array_equal(_np(model.sample_from_uniform(noise[2:3])), full[2:3])
    assert model._cached_sampler.experimental_get_tracing_count() == 1


def test_a_network_the_recurrent_sampler_cannot_follow_falls_back_to_the_full_canvas():
    images = keras.Input((5, 5, 1))
    x = kerasgen.layers.MaskedConv2D(8, 3, "A")(images)
    x = RowLSTM(4, name="rnn0")(x)
    logits = keras.layers.Reshape((5, 5, 1, 4))(kerasgen.layers.MaskedConv2D(4, 1, "B")(x))
    model = PixelRNN((5, 5, 1), num_levels=4, network=keras.Model(images, logits), seed=0)
    assert "pixelrnn_network" in model.uncacheable_reason
    np.testing.assert_array_equal(_np(model.generate(2, seed=0)), _np(model.generate(2, seed=0, cached=False)))
    with pytest.raises(ValueError, match="cannot be sampled with caches"):
        model.generate(2, cached=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_and_sampling_under_xla_and_mixed_float16(variant):
    """The GPU path: mixed_float16 with jit_compile (XLA needs the scans' loops bounded)."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = PixelRNN((6, 6, 1), variant=variant, filters=8, num_layers=1, seed=0)
        model.compile(jit_compile=True)
        x = np.random.default_rng(0).uniform(-1, 1, (32, 6, 6, 1)).astype("float32")
        history = model.fit(x, batch_size=16, epochs=1, verbose=0).history
        assert model.network.get_layer("rnn0").compute_dtype == "float16"
        images = _np(model.generate(2, seed=0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history["loss"][0]) and images.dtype == np.float32
    assert np.isin(_np(model.to_levels(images)), np.arange(256)).all()


# ---------------------------------------------------------- saving and checks
def test_save_load_round_trip_of_the_row_lstm(tmp_path):
    """The registry's small config (the conformance suite) is the default Diagonal BiLSTM; this is the other."""
    model = PixelRNN((6, 6, 1), variant="row_lstm", filters=8, num_layers=1, num_levels=16, seed=0)
    model.compile()
    x = np.random.default_rng(0).uniform(-1, 1, (16, 6, 6, 1)).astype("float32")
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "pixelrnn.keras")
    loaded = keras.models.load_model(tmp_path / "pixelrnn.keras")
    assert type(loaded) is PixelRNN and loaded.variant == "row_lstm" and loaded.num_levels == 16
    assert "gated" not in loaded.get_config()
    np.testing.assert_array_equal(_np(loaded.log_prob(x)), _np(model.log_prob(x)))
    np.testing.assert_array_equal(_np(loaded.generate(3, seed=1)), _np(model.generate(3, seed=1)))
    assert int(loaded.optimizer.iterations.numpy()) == 2


def test_clear_errors_for_bad_settings():
    with pytest.raises(ValueError, match="variant must be one of 'row_lstm', 'diagonal_bilstm'"):
        PixelRNN(variant="grid_lstm")
    with pytest.raises(ValueError, match="PixelRNN has no gated option"):
        PixelRNN(gated=True)
    with pytest.raises(ValueError, match="filters=4 is too small for 3 image channels"):
        PixelRNN((8, 8, 3), filters=4)
    with pytest.raises(ValueError, match="noise of shape"):
        PixelRNN((6, 6, 1), filters=8, num_layers=0).sample_from_uniform(np.zeros((2, 5, 5, 1), "float32"))
    assert isinstance(PixelRNN((6, 6, 1), filters=8, num_layers=0), PixelCNN)  # its likelihood and serving
