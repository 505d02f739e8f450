"""SpectralNormalization: sigma estimate, exact forward pass, gradients through sigma, saving."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasgen.layers import SpectralNormalization  # noqa: E402
from kerasgen.layers.spectral_normalization import kernel_as_matrix, power_iteration  # noqa: E402

# (factory of the wrapped layer, input shape). Conv2DTranspose kernels are
# (kh, kw, out_channels, in_channels); the others keep output units last.
LAYERS = {
    "dense": (lambda **kw: keras.layers.Dense(6, **kw), (4, 5)),
    "conv2d": (lambda **kw: keras.layers.Conv2D(4, 3, strides=2, padding="same", **kw), (2, 8, 8, 3)),
    "conv2d_transpose": (
        lambda **kw: keras.layers.Conv2DTranspose(5, 3, strides=2, padding="same", **kw),
        (2, 5, 5, 3),
    ),
}


def _np(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


def _kernel_matrix(layer):
    """The wrapped kernel as the (fan, out) matrix the layer normalizes, in NumPy."""
    kernel = _np(layer.kernel)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kernel = kernel.transpose(0, 1, 3, 2)
    return kernel.reshape(-1, kernel.shape[-1])


def _numpy_sigma(w_mat, u, iterations=1):
    """Algorithm 1 of Miyato et al. (2018) in NumPy: (sigma, v, u) after `iterations` steps."""
    for _ in range(iterations):
        v = u @ w_mat.T
        v /= np.linalg.norm(v)
        u = v @ w_mat
        u /= np.linalg.norm(u)
    return float((v @ w_mat @ u.T)[0, 0]), v, u


def _clone_with_kernel(layer, kernel, input_shape):
    """A fresh copy of `layer` whose kernel is `kernel` (bias copied): the overwrite reference."""
    clone = type(layer).from_config(layer.get_config())
    clone.build(input_shape)
    clone.set_weights([kernel] + [keras.ops.convert_to_numpy(w) for w in layer.weights[1:]])
    return clone


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_sigma_converges_to_top_singular_value(name):
    factory, shape = LAYERS[name]
    layer = SpectralNormalization(factory(use_bias=False))
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    for _ in range(50):
        layer(x, training=True)
    # Linear layer without bias: raw output = sigma * normalized output, so sigma
    # is recovered from the layer's own forward pass.
    normalized = _np(layer(x, training=False))
    raw = _np(layer.layer(x))
    sigma = float(np.sum(raw * normalized) / np.sum(normalized**2))
    np.testing.assert_allclose(raw, sigma * normalized, rtol=1e-4, atol=1e-5)

    w_mat = _kernel_matrix(layer.layer)
    top = np.linalg.svd(w_mat, compute_uv=False)[0]
    assert abs(sigma - top) <= 1e-2 * top
    assert abs(np.linalg.svd(w_mat / sigma, compute_uv=False)[0] - 1.0) <= 1e-2


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("dense", dict(units=6, activation="tanh"), (4, 5)),
        ("dense", dict(units=3, use_bias=False), (2, 3, 5)),
        ("conv2d", dict(filters=4, kernel_size=3, strides=2, padding="same", activation="relu"), (2, 9, 9, 3)),
        ("conv2d", dict(filters=4, kernel_size=(3, 2), dilation_rate=2, padding="valid"), (2, 9, 8, 3)),
        ("conv2d_transpose", dict(filters=5, kernel_size=4, strides=2, padding="same", activation="sigmoid"), (2, 5, 5, 3)),
        ("conv2d_transpose", dict(filters=2, kernel_size=3, strides=2, padding="valid", output_padding=1), (2, 4, 6, 3)),
    ],
)
def test_forward_pass_equals_wrapped_layer_with_normalized_kernel(name, kwargs, shape):
    cls = {"dense": keras.layers.Dense, "conv2d": keras.layers.Conv2D,
           "conv2d_transpose": keras.layers.Conv2DTranspose}[name]
    layer = SpectralNormalization(cls(bias_initializer="random_normal", **kwargs))
    x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    layer.build(shape)
    u = _np(layer.u)
    sigma, _, _ = _numpy_sigma(_kernel_matrix(layer.layer), u)
    reference = _clone_with_kernel(layer.layer, keras.ops.convert_to_numpy(layer.layer.kernel) / sigma, shape)

    expected = _np(reference(x))
    np.testing.assert_allclose(_np(layer(x, training=False)), expected, rtol=1e-5, atol=1e-5)
    xla = tf.function(lambda t: layer(t, training=False), jit_compile=True)
    np.testing.assert_allclose(_np(xla(x)), expected, rtol=1e-5, atol=1e-5)
    assert tuple(layer.compute_output_shape(shape)) == expected.shape
    np.testing.assert_array_equal(_np(layer.u), u)  # inference leaves u alone


def test_kernel_never_overwritten_and_u_updates_only_in_training():
    layer = SpectralNormalization(keras.layers.Conv2D(4, 3))
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 3)).astype(np.float32)
    layer.build(x.shape)
    kernel, u = _np(layer.layer.kernel), _np(layer.u)
    assert layer.u.trainable is False and layer.u.name == "u"
    assert layer.layer.kernel in layer.trainable_weights

    layer(x, training=False)
    layer(x)  # training=None means inference too
    np.testing.assert_array_equal(_np(layer.u), u)

    layer(x, training=True)
    np.testing.assert_array_equal(_np(layer.layer.kernel), kernel)
    assert np.max(np.abs(_np(layer.u) - u)) > 1e-3
    np.testing.assert_allclose(np.linalg.norm(_np(layer.u)), 1.0, rtol=1e-6)


def test_u_initialization_is_reproducible_and_unit_norm():
    def initial_u():
        keras.utils.set_random_seed(11)
        layer = SpectralNormalization(keras.layers.Dense(7))
        layer.build((None, 4))
        return _np(layer.u)

    first, second = initial_u(), initial_u()
    np.testing.assert_array_equal(first, second)
    assert first.shape == (1, 7)
    np.testing.assert_allclose(np.linalg.norm(first), 1.0, rtol=1e-6)


def _dense_gradients(power_iterations):
    """d sum(SN(x)) / dW for a bias-free Dense, ours and with sigma held constant."""
    layer = SpectralNormalization(keras.layers.Dense(4, use_bias=False), power_iterations=power_iterations)
    x = np.random.default_rng(4).normal(size=(3, 5)).astype(np.float32)
    layer.build(x.shape)
    kernel = layer.layer.kernel
    with tf.GradientTape(persistent=True) as tape:
        ours = keras.ops.sum(layer(x, training=False))
        frozen_sigma = keras.ops.stop_gradient(_layer_sigma(layer))
        overwrite = keras.ops.sum(keras.ops.matmul(x, kernel.value / frozen_sigma))
    return layer, x, _np(tape.gradient(ours, kernel)), _np(tape.gradient(overwrite, kernel))


def _layer_sigma(layer):
    """sigma exactly as the layer computes it in inference (u not updated)."""
    kernel = layer.layer.kernel
    sigma, _ = power_iteration(kernel_as_matrix(layer.layer, kernel), layer.u.value, layer.power_iterations)
    return sigma


def test_gradient_flows_through_sigma_analytically():
    layer, x, ours, overwrite = _dense_gradients(power_iterations=1)
    w = _np(layer.layer.kernel)
    sigma, v, u = _numpy_sigma(w, _np(layer.u))
    # f = sum(x W / sigma) = <G, W> / sigma with G = x^T 1 (every column holds the per-feature sums of x).
    g = np.tile(x.astype(np.float64).sum(axis=0)[:, None], (1, w.shape[1]))
    # With u, v constants, d sigma / dW = v^T u, hence
    # df/dW = G / sigma - <G, W> / sigma^2 * v^T u.
    expected = g / sigma - np.sum(g * w) / sigma**2 * (v.T @ u)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    # Holding sigma constant (what overwriting the kernel amounts to) drops the second term.
    np.testing.assert_allclose(overwrite, g / sigma, atol=1e-4)
    assert np.max(np.abs(ours - overwrite)) > 0.1 * np.max(np.abs(overwrite))


def test_gradient_matches_finite_differences_when_power_iteration_converged():
    layer, x, ours, _ = _dense_gradients(power_iterations=100)
    w = _np(layer.layer.kernel)
    x = x.astype(np.float64)

    def f(kernel):  # sum(x W / sigma(W)) with the exact top singular value
        return np.sum(x @ kernel) / np.linalg.svd(kernel, compute_uv=False)[0]

    step = 1e-6
    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        delta = np.zeros_like(w)
        delta[index] = step
        numeric[index] = (f(w + delta) - f(w - delta)) / (2 * step)
    np.testing.assert_allclose(ours, numeric, atol=1e-4)


def _small_discriminator():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            SpectralNormalization(keras.layers.Conv2D(4, 3, strides=2, padding="same")),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Flatten(),
            SpectralNormalization(keras.layers.Dense(1), power_iterations=2),
        ]
    )


def _u_values(model):
    return [_np(layer.u) for layer in model.layers if isinstance(layer, SpectralNormalization)]


def test_fit_then_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 8, 8, 1)).astype(np.float32)
    y = rng.normal(size=(32, 1)).astype(np.float32)
    model = _small_discriminator()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=True)
    u_before = _u_values(model)
    kernels_before = [_np(layer.layer.kernel) for layer in (model.layers[0], model.layers[3])]
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    assert np.isfinite(history.history["loss"]).all()
    conv_u, dense_u = _u_values(model)
    assert np.max(np.abs(conv_u - u_before[0])) > 1e-4
    np.testing.assert_allclose(np.abs(dense_u), 1.0, rtol=1e-6)  # (1, 1): u = +-1, sigma = ||w||
    for before, layer in zip(kernels_before, (model.layers[0], model.layers[3])):
        assert np.max(np.abs(_np(layer.layer.kernel) - before)) > 1e-4  # W itself is trained

    path = tmp_path / "sn.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[3], SpectralNormalization)
    assert loaded.layers[3].power_iterations == 2
    for saved, restored in zip(_u_values(model), _u_values(loaded)):
        np.testing.assert_array_equal(restored, saved)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize("layer", [keras.layers.LSTM(3), keras.layers.BatchNormalization()], ids=["lstm", "bn"])
def test_unsupported_layers_are_rejected(layer):
    with pytest.raises(ValueError, match="Dense.*Conv2D.*Conv2DTranspose"):
        SpectralNormalization(layer)


def test_layer_without_kernel_is_rejected():
    class KernelFree(keras.layers.Dense):
        @property
        def kernel(self):
            return None

    with pytest.raises(ValueError, match="kernel"):
        SpectralNormalization(KernelFree(2)).build((None, 3))


def test_fit_under_mirrored_strategy(request):
    try:
        strategy = request.getfixturevalue("mirrored_strategy")
    except pytest.FixtureLookupError:
        pytest.skip("no mirrored_strategy fixture in conftest.py")
    assert strategy.num_replicas_in_sync == 2
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 8, 8, 1)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    with strategy.scope():
        model = _small_discriminator()
        model.compile(optimizer="adam", loss="mse")
    u_before = _u_values(model)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"]).all()
    conv_u = _u_values(model)[0]
    assert np.all(np.isfinite(conv_u)) and np.max(np.abs(conv_u - u_before[0])) > 1e-4
    np.testing.assert_allclose(np.linalg.norm(conv_u), 1.0, rtol=1e-5)
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_differs_from_keras_overwrite_layer_in_kernel_and_gradient():
    """keras.layers.SpectralNormalization assigns W/sigma to the kernel in training; ours never does,
    and its kernel gradient carries the d sigma / dW term that the overwrite approach drops."""
    x = np.random.default_rng(11).normal(size=(8, 5)).astype(np.float32)
    ours = SpectralNormalization(keras.layers.Dense(3, use_bias=False), power_iterations=30)
    theirs = keras.layers.SpectralNormalization(keras.layers.Dense(3, use_bias=False), power_iterations=30)
    ours.build(x.shape)
    theirs.build(x.shape)
    kernel = np.random.default_rng(12).normal(size=(5, 3)).astype(np.float32) * 3.0
    ours.layer.kernel.assign(kernel)
    theirs.layer.kernel.assign(kernel)

    def kernel_gradient(layer):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        return _np(tape.gradient(loss, layer.layer.kernel))

    ours_gradient, theirs_gradient = kernel_gradient(ours), kernel_gradient(theirs)
    np.testing.assert_array_equal(_np(ours.layer.kernel), kernel)  # W stays the trained parameter
    assert np.max(np.abs(_np(theirs.layer.kernel) - kernel)) > 1e-2  # Keras overwrote it with W/sigma
    assert np.max(np.abs(ours_gradient - theirs_gradient)) > 1e-2


def test_savedmodel_export_reloads_without_kerasgen(tmp_path):
    """An SN discriminator exported as a TF SavedModel serves W/sigma(W) with no kerasgen code."""
    inputs = keras.Input((8, 8, 1))
    x = SpectralNormalization(keras.layers.Conv2D(4, 3, strides=2, padding="same"))(inputs)
    outputs = SpectralNormalization(keras.layers.Dense(1))(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(5).normal(size=(3, 8, 8, 1)).astype(np.float32)
    expected = _np(model(images, training=False))
    export_dir = str(tmp_path / "sn_export")
    model.export(export_dir, format="tf_saved_model", verbose=False)
    script = (
        "import sys, numpy as np, tensorflow as tf\n"
        "sys.modules['kerasgen'] = None  # importing kerasgen must fail here\n"
        f"loaded = tf.saved_model.load({export_dir!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, loaded.serve(tf.constant(x)).numpy())\n"
    )
    np.save(tmp_path / "x.npy", images)
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)
