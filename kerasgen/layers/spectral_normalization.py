"""Spectral normalization of a layer's kernel, computed in the forward pass."""

from __future__ import annotations

import random

import keras
from keras import ops

_SUPPORTED = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv2DTranspose)
_SUPPORTED_NAMES = "keras.layers.Dense, keras.layers.Conv2D or keras.layers.Conv2DTranspose"


def _l2_normalize(x, epsilon=1e-12):
    """x / max(||x||_2, sqrt(epsilon)) over the last axis (the paper's l2normalize)."""
    squared = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, epsilon))


def _normalized_normal(seed):
    """An initializer drawing u ~ N(0, I) and scaling it to unit l2 norm."""

    def initializer(shape, dtype=None):
        return _l2_normalize(keras.random.normal(shape, dtype=dtype, seed=seed))

    return initializer


def kernel_as_matrix(layer, kernel):
    """The kernel reshaped to `W_mat` of shape `(fan, out)`, out = output units/channels.

    Dense `(in, units)` and Conv2D `(kh, kw, in, filters)` kernels keep their
    last axis; a Conv2DTranspose kernel `(kh, kw, filters, in)` is transposed
    first so its output-channel axis comes last.
    """
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kernel = ops.transpose(kernel, (0, 1, 3, 2))
    return ops.reshape(kernel, (-1, kernel.shape[-1]))


def power_iteration(w_mat, u, iterations):
    """Miyato et al. (2018), Algorithm 1: estimates sigma(W) for W_mat `(fan, out)`.

        v = l2normalize(u W^T),   u = l2normalize(v W)      (`iterations` times)
        sigma = v W u^T

    `u` `(1, out)` and `v` `(1, fan)` are treated as constants (stop_gradient),
    so d sigma / dW = v^T u, the outer product of the singular vectors.

    Returns:
        `(sigma, u)`: the scalar estimate (> 0) and the updated `(1, out)` vector.
    """
    u = ops.stop_gradient(u)
    v = None
    for _ in range(iterations):
        v = ops.stop_gradient(_l2_normalize(ops.matmul(u, ops.transpose(w_mat))))
        u = ops.stop_gradient(_l2_normalize(ops.matmul(v, w_mat)))
    sigma = ops.sum(ops.matmul(v, w_mat) * u)
    return sigma, u


@keras.saving.register_keras_serializable(package="kerasgen")
class SpectralNormalization(keras.layers.Wrapper):
    """Wraps a Dense, Conv2D or Conv2DTranspose layer so it uses W / sigma(W).

    Miyato et al. (2018), "Spectral Normalization for Generative Adversarial
    Networks", eq. 8: W_SN = W / sigma(W), sigma(W) the largest singular value
    of the kernel reshaped to a matrix `(fan, out)`, estimated by power
    iteration (Algorithm 1) from a persistent non-trainable unit vector `u`
    `(1, out)`, updated only when `training` is truthy.

    Unlike an implementation that overwrites the kernel with W / sigma, the
    wrapped layer's kernel W stays the trained parameter and is never assigned:
    the forward pass is recomputed here with W / sigma, so gradients also flow
    through sigma (d sigma / dW = v^T u), as in the paper's eq. 12.

    Args:
        layer: a `keras.layers.Dense`, `Conv2D` or `Conv2DTranspose` instance.
        power_iterations: power-iteration steps per call (>= 1; the paper uses 1).

    Input and output shapes are those of the wrapped layer.
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        if not isinstance(layer, _SUPPORTED):
            raise ValueError(
                f"SpectralNormalization supports {_SUPPORTED_NAMES}; "
                f"received {type(layer).__name__}: {layer}."
            )
        if int(power_iterations) < 1:
            raise ValueError(f"power_iterations must be >= 1, received {power_iterations}.")
        super().__init__(layer, **kwargs)
        self.power_iterations = int(power_iterations)

    def build(self, input_shape=None):
        super().build(input_shape)
        kernel = getattr(self.layer, "kernel", None)
        if kernel is None:
            raise ValueError(
                f"SpectralNormalization needs a wrapped layer with a `kernel` "
                f"({_SUPPORTED_NAMES}); {self.layer.name} has none."
            )
        out = kernel_as_matrix(self.layer, kernel).shape[-1]
        # Python's RNG is seeded by keras.utils.set_random_seed: reproducible.
        seed = random.randint(1, 2**31 - 1)
        self.u = self.add_weight(
            shape=(1, out),
            initializer=_normalized_normal(seed),
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
            name="u",
        )

    def call(self, inputs, training=None):
        kernel = self.layer.kernel
        sigma, u = power_iteration(
            kernel_as_matrix(self.layer, kernel), self.u.value, self.power_iterations
        )
        if training:
            self.u.assign(ops.cast(u, self.u.dtype))
        normalized = ops.cast(kernel / sigma, inputs.dtype)
        return self._forward(inputs, normalized)

    def _forward(self, inputs, kernel):
        """The wrapped layer's own forward pass, with `kernel` instead of its variable."""
        layer = self.layer
        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            outputs = ops.conv_transpose(
                inputs,
                kernel,
                strides=list(layer.strides),
                padding=layer.padding,
                output_padding=layer.output_padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
        else:
            outputs = ops.conv(
                inputs,
                kernel,
                strides=list(layer.strides),
                padding=layer.padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
        return self._add_bias_and_activate(outputs)

    def _add_bias_and_activate(self, outputs):
        """`activation(outputs + bias)`; the bias goes on the layer's channel axis."""
        layer = self.layer
        if layer.use_bias and layer.bias is not None:
            bias = ops.cast(layer.bias, outputs.dtype)
            if not isinstance(layer, keras.layers.Dense) and layer.data_format == "channels_first":
                bias = ops.reshape(bias, (1, -1) + (1,) * (len(outputs.shape) - 2))
            outputs = ops.add(outputs, bias)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
