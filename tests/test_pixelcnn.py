"""PixelCNN: causal masks, causality of both networks, exact likelihood, sampling, saving."""
from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen.layers import MaskedConv2D  # noqa: E402
from kerasgen.layers.masked_conv import causal_mask  # noqa: E402
from kerasgen.models import PixelCNN  # noqa: E402
from kerasgen.models.pixelcnn import inverse_cdf  # noqa: E402
from kerasgen.networks import pixelcnn_network  # noqa: E402


def _np(x):
    return keras.ops.convert_to_numpy(x)


def tiny(image_shape=(6, 6, 1), **kwargs):
    kwargs = {"filters": 8, "num_layers": 1, "seed": 0, **kwargs}
    return PixelCNN(image_shape, **kwargs)


# ----------------------------------------------------------------------------- masks
# 5x5 spatial pattern: rows above the centre, and the centre row left of the centre.
SPATIAL_5x5 = np.array(
    [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ],
    dtype="float32",
)


def test_mask_a_and_b_for_one_channel():
    for mask_type, centre in (("A", 0.0), ("B", 1.0)):
        mask = causal_mask((5, 5), 1, 1, mask_type, image_channels=1)
        expected = SPATIAL_5x5.copy()
        expected[2, 2] = centre
        np.testing.assert_array_equal(mask[:, :, 0, 0], expected, err_msg=mask_type)
    # Several feature maps of one channel: every pair is masked alike.
    mask = causal_mask((5, 5), 4, 6, "A", image_channels=1)
    np.testing.assert_array_equal(mask, np.broadcast_to(SPATIAL_5x5[:, :, None, None], (5, 5, 4, 6)))


def test_mask_a_and_b_for_three_channels():
    # Image -> 3 features (first layer): R sees nothing of the centre pixel,
    # G sees R, B sees R and G (mask A); mask B adds each channel itself.
    a = causal_mask((5, 5), 3, 3, "A", image_channels=3)
    b = causal_mask((5, 5), 3, 3, "B", image_channels=3)
    np.testing.assert_array_equal(a[2, 2], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])  # [in, out]
    np.testing.assert_array_equal(b[2, 2], [[1, 1, 1], [0, 1, 1], [0, 0, 1]])
    for mask in (a, b):  # off-centre taps ignore channels
        for i in range(3):
            for o in range(3):
                off_centre = mask[:, :, i, o].copy()
                off_centre[2, 2] = 0
                expected = SPATIAL_5x5.copy()
                expected[2, 2] = 0
                np.testing.assert_array_equal(off_centre, expected)
    # 3 image channels -> 6 features: groups [R, R, G, G, B, B].
    a = causal_mask((5, 5), 3, 6, "A", image_channels=3)
    np.testing.assert_array_equal(
        a[2, 2], [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]]
    )
    # 6 features -> 3 * 2 level logits with mask B: output o is channel o // 2.
    b = causal_mask((1, 1), 6, 6, "B", image_channels=3)[0, 0]
    np.testing.assert_array_equal(b, np.kron(np.triu(np.ones((3, 3))), np.ones((2, 2))))


def test_mask_of_a_horizontal_kernel():
    mask = causal_mask((1, 5), 1, 1, "A")
    np.testing.assert_array_equal(mask[:, :, 0, 0], [[1, 1, 0, 0, 0]])
    mask = causal_mask((1, 5), 1, 1, "B")
    np.testing.assert_array_equal(mask[:, :, 0, 0], [[1, 1, 1, 0, 0]])


def test_masked_conv_convolves_with_the_masked_kernel_and_round_trips_its_config():
    layer = MaskedConv2D(6, 3, mask_type="A", image_channels=3, activation="relu")
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32")
    y = _np(layer(x))
    kernel = _np(layer.kernel) * causal_mask((3, 3), 3, 6, "A", 3)
    expected = np.maximum(_np(keras.ops.conv(x, kernel, padding="same")) + _np(layer.bias), 0.0)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    assert layer.kernel.trainable and len(layer.weights) == 2  # the mask is not a weight
    config = layer.get_config()
    assert config["mask_type"] == "A" and config["image_channels"] == 3
    clone = MaskedConv2D.from_config(config)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(clone(x)), y, atol=1e-6)
    # The masked taps get zero gradient.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x))
    gradient = _np(tape.gradient(loss, layer.kernel))
    assert np.all(gradient[causal_mask((3, 3), 3, 6, "A", 3) == 0] == 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernel_size": 3, "mask_type": "C"}, "mask_type"),
        ({"kernel_size": 4}, "odd"),
        ({"kernel_size": 3, "padding": "valid"}, "padding"),
        ({"kernel_size": 3, "strides": 2}, "strides"),
    ],
)
def test_masked_conv_refuses_misaligned_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MaskedConv2D(4, **kwargs)


# ------------------------------------------------------------------------- causality
def _jacobians(network, image_shape, seed=0):
    """`(D, D)` |d logits[t] / d x[s]| for every output sub-pixel t and input sub-pixel s.

    One gradient call: the batch holds D copies of one random image and copy t
    only back-propagates a random mix of the logits of sub-pixel t (raster
    order, channels innermost); the network treats batch elements independently.
    """
    height, width, channels = image_shape
    dims = height * width * channels
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(1, *image_shape)).astype("float32")
    x = tf.constant(np.repeat(image, dims, axis=0))
    level_weights = rng.normal(size=network.output.shape[-1]).astype("float32")
    selector = tf.constant(np.eye(dims, dtype="float32").reshape(dims, height, width, channels))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = network(x)
        loss = tf.reduce_sum(tf.tensordot(logits, level_weights, axes=1) * selector)
    return np.abs(_np(tape.gradient(loss, x)).reshape(dims, dims))


CAUSALITY_CASES = {
    "pixelcnn_8x8x1": ((8, 8, 1), dict(filters=32, num_layers=2)),
    "gated_8x8x1": ((8, 8, 1), dict(filters=32, num_layers=2, gated=True)),
    "pixelcnn_6x6x3": ((6, 6, 3), dict(filters=48, num_layers=2)),
    "gated_6x6x3": ((6, 6, 3), dict(filters=24, num_layers=2, gated=True)),
}


@pytest.mark.parametrize("case", sorted(CAUSALITY_CASES))
def test_logits_depend_only_on_earlier_sub_pixels(case):
    image_shape, kwargs = CAUSALITY_CASES[case]
    keras.utils.set_random_seed(1)
    network = pixelcnn_network(image_shape, num_levels=4, **kwargs)
    jacobian = _jacobians(network, image_shape)
    dims = jacobian.shape[0]
    for t in range(dims):  # every sub-pixel, corners included
        # Exactly zero: the masks remove these paths, no rounding involved.
        assert np.all(jacobian[t, t:] == 0), f"{case}: sub-pixel {t} sees sub-pixel {np.argmax(jacobian[t, t:] != 0) + t}"
        if t > 0:
            assert np.any(jacobian[t, :t] > 0), f"{case}: sub-pixel {t} sees nothing"
    height, width, channels = image_shape
    if channels > 1:  # the second and third channel of a pixel see the ones before it
        for i, j in ((0, 0), (3, 2), (height - 1, width - 1)):
            first = (i * width + j) * channels
            assert jacobian[first + 1, first] > 0 and jacobian[first + 2, first] > 0
            assert jacobian[first + 2, first + 1] > 0


def test_gated_network_has_no_blind_spot():
    """Every earlier pixel in the 9-wide window of the 4 rows above (and the 4 pixels
    to the left) reaches the Gated PixelCNN's output; stacked masked 3x3 kernels of
    the plain PixelCNN miss part of the region above and to the right."""
    image_shape = (8, 8, 1)
    keras.utils.set_random_seed(1)
    network = pixelcnn_network(image_shape, num_levels=4, filters=32, num_layers=2, gated=True)
    jacobian = _jacobians(network, image_shape).reshape(8, 8, 8, 8)
    for i, j in ((7, 4), (6, 0), (5, 7), (4, 3)):
        for r in range(max(0, i - 4), i + 1):
            for c in range(max(0, j - 4), min(8, j + 5)):
                if (r, c) < (i, j):
                    assert jacobian[i, j, r, c] > 0, ((i, j), (r, c))


# ------------------------------------------------------------------------ likelihood
def test_log_prob_matches_a_numpy_log_softmax():
    images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=4)
    model = PixelCNN((28, 28, 1), filters=16, num_layers=1, seed=0)
    x = kerasgen.datasets.to_value_range(images)
    levels = images.astype("int64")  # 8-bit images are their own levels
    logits = _np(model.network(levels.astype("float32") / 127.5 - 1.0)).astype("float64")
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_softmax, levels[..., None], axis=-1).reshape(4, -1).sum(-1)
    log_prob = _np(model.log_prob(x))
    assert log_prob.dtype == np.float32 and log_prob.shape == (4,)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)
    np.testing.assert_allclose(_np(model.bits_per_dim(x)), -expected / (784 * math.log(2)), rtol=1e-5)
    np.testing.assert_allclose(_np(model(x)), logits, atol=1e-5)
    # The loss function alone, on hand-made logits: -log softmax at the given levels.
    two_levels = np.log(np.array([[[[[0.25, 0.75]]]]], dtype="float32"))
    nll = _np(kerasgen.losses.categorical_pixel_nll(np.array([[[[1]]]]), two_levels))
    np.testing.assert_allclose(nll, [-math.log(0.75)], rtol=1e-6)


def test_fit_reports_loss_and_bits_per_dim_consistently():
    model = tiny()
    model.compile()
    x = np.random.default_rng(0).uniform(-1, 1, (32, 6, 6, 1)).astype("float32")
    history = model.fit(x, batch_size=16, epochs=1, verbose=0).history
    assert set(history) == {"loss", "bits_per_dim"}
    np.testing.assert_allclose(history["bits_per_dim"][0], history["loss"][0] / (36 * math.log(2)), rtol=1e-5)
    results = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    np.testing.assert_allclose(results["loss"], -_np(model.log_prob(x)).mean(), rtol=1e-5)


def test_bits_per_dim_falls_on_fashion_mnist():
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", limit=1024, batch_size=64, seed=0)
    model = PixelCNN(**kerasgen.models.REGISTRY["pixelcnn"].small_config, seed=0)
    model.compile()
    before = model.evaluate(train, verbose=0, return_dict=True)["bits_per_dim"]
    history = model.fit(train, epochs=2, verbose=0).history["bits_per_dim"]
    after = model.evaluate(train, verbose=0, return_dict=True)["bits_per_dim"]
    assert before > 7.5  # about log2(256) = 8 bits for an untrained softmax
    assert history[1] < history[0] and after < before - 0.75, (before, history, after)


# --------------------------------------------------------------- levels and checks
def test_levels_round_trip_8_bit_images_and_value_ranges():
    images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=16)
    for value_range in ((-1.0, 1.0), (0.0, 1.0)):
        model = tiny((28, 28, 1), value_range=value_range)
        x = kerasgen.datasets.to_value_range(images, value_range)
        levels = _np(model.to_levels(x))
        assert levels.dtype == np.int32
        np.testing.assert_array_equal(levels, images)
        np.testing.assert_allclose(_np(model.from_levels(levels)), x, atol=1e-6)
    # Out-of-range values clip to the end levels.
    np.testing.assert_array_equal(_np(model.to_levels(np.array([-0.5, 1.5], "float32"))), [0, 255])


def test_binarized_variant_thresholds_at_the_midpoint():
    model = tiny(num_levels=2)
    x = np.array([-1.0, -0.3, -0.01, 0.01, 0.4, 1.0], "float32")
    np.testing.assert_array_equal(_np(model.to_levels(x)), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(_np(model.from_levels(np.array([0, 1]))), [-1.0, 1.0])
    images = _np(model.generate(3, seed=0))
    assert set(np.unique(images)) <= {-1.0, 1.0}
    assert model.network.output.shape[1:] == (6, 6, 1, 2)


def test_clear_errors_for_bad_inputs():
    model = tiny()
    with pytest.raises(ValueError, match=r"shape \(batch, 6, 6, 1\)"):
        model.log_prob(np.zeros((2, 6, 6), "float32"))
    with pytest.raises(ValueError, match=r"shape \(batch, 6, 6, 1\)"):
        model.log_prob(np.zeros((2, 6, 6, 3), "float32"))
    with pytest.raises(ValueError, match="float images"):
        model.log_prob(np.zeros((2, 6, 6, 1), "uint8"))
    with pytest.raises(ValueError, match=r"images in \[-1, 1\]"):
        model.log_prob(np.full((2, 6, 6, 1), 3.0, "float32"))
    with pytest.raises(ValueError, match="noise of shape"):
        model.sample_from_uniform(np.zeros((2, 6, 6), "float32"))
    with pytest.raises(ValueError, match=r"noise in \[0, 1\)"):
        model.sample_from_uniform(np.ones((2, 6, 6, 1), "float32"))
    model.compile()
    with pytest.raises(ValueError, match="expects NHWC images"):
        model.fit(np.zeros((4, 5, 6, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match="num_levels"):
        PixelCNN((6, 6, 1), num_levels=1)
    with pytest.raises(ValueError, match="filters=4 is too small for 3 image channels"):
        PixelCNN((6, 6, 3), filters=4)
    with pytest.raises(ValueError, match="no latent code"):
        PixelCNN((6, 6, 1), latent_dim=8)
    with pytest.raises(ValueError, match="logits"):
        PixelCNN((6, 6, 1), network=pixelcnn_network((6, 6, 1), num_levels=16, filters=8, num_layers=0))


# ------------------------------------------------------------------------- sampling
def test_inverse_cdf_on_a_known_categorical():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]], "float32")).repeat(8, axis=0)
    uniform = np.array([0.0, 0.05, 0.12, 0.29, 0.31, 0.59, 0.61, 0.999], "float32")
    np.testing.assert_array_equal(_np(inverse_cdf(tf.constant(logits), tf.constant(uniform))), [0, 0, 1, 1, 2, 2, 3, 3])


def test_sampling_is_deterministic_and_the_compiled_loop_equals_the_python_loop():
    model = tiny(filters=16, num_layers=2)
    noise = np.random.default_rng(0).uniform(size=(3, 6, 6, 1)).astype("float32")
    first = _np(model.sample_from_uniform(noise))
    np.testing.assert_array_equal(_np(model.sample_from_uniform(noise)), first)
    assert first.dtype == np.float32 and first.shape == (3, 6, 6, 1)
    assert first.min() >= -1.0 and first.max() <= 1.0 and first.std() > 0.1
    # A batch of any size reuses the one trace; each image depends on its own noise only.
    np.testing.assert_array_equal(_np(model.sample_from_uniform(noise[1:2])), first[1:2])
    assert model._cached_sampler.experimental_get_tracing_count() == 1

    compiled, naive = _np(model.generate(4, seed=7)), _np(model.naive_generate(4, seed=7))
    np.testing.assert_array_equal(compiled, naive)
    np.testing.assert_array_equal(_np(model.generate(4, seed=7)), compiled)
    assert not np.array_equal(_np(model.generate(4, seed=8)), compiled)
    # seed=None advances the model's SeedGenerator.
    assert not np.array_equal(_np(model.generate(4)), _np(model.generate(4)))


# ------------------------------------------------------------ cached sampling
def _randomized(model, scale=0.5):
    """Weights far from initialization, so that logits are peaked and every layer matters."""
    rng = np.random.default_rng(1)
    for variable in model.network.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32") * scale)
    return model


@pytest.mark.parametrize("image_shape, options", [
    ((6, 5, 1), {"filters": 8, "num_layers": 2}),
    ((6, 5, 1), {"filters": 8, "num_layers": 2, "gated": True}),
    ((4, 4, 3), {"filters": 12, "num_layers": 2}),
    ((4, 4, 3), {"filters": 12, "num_layers": 2, "gated": True}),
    ((5, 5, 1), {"filters": 8, "num_layers": 1, "embedding_dim": 4, "num_levels": 8}),
    ((4, 4, 2), {"filters": 8, "num_layers": 1, "embedding_dim": 3, "num_levels": 8, "gated": True}),
], ids=["plain", "gated", "plain-rgb", "gated-rgb", "embedding", "gated-embedding-2ch"])
def test_cached_sampler_gives_the_full_canvas_samplers_images(image_shape, options):
    """Ramachandran et al.'s caches change the work per step, not the result: equal noise, equal images."""
    model = _randomized(tiny(image_shape, **{"num_levels": 4, **options}))
    noise = np.random.default_rng(2).uniform(size=(5, *image_shape)).astype("float32")
    full = _np(model.sample_from_uniform(noise, cached=False))
    cached = _np(model.sample_from_uniform(noise, cached=True))
    np.testing.assert_array_equal(cached, full)
    assert len(np.unique(full)) == model.num_levels  # peaked logits over every level: a real comparison
    np.testing.assert_array_equal(_np(model.generate(3, seed=4)), _np(model.generate(3, seed=4, cached=False)))


def test_the_cache_schedule_of_kerasgens_networks():
    """Plain PixelCNN: every tensor is computed pixel by pixel and only the inputs of kernels wider
    than 1x1 are cached. Gated: the vertical stack, which sees the current row to the right, is
    computed row by row after the row is drawn."""
    plain = tiny(filters=8, num_layers=2)._cache
    assert plain.summary == {"pixel": len(plain.tensors) - 1, "row": 0}
    wide_inputs = {t.inputs[0] for t in plain.tensors[1:] if t.taps and len(t.taps) > 1}
    assert set(plain.cached) == wide_inputs and 0 in wide_inputs
    gated = tiny(filters=8, num_layers=2, gated=True)._cache
    rows = {t.layer.name for t in gated.row_tensors}
    assert {"gated0_v_f", "gated1_v_g", "gated1_v_gate", "gated2_v_f"} <= rows
    assert not any(name.startswith(("gated1_h_", "out_")) for name in rows)
    assert all(t.frontier[0] < 0 or t.frontier[1] > 0 for t in gated.row_tensors)


def _network_with(layer, image_shape=(6, 6, 1), num_levels=4):
    images = keras.Input(image_shape)
    x = MaskedConv2D(8, 3, "A")(images)
    x = layer(x)
    logits = keras.layers.Reshape((*image_shape, num_levels))(MaskedConv2D(num_levels, 1, "B")(x))
    return keras.Model(images, logits)


@pytest.mark.parametrize("layer, reason", [
    (keras.layers.Conv2D(8, 3, padding="same"), "not causal"),
    (keras.layers.Lambda(lambda x: x * 2.0), "Lambda layers are not supported"),
])
def test_networks_the_cache_cannot_follow_fall_back_to_the_full_canvas(layer, reason):
    model = PixelCNN((6, 6, 1), num_levels=4, network=_network_with(layer), seed=0)
    assert reason in model.uncacheable_reason and model._cached_sampler is None
    images = _np(model.generate(2, seed=0))  # cached=None: the full-canvas loop
    np.testing.assert_array_equal(images, _np(model.generate(2, seed=0, cached=False)))
    with pytest.raises(ValueError, match="cannot be sampled with caches"):
        model.generate(2, seed=0, cached=True)


def test_cached_sampling_under_mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny(filters=8, num_layers=1, gated=True)
        images = _np(model.generate(2, seed=0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert images.shape == (2, 6, 6, 1) and images.dtype == np.float32 and np.isin(
        _np(model.to_levels(images)), np.arange(256)).all()


def test_extreme_noise_gives_the_end_levels():
    """u = 0 picks the lowest level of nonzero probability: level 0 under an
    untrained softmax (no probability underflows); u -> 1 picks the top level."""
    model = tiny(filters=16, num_layers=2)
    zeros = _np(model.sample_from_uniform(np.zeros((2, 6, 6, 1), "float32")))
    np.testing.assert_array_equal(zeros, -1.0)
    ones = _np(model.sample_from_uniform(np.full((2, 6, 6, 1), 1 - 2**-24, "float32")))
    np.testing.assert_array_equal(ones, 1.0)


def test_sampling_a_colour_gated_model_fills_every_channel():
    model = tiny((4, 4, 3), filters=6, gated=True, num_levels=16)
    images = _np(model.generate(2, seed=3))
    np.testing.assert_array_equal(_np(model.naive_generate(2, seed=3)), images)
    levels = _np(model.to_levels(images))
    assert len(np.unique(levels)) > 4 and np.all((levels >= 0) & (levels < 16))


def test_logits_are_float32_under_mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = tiny()
    x = np.random.default_rng(0).uniform(-1, 1, (2, 6, 6, 1)).astype("float32")
    assert model.network.layers[1].compute_dtype == "bfloat16"
    assert _np(model(x)).dtype == np.float32
    assert _np(model.log_prob(x)).dtype == np.float32
    assert _np(model.generate(2, seed=0)).dtype == np.float32


# --------------------------------------------------------------------------- saving
@pytest.mark.parametrize("gated", [False, True])
def test_save_load_round_trip(tmp_path, gated):
    model = tiny(gated=gated, num_levels=16, num_layers=0 if gated else 1)  # gated graphs trace slowly
    model.compile()
    x = np.random.default_rng(0).uniform(-1, 1, (16, 6, 6, 1)).astype("float32")
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "pixelcnn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is PixelCNN and loaded.gated is gated and loaded.num_levels == 16
    np.testing.assert_array_equal(_np(loaded.log_prob(x)), _np(model.log_prob(x)))
    np.testing.assert_array_equal(_np(loaded.generate(3, seed=1)), _np(model.generate(3, seed=1)))
    np.testing.assert_array_equal(_np(loaded.seed_generator.state), _np(model.seed_generator.state))
    assert int(loaded.optimizer.iterations.numpy()) == 2


def test_the_sampler_compiles_under_xla_and_draws_the_same_images():
    """The autoregressive while-loop compiles with XLA (what a GPU user's jit_compile gives) and picks
    the same level for every sub-pixel as the graph-mode sampler from the same uniform noise."""
    model = kerasgen.models.PixelCNN(image_shape=(8, 8, 1), filters=8, num_layers=2, seed=0)
    noise = tf.random.stateless_uniform((3, 8, 8, 1), seed=(1, 2))
    graph = model.sample_from_uniform(noise)
    xla = tf.function(model.sample_from_uniform, jit_compile=True)(noise)
    np.testing.assert_allclose(xla.numpy(), graph.numpy(), atol=1e-6)  # level -> value rounding only
    np.testing.assert_array_equal(model.log_prob(xla).numpy(), model.log_prob(graph).numpy())


def test_the_default_network_is_the_one_benchmarks_md_chose():
    """PixelCNN() is the network and optimizer of BENCHMARKS.md's "PixelCNN's default network" row:
    64 feature maps, a 7x7 mask-A layer and 12 residual blocks whose 3x3 mask-B kernels each reach
    one more row up, so the output at a pixel depends on inputs 15 rows above it; Adam(2e-3)."""
    model = PixelCNN(seed=0)
    assert (model.filters, model.num_layers, model.gated) == (64, 12, False)
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(2e-3)
    network = pixelcnn_network((28, 28, 1))  # the builder's defaults are the model's
    assert network.count_params() == model.network.count_params()
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, size=(1, 28, 28, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(network(images)[0, 20, 14, 0])  # every logit of pixel (20, 14)
    gradient = np.abs(tape.gradient(total, images).numpy()[0, :, :, 0])
    rows = np.nonzero(gradient.sum(axis=1))[0]
    assert rows.min() == 20 - 15 and rows.max() == 20  # 15 rows up, nothing below the current row
