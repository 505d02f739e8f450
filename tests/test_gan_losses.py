"""Adversarial losses and discriminator penalties of kerasgen.losses."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen import losses  # noqa: E402

LOG2 = math.log(2.0)


def _np(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


def _softplus(x):
    """log(1 + e^x) in plain Python."""
    return math.log1p(math.exp(x))


def _f32(*values):
    return np.array(values, np.float32)


# ---------------------------------------------------------------- hand-computed values


def test_cross_entropy_at_zero_logits_is_log_two():
    # D = sigmoid(0) = 1/2: -log(1/2) for the real plus -log(1 - 1/2) for the fake.
    np.testing.assert_allclose(_np(losses.discriminator_cross_entropy(_f32(0, 0), _f32(0, 0))), [2 * LOG2] * 2, rtol=1e-6)
    np.testing.assert_allclose(_np(losses.minimax_generator_loss(_f32(0))), [-LOG2], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.non_saturating_generator_loss(_f32(0))), [LOG2], rtol=1e-6)


def test_cross_entropy_hand_computed():
    # real logit 2, fake logit -1: -log sigmoid(2) - log(1 - sigmoid(-1)) = softplus(-2) + softplus(-1).
    expected = math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))  # 0.126928 + 0.313262
    np.testing.assert_allclose(_np(losses.discriminator_cross_entropy(_f32(2.0), _f32(-1.0))), [expected], rtol=1e-6)
    # Label smoothing 0.1: the real target is 0.9, so 0.9 softplus(-2) + 0.1 softplus(2) + softplus(-1).
    smoothed = 0.9 * _softplus(-2.0) + 0.1 * _softplus(2.0) + _softplus(-1.0)
    np.testing.assert_allclose(
        _np(losses.discriminator_cross_entropy(_f32(2.0), _f32(-1.0), label_smoothing=0.1)), [smoothed], rtol=1e-6
    )
    assert smoothed > expected  # smoothing penalizes the confident real logit
    # Generator at fake logit 2: minimax log(1 - sigmoid(2)) = -softplus(2) = -2.126928;
    # non-saturating -log sigmoid(2) = softplus(-2) = 0.126928.
    np.testing.assert_allclose(_np(losses.minimax_generator_loss(_f32(2.0))), [-_softplus(2.0)], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.non_saturating_generator_loss(_f32(2.0))), [_softplus(-2.0)], rtol=1e-6)


def test_cross_entropy_is_finite_at_extreme_logits():
    # softplus(-100) underflows to 0; softplus(100) = 100 exactly in float32.
    result = _np(losses.discriminator_cross_entropy(_f32(100.0, -100.0), _f32(-100.0, 100.0)))
    np.testing.assert_allclose(result, [0.0, 200.0], atol=1e-6)


def test_least_squares_hand_computed():
    real, fake = _f32(0.5), _f32(0.25)
    # Default 0-1 coding (a=0, b=1): 1/2 (0.5 - 1)^2 + 1/2 (0.25 - 0)^2 = 0.125 + 0.03125.
    np.testing.assert_allclose(_np(losses.least_squares_discriminator_loss(real, fake)), [0.15625], rtol=1e-6)
    # a=-1, b=1: 1/2 (0.5 - 1)^2 + 1/2 (0.25 + 1)^2 = 0.125 + 0.78125.
    np.testing.assert_allclose(
        _np(losses.least_squares_discriminator_loss(real, fake, a=-1.0, b=1.0)), [0.90625], rtol=1e-6
    )
    # c=0: 1/2 (0.25 - 0)^2 = 0.03125; default c=1: 1/2 (0.25 - 1)^2 = 0.28125.
    np.testing.assert_allclose(_np(losses.least_squares_generator_loss(fake, c=0.0)), [0.03125], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.least_squares_generator_loss(fake)), [0.28125], rtol=1e-6)


def test_wasserstein_hand_computed():
    real, fake = _f32(3.0, -1.0), _f32(1.0, 2.0)
    np.testing.assert_allclose(_np(losses.wasserstein_critic_loss(real, fake)), [1 - 3, 2 - (-1)], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.wasserstein_generator_loss(fake)), [-1.0, -2.0], rtol=1e-6)


def test_hinge_hand_computed():
    # Real scores: 2 is beyond the margin (0), 0.5 inside (1 - 0.5), -1 wrong side (1 + 1).
    # Fake scores: -2 beyond the margin (0), -0.5 inside (1 - 0.5), 1 wrong side (1 + 1).
    real, fake = _f32(2.0, 0.5, -1.0), _f32(-2.0, -0.5, 1.0)
    np.testing.assert_allclose(_np(losses.hinge_discriminator_loss(real, fake)), [0.0, 1.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.hinge_discriminator_loss(real, real)), [3.0, 2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.hinge_generator_loss(fake)), [2.0, 0.5, -1.0], rtol=1e-6)


# ---------------------------------------------------------------- NumPy references


def _sp(x):
    return np.logaddexp(0.0, x)


def _patch_mean(per_patch):
    """Per-example mean of a per-patch loss: (batch, ...) -> (batch,)."""
    return per_patch.reshape(per_patch.shape[0], -1).mean(axis=1)


# name -> (kerasgen function, NumPy loss per score, number of score arguments, linear in the scores)
CASES = {
    "cross_entropy": (losses.discriminator_cross_entropy, lambda r, f: _sp(-r) + _sp(f), 2, False),
    "cross_entropy_smoothed": (
        lambda r, f: losses.discriminator_cross_entropy(r, f, label_smoothing=0.1),
        lambda r, f: 0.9 * _sp(-r) + 0.1 * _sp(r) + _sp(f), 2, False,
    ),
    "minimax": (losses.minimax_generator_loss, lambda f: -_sp(f), 1, False),
    "non_saturating": (losses.non_saturating_generator_loss, lambda f: _sp(-f), 1, False),
    "least_squares_d": (losses.least_squares_discriminator_loss, lambda r, f: 0.5 * (r - 1) ** 2 + 0.5 * f**2, 2, False),
    "least_squares_d_symmetric": (
        lambda r, f: losses.least_squares_discriminator_loss(r, f, a=-1.0, b=1.0),
        lambda r, f: 0.5 * (r - 1) ** 2 + 0.5 * (f + 1) ** 2, 2, False,
    ),
    "least_squares_g": (losses.least_squares_generator_loss, lambda f: 0.5 * (f - 1) ** 2, 1, False),
    "least_squares_g_c0": (lambda f: losses.least_squares_generator_loss(f, c=0.0), lambda f: 0.5 * f**2, 1, False),
    "wasserstein_d": (losses.wasserstein_critic_loss, lambda r, f: f - r, 2, True),
    "wasserstein_g": (losses.wasserstein_generator_loss, lambda f: -f, 1, True),
    "hinge_d": (losses.hinge_discriminator_loss, lambda r, f: np.maximum(0, 1 - r) + np.maximum(0, 1 + f), 2, False),
    "hinge_g": (losses.hinge_generator_loss, lambda f: -f, 1, True),
}
SHAPES = {"flat": (6,), "column": (6, 1), "patch": (6, 4, 4, 1)}

# A PatchGAN discriminator (Isola et al., 2017) classifies every patch: its loss is the
# mean over patches of the per-patch loss (not the loss of the mean score).
def _params():
    for name in CASES:
        for shape in SHAPES:
            yield pytest.param(name, shape, id=f"{name}-{shape}")


@pytest.mark.parametrize("name, shape", _params())
def test_losses_match_numpy(name, shape):
    function, reference, arity, _ = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    scores = [rng.normal(scale=2.0, size=SHAPES[shape]).astype(np.float32) for _ in range(arity)]
    result = _np(function(*scores))
    assert result.shape == (6,)
    expected = _patch_mean(reference(*[s.astype(np.float64) for s in scores]))
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_adversarial_loss_pairs_by_name():
    assert losses.adversarial_loss_pair("minimax") == (
        losses.discriminator_cross_entropy, losses.minimax_generator_loss)
    assert losses.adversarial_loss_pair("non_saturating") == (
        losses.discriminator_cross_entropy, losses.non_saturating_generator_loss)
    assert losses.adversarial_loss_pair("least_squares") == (
        losses.least_squares_discriminator_loss, losses.least_squares_generator_loss)
    assert losses.adversarial_loss_pair("wasserstein") == (
        losses.wasserstein_critic_loss, losses.wasserstein_generator_loss)
    assert losses.adversarial_loss_pair("hinge") == (losses.hinge_discriminator_loss, losses.hinge_generator_loss)
    assert set(losses.ADVERSARIAL_LOSSES) == {"minimax", "non_saturating", "least_squares", "wasserstein", "hinge"}
    with pytest.raises(ValueError, match="hinge.*least_squares"):
        losses.adversarial_loss_pair("relativistic")


def test_minimax_saturates_and_non_saturating_does_not():
    logits = tf.constant([-30.0, -10.0, 0.0, 10.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        minimax = keras.ops.sum(losses.minimax_generator_loss(logits))
        non_saturating = keras.ops.sum(losses.non_saturating_generator_loss(logits))
    d_minimax = _np(tape.gradient(minimax, logits))
    d_non_saturating = _np(tape.gradient(non_saturating, logits))
    sigmoid = 1.0 / (1.0 + np.exp(-_np(logits)))
    # d/dl [-softplus(l)] = -sigmoid(l) -> 0;  d/dl softplus(-l) = -sigmoid(-l) -> -1  as l -> -inf.
    np.testing.assert_allclose(d_minimax, -sigmoid, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(d_non_saturating, -(1.0 - sigmoid), rtol=1e-5, atol=1e-6)
    assert abs(d_minimax[0]) < 1e-12 and abs(d_minimax[1]) < 1e-4
    assert abs(d_non_saturating[0] + 1.0) < 1e-6 and abs(d_non_saturating[1] + 1.0) < 1e-4
    assert d_minimax[2] == pytest.approx(-0.5) and d_non_saturating[2] == pytest.approx(-0.5)


# ---------------------------------------------------------------- penalties

IMAGE_SHAPE = (4, 4, 1)


def _linear_critic(norm, seed=0):
    """D(x) = sum(w * x) + b per example, with ||w|| = norm: grad_x D = w everywhere."""
    w = np.random.default_rng(seed).normal(size=IMAGE_SHAPE)
    w = (w * norm / np.linalg.norm(w)).astype(np.float32)
    return lambda x: keras.ops.sum(keras.ops.reshape(x * w, (keras.ops.shape(x)[0], -1)), axis=-1) + 0.7


def _quadratic_critic(x):
    """D(x) = 1/2 sum(x^2) per example, shape (batch, 1): grad_x D = x."""
    return 0.5 * keras.ops.sum(keras.ops.reshape(x * x, (keras.ops.shape(x)[0], -1)), axis=-1, keepdims=True)


def _batch(seed, n=5):
    rng = np.random.default_rng(seed)
    real = tf.constant(rng.normal(size=(n,) + IMAGE_SHAPE).astype(np.float32))
    fake = tf.constant(rng.normal(size=(n,) + IMAGE_SHAPE).astype(np.float32))
    epsilon = tf.constant(np.array([0.0, 0.25, 0.5, 0.9, 1.0][:n], np.float32))
    return real, fake, epsilon


def test_interpolate_lies_on_the_segment():
    real, fake, epsilon = _batch(1)
    out = _np(losses.interpolate(real, fake, epsilon))
    r, f, e = _np(real), _np(fake), _np(epsilon)[:, None, None, None]
    np.testing.assert_allclose(out, e * r + (1 - e) * f, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out - f, e * (r - f), atol=1e-6)  # on the segment from fake to real
    np.testing.assert_array_equal(out[0], _np(fake)[0])  # epsilon = 0 -> fake
    np.testing.assert_array_equal(out[4], _np(real)[4])  # epsilon = 1 -> real
    column = _np(losses.interpolate(real, fake, tf.reshape(epsilon, (-1, 1))))
    np.testing.assert_array_equal(column, out)


@pytest.mark.parametrize("norm", [0.6, 1.5])
def test_gradient_penalty_of_linear_critic_is_closed_form(norm):
    real, fake, epsilon = _batch(2)
    critic = _linear_critic(norm)
    two_sided = _np(losses.gradient_penalty(critic, real, fake, epsilon))
    np.testing.assert_allclose(two_sided, np.full(5, (norm - 1.0) ** 2), rtol=1e-4)  # every epsilon alike
    one_sided = _np(losses.gradient_penalty(critic, real, fake, epsilon, one_sided=True))
    expected_one_sided = np.zeros(5) if norm < 1 else two_sided
    np.testing.assert_allclose(one_sided, expected_one_sided, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("gamma", [10.0, 1.0])
def test_r1_penalty_of_linear_critic_is_closed_form(gamma):
    real, _, _ = _batch(3)
    r1 = _np(losses.r1_penalty(_linear_critic(1.5), real, gamma=gamma))
    np.testing.assert_allclose(r1, np.full(5, gamma / 2 * 1.5**2), rtol=1e-5)


def test_penalties_of_quadratic_critic_match_numpy():
    real, fake, epsilon = _batch(4)
    r, f, e = _np(real), _np(fake), _np(epsilon)[:, None, None, None]
    norms = np.linalg.norm((e * r + (1 - e) * f).reshape(5, -1), axis=1)  # ||grad D(x_hat)|| = ||x_hat||
    np.testing.assert_allclose(
        _np(losses.gradient_penalty(_quadratic_critic, real, fake, epsilon)), (norms - 1) ** 2, rtol=1e-5
    )
    np.testing.assert_allclose(
        _np(losses.gradient_penalty(_quadratic_critic, real, fake, epsilon, one_sided=True)),
        np.maximum(norms - 1, 0) ** 2, rtol=1e-5,
    )
    np.testing.assert_allclose(
        _np(losses.r1_penalty(_quadratic_critic, real, gamma=4.0)),
        2.0 * np.sum(r.reshape(5, -1) ** 2, axis=1), rtol=1e-5,
    )


def test_r1_penalty_accepts_numpy_images_like_gradient_penalty():
    real, fake, epsilon = (_np(t).astype(np.float32) for t in _batch(5))
    critic = _linear_critic(2.0)
    np.testing.assert_allclose(_np(losses.gradient_penalty(critic, real, fake, epsilon)), np.ones(5), rtol=1e-4)
    np.testing.assert_allclose(_np(losses.r1_penalty(critic, real, gamma=1.0)), np.full(5, 2.0), rtol=1e-4)


def test_gradient_penalty_gradients_reach_the_critic_kernel():
    """Double backprop: for a linear Dense critic GP = (||k|| - 1)^2, so dGP/dk = 2 (||k|| - 1) k / ||k||."""
    real, fake, epsilon = _batch(6)
    critic = keras.Sequential([keras.Input(IMAGE_SHAPE), keras.layers.Flatten(), keras.layers.Dense(1)])
    kernel = critic.layers[-1].kernel
    with tf.GradientTape() as tape:
        penalty = keras.ops.mean(losses.gradient_penalty(critic, real, fake, epsilon))
    gradient = tape.gradient(penalty, kernel)
    assert gradient is not None
    k = _np(kernel)
    norm = np.linalg.norm(k)
    assert abs(norm - 1.0) > 0.1
    np.testing.assert_allclose(_np(gradient), 2 * (norm - 1) * k / norm, rtol=1e-4, atol=1e-6)


def test_penalty_gradients_reach_every_layer_of_a_nonlinear_critic():
    real, fake, epsilon = _batch(7)
    critic = keras.Sequential(
        [keras.Input(IMAGE_SHAPE), keras.layers.Flatten(), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    for penalty_fn in (
        lambda: losses.gradient_penalty(critic, real, fake, epsilon),
        lambda: losses.r1_penalty(critic, real),
    ):
        with tf.GradientTape() as tape:
            penalty = keras.ops.mean(penalty_fn())
        gradients = tape.gradient(penalty, critic.trainable_weights)
        for variable, gradient in zip(critic.trainable_weights, gradients):
            if variable is critic.layers[-1].bias:
                continue  # the output bias does not affect input gradients
            assert gradient is not None, variable.path
            assert np.all(np.isfinite(_np(gradient))) and np.max(np.abs(_np(gradient))) > 1e-6, variable.path


def test_consistency_penalty_hand_computed():
    # lambda ||D(x) - D(T(x))||^2: 10 * (1 - 0.5)^2 = 2.5 and 10 * (2 - 2.5)^2 = 2.5, 10 * 0 = 0.
    np.testing.assert_allclose(_np(losses.consistency_penalty(_f32(1.0, 2.0, 3.0), _f32(0.5, 2.5, 3.0))), [2.5, 2.5, 0.0])
    np.testing.assert_allclose(
        _np(losses.consistency_penalty(_f32(1.0, -1.0)[:, None], _f32(0.0, 1.0)[:, None], weight=2.0)), [2.0, 8.0]
    )
    # Patch scores: squared differences summed per example: 1 * (0.5^2 * 4) = 1.0, (1^2 + 3 * 0) = 1.0.
    real = np.zeros((2, 2, 2, 1), np.float32)
    augmented = real.copy()
    augmented[0] = 0.5
    augmented[1, 0, 0, 0] = -1.0
    np.testing.assert_allclose(_np(losses.consistency_penalty(real, augmented, weight=1.0)), [1.0, 1.0])


def test_drift_penalty_hand_computed():
    # weight * D(x)^2 with the default weight 1e-3: 1e-3 * 4 = 0.004, 1e-3 * 9 = 0.009, 0.
    np.testing.assert_allclose(_np(losses.drift_penalty(_f32(2.0, -3.0, 0.0))), [0.004, 0.009, 0.0], rtol=1e-6)
    np.testing.assert_allclose(_np(losses.drift_penalty(_f32(2.0, -3.0)[:, None], weight=0.5)), [2.0, 4.5], rtol=1e-6)


# ------------------------------------------------------ image-to-image translation


def test_mean_absolute_error_hand_computed():
    targets = np.array([[[0.0, 1.0], [-1.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]], np.float32)
    predictions = np.array([[[0.5, 1.0], [0.0, -0.5]], [[1.0, -1.0], [1.0, -1.0]]], np.float32)
    # (0.5 + 0 + 1 + 1) / 4 and (1 + 1 + 1 + 1) / 4.
    np.testing.assert_allclose(_np(losses.mean_absolute_error(targets, predictions)), [0.625, 1.0], rtol=1e-6)


def test_pix2pix_discriminator_objective_is_halved():
    # Isola et al.: D minimizes 1/2 [-log D(x, y) - log(1 - D(x, G(x)))]. At zero logits: 1/2 (log 2 + log 2).
    np.testing.assert_allclose(_np(losses.translation_discriminator_loss(_f32(0.0), _f32(0.0))), [LOG2], rtol=1e-6)
    # Real logit 2, fake logit -1: 1/2 (softplus(-2) + softplus(-1)) = 1/2 (0.126928 + 0.313262).
    expected = 0.5 * (_softplus(-2.0) + _softplus(-1.0))
    np.testing.assert_allclose(_np(losses.translation_discriminator_loss(_f32(2.0), _f32(-1.0))), [expected], rtol=1e-6)
    # The generator's term is not halved: -log sigmoid(-1) = softplus(1).
    np.testing.assert_allclose(_np(losses.translation_generator_loss(_f32(-1.0))), [_softplus(1.0)], rtol=1e-6)


def test_cyclegan_least_squares_terms_follow_zhu_et_al():
    # D: 1/2 [(D(y) - 1)^2 + D(G(x))^2] at D(y) = 0.5, D(G(x)) = 0.25: 1/2 (0.25 + 0.0625) = 0.15625.
    np.testing.assert_allclose(
        _np(losses.translation_discriminator_loss(_f32(0.5), _f32(0.25), "least_squares")), [0.15625], rtol=1e-6
    )
    # G: (D(G(x)) - 1)^2 without LSGAN's 1/2: (0.25 - 1)^2 = 0.5625, twice least_squares_generator_loss.
    generator = _np(losses.translation_generator_loss(_f32(0.25), "least_squares"))
    np.testing.assert_allclose(generator, [0.5625], rtol=1e-6)
    np.testing.assert_allclose(generator, 2 * _np(losses.least_squares_generator_loss(_f32(0.25))), rtol=1e-6)


def test_translation_losses_average_patch_maps_per_image():
    # Two images of 2x2 PatchGAN scores: each patch is scored, then the patches are averaged per image.
    real = np.array([[[1.0], [0.0]], [[0.5], [2.0]]], np.float32)[None].repeat(2, axis=0)
    fake = np.zeros_like(real)
    fake[1] = 1.0
    real_np, fake_np = real.reshape(2, -1).astype(np.float64), fake.reshape(2, -1).astype(np.float64)
    expected = 0.5 * (((real_np - 1.0) ** 2).mean(axis=1) + (fake_np**2).mean(axis=1))
    np.testing.assert_allclose(
        _np(losses.translation_discriminator_loss(real, fake, "least_squares")), expected, rtol=1e-6
    )
    softplus = np.log1p(np.exp(-real_np)).mean(axis=1) + np.log1p(np.exp(fake_np)).mean(axis=1)
    np.testing.assert_allclose(_np(losses.translation_discriminator_loss(real, fake)), 0.5 * softplus, rtol=1e-6)


def test_unknown_translation_loss_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        losses.translation_discriminator_loss(_f32(0.0), _f32(0.0), "hinge")
    with pytest.raises(ValueError, match="choose one of"):
        losses.translation_generator_loss(_f32(0.0), "wasserstein")
