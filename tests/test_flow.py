"""RealNVP (Dinh et al., 2017): the bijector layers, invertibility, the log-determinant against
automatic differentiation, the normalization of the density, learning on Fashion-MNIST, sampling."""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from kerasgen.layers.flows import AffineCoupling, FlowBatchNormalization, checkerboard_mask, squeeze, unsqueeze
from kerasgen.models import RealNVP
from kerasgen.networks.flows import MultiScaleFlow

TINY = dict(filters=8, num_blocks=1)


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def randomize(layer, seed=0, scale=0.3):
    """Random weights everywhere (couplings start as the identity), positive moving variances."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
        else:
            weight.assign((scale * rng.standard_normal(shape)).astype("float32"))
    return layer


def test_checkerboard_mask_and_squeeze_follow_the_paper():
    assert checkerboard_mask(2, 3, 0)[0, :, :, 0].tolist() == [[1, 0, 1], [0, 1, 0]]
    assert checkerboard_mask(2, 3, 1)[0, :, :, 0].tolist() == [[0, 1, 0], [1, 0, 1]]
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    squeezed = to_np(squeeze(x))
    assert squeezed.shape == (1, 2, 2, 4)
    assert squeezed[0, 0, 0].tolist() == [0, 1, 4, 5]  # the top-left 2x2 subsquare becomes one 1x1x4 pixel
    np.testing.assert_array_equal(to_np(unsqueeze(squeezed)), x)


@pytest.mark.parametrize("mask, parity", [("checkerboard", 0), ("checkerboard", 1), ("channel", 0), ("channel", 1)])
def test_a_coupling_keeps_its_masked_half_and_inverts(mask, parity):
    x = np.random.default_rng(1).standard_normal((3, 4, 4, 2)).astype("float32")
    coupling = AffineCoupling(mask, parity, filters=8, num_blocks=1)
    coupling.build(x.shape)
    y, log_det = coupling.forward(x)
    np.testing.assert_array_equal(to_np(y), x)  # zero-initialized output: the identity
    assert to_np(log_det).tolist() == [0.0, 0.0, 0.0]
    randomize(coupling)
    y, log_det = map(to_np, coupling.forward(x))
    kept = checkerboard_mask(4, 4, parity).astype(bool) if mask == "checkerboard" else None
    if mask == "checkerboard":
        np.testing.assert_array_equal(y[np.broadcast_to(kept, x.shape)], x[np.broadcast_to(kept, x.shape)])
        assert np.all(y[~np.broadcast_to(kept, x.shape)] != x[~np.broadcast_to(kept, x.shape)])
    else:
        same, changed = (slice(0, 1), slice(1, 2)) if parity == 0 else (slice(1, 2), slice(0, 1))
        np.testing.assert_array_equal(y[..., same], x[..., same])
        assert np.all(y[..., changed] != x[..., changed])
    np.testing.assert_allclose(to_np(coupling.inverse(y)), x, atol=1e-5)


def test_batch_norm_bijector_uses_batch_statistics_in_training_and_moving_averages_otherwise():
    x = (3.0 + 2.0 * np.random.default_rng(2).standard_normal((64, 4, 4, 2))).astype("float32")
    norm = FlowBatchNormalization(momentum=0.9)
    norm.build(x.shape)
    y, log_det = map(to_np, norm.forward(x, training=True))
    assert abs(y.mean()) < 1e-5 and y.std() == pytest.approx(1.0, abs=1e-3)
    variance = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(log_det, np.full(64, 16 * np.sum(-0.5 * np.log(variance + 1e-4))), rtol=1e-5)
    np.testing.assert_allclose(to_np(norm.moving_mean), 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    y, log_det = map(to_np, norm.forward(x, training=False))
    np.testing.assert_allclose(to_np(norm.inverse(y)), x, rtol=1e-5)


@pytest.fixture
def random_flow_model():
    model = RealNVP(image_shape=(4, 4, 1), num_scales=2, **TINY)
    return randomize(model)


def test_inverse_of_forward_recovers_the_images(random_flow_model, fashion_mnist_subset):
    model = RealNVP(num_scales=2, **TINY)
    randomize(model, scale=0.1)
    images = np.clip(fashion_mnist_subset[0][:8], -0.999, 0.999)  # logits of exact 0 and 255 are finite but steep
    z, log_det = model.forward(images)
    assert z.shape == images.shape and log_det.shape == (8,)
    np.testing.assert_allclose(to_np(model.inverse(z)), images, atol=1e-4)
    tiny = np.random.default_rng(3).uniform(-0.99, 0.99, (5, 4, 4, 1)).astype("float32")
    np.testing.assert_allclose(to_np(random_flow_model.inverse(random_flow_model.forward(tiny)[0])), tiny, atol=1e-4)


def test_log_det_equals_the_log_determinant_of_the_autodiff_jacobian(random_flow_model):
    """On 4x4 images (D = 16), two scales: squeeze, channel couplings, factor-out, all included."""
    images = np.random.default_rng(4).uniform(-0.9, 0.9, (3, 4, 4, 1)).astype("float32")
    _, log_det = random_flow_model.forward(images)
    for row in range(3):
        x = tf.constant(images[row : row + 1])
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = random_flow_model.forward(x)[0]
        jacobian = tf.reshape(tape.jacobian(z, x), (16, 16)).numpy().astype(np.float64)
        sign, expected = np.linalg.slogdet(jacobian)
        assert sign != 0
        assert float(log_det[row]) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("random_weights", [False, True])
def test_the_density_of_one_sub_pixel_integrates_to_the_normal_mass_of_its_support(random_weights):
    """D = 1: p(v) on [0, 256) integrated numerically equals Phi(z(256)) - Phi(z(0)), the prior's
    mass on the image of the data's support (the logit margin alpha puts the rest outside it):
    dequantization, the logit transform's Jacobian and the flow's log-det together make a density.
    At initialization the flow is the identity (up to batch norm's epsilon), so the support's image
    is [logit(0.05), logit(0.95)] and its mass P(|N(0, 1)| < 2.944) = 0.9968."""
    model = RealNVP(image_shape=(1, 1, 1), num_scales=1, **TINY)
    if random_weights:
        randomize(model, seed=5)
    per_cell = 64
    levels = np.repeat(np.arange(256), per_cell)
    noise = np.tile((np.arange(per_cell) + 0.5) / per_cell, 256).astype("float32").reshape(-1, 1, 1, 1)
    images = (levels / 255.0 * 2.0 - 1.0).astype("float32").reshape(-1, 1, 1, 1)
    density = np.exp(-to_np(model.negative_log_likelihood(images, noise)).astype(np.float64))
    integral = density.sum() / per_cell
    ends = model.forward(np.array([-1.0, 1.0], "float32").reshape(2, 1, 1, 1))[0]
    z_low, z_high = to_np(ends).ravel()
    assert integral == pytest.approx(stats.norm.cdf(z_high) - stats.norm.cdf(z_low), abs=1e-4)
    if not random_weights:
        assert integral == pytest.approx(2 * stats.norm.cdf(math.log(0.95 / 0.05)) - 1, abs=1e-3)


def test_log_prob_is_deterministic_and_bits_per_dim_is_its_scaling(fashion_mnist_subset):
    model = RealNVP(num_scales=2, **TINY)
    images = fashion_mnist_subset[0][:4]
    log_prob = to_np(model.log_prob(images))
    np.testing.assert_array_equal(log_prob, to_np(model.log_prob(images)))
    np.testing.assert_allclose(to_np(model.bits_per_dim(images)), -log_prob / (784 * math.log(2)), rtol=1e-6)
    # At initialization the flow is the identity up to batch norm's epsilon: log p is a standard
    # normal's on the logits of the cell centres, plus the Jacobians of the logit map and of the scaling.
    levels = np.round((images + 1) / 2 * 255)
    p = 0.05 + 0.9 * (levels + 0.5) / 256
    y = np.log(p) - np.log1p(-p)
    expected = (stats.norm.logpdf(y) + np.log(0.9 / 256) - np.log(p) - np.log1p(-p)).reshape(4, -1).sum(1)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-3)


def test_bits_per_dim_fall_on_fashion_mnist(fashion_mnist_subset):
    """Two epochs of 640 images: train and held-out bits/dim fall by more than 3 bits (from ~9.8)."""
    images = fashion_mnist_subset[0]
    train, held_out = images[:640], images[1536:]
    model = RealNVP(num_scales=2, filters=16, num_blocks=0, seed=0)
    model.compile()
    before = model.evaluate(held_out, batch_size=256, verbose=0, return_dict=True)["bits_per_dim"]
    history = model.fit(train, batch_size=64, epochs=2, shuffle=False, verbose=0).history["bits_per_dim"]
    after = model.evaluate(held_out, batch_size=256, verbose=0, return_dict=True)["bits_per_dim"]
    assert history[1] < history[0] - 0.5, history
    assert after < before - 3.0, (before, history, after)


def test_generate_draws_8_bit_images_at_a_temperature():
    model = randomize(RealNVP(num_scales=2, **TINY), scale=0.05)
    images = to_np(model.generate(6, seed=1))
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.float32
    levels = (images + 1) / 2 * 255
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
    assert images.min() >= -1 and images.max() <= 1 and images.std(axis=0).mean() > 0.01
    np.testing.assert_array_equal(images, to_np(model.generate(6, seed=1)))
    cold = to_np(model.generate(3, temperature=0.0, seed=2))
    np.testing.assert_array_equal(cold[0], cold[2])  # temperature 0: every sample decodes z = 0
    assert to_np(model.generate(64, temperature=0.5, seed=3)).std() < to_np(model.generate(64, seed=3)).std()


def test_the_flow_stays_float32_and_invertible_to_the_compute_precision_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = randomize(RealNVP(image_shape=(8, 8, 1), num_scales=2, **TINY), scale=0.1)
    assert model.flow.scales[0][0][0][0].conditioner.compute_dtype == "bfloat16"
    images = np.random.default_rng(6).uniform(-0.9, 0.9, (4, 8, 8, 1)).astype("float32")
    z, log_det = model.forward(images)
    assert z.dtype == "float32" and log_det.dtype == "float32"
    # The couplings' arithmetic is float32, but each conditioner rounds its input to bfloat16 (8-bit
    # mantissa): where the inverse pass's float32 round-off flips such a rounding, s and t move by
    # bfloat16's resolution, so the round trip is exact to ~1e-3 rather than float32's ~1e-6.
    np.testing.assert_allclose(to_np(model.inverse(z)), images, atol=2e-3)


def test_bad_configurations_and_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="divisible by 4, got 28x30"):
        RealNVP(image_shape=(28, 30, 1), num_scales=3)
    with pytest.raises(ValueError, match="do not pass latent_dim"):
        RealNVP(latent_dim=8)
    with pytest.raises(ValueError, match="alpha must be in"):
        RealNVP(alpha=0.5, **TINY)
    with pytest.raises(ValueError, match="even channel count"):
        AffineCoupling("channel").build((None, 4, 4, 3))
    model = RealNVP(image_shape=(8, 8, 1), **TINY)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.generate(2, temperature=-1.0)
    with pytest.raises(ValueError, match=r"shape \(batch, 8, 8, 1\)"):
        model.log_prob(np.zeros((2, 8, 8), "float32"))
    with pytest.raises(ValueError, match="in \\(-1.0, 1.0\\)|value range|range"):
        model.log_prob(np.full((2, 8, 8, 1), 3.0, "float32"))


def test_multi_scale_flow_round_trips_its_config():
    flow = MultiScaleFlow((8, 8, 2), num_scales=3, filters=4, num_blocks=2)
    clone = MultiScaleFlow.from_config(flow.get_config())
    assert clone.get_config() == flow.get_config() and len(clone.weights) == len(flow.weights)
