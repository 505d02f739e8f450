"""RealNVP's multi-scale architecture (Dinh, Sohl-Dickstein & Bengio, 2017, Sec. 3.6 and Fig. 4).

At every scale but the last:

    3 affine couplings with alternating checkerboard masks
    squeeze (H, W, C) -> (H/2, W/2, 4C)
    3 affine couplings with alternating channel-wise masks
    factor out half of the channels: they are final latents; the rest go on

and at the last scale 4 couplings with alternating checkerboard masks. Each
coupling is followed by a batch-normalization bijector (Sec. 3.7). The
factored-out halves are put back where they came from (concatenate, then
unsqueeze), so `z` has the shape of `x`.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasgen.layers.flows import AffineCoupling, FlowBatchNormalization, squeeze, unsqueeze


@keras.saving.register_keras_serializable(package="kerasgen")
class MultiScaleFlow(keras.layers.Layer):
    """The bijection `x (B, H, W, C) -> z (B, H, W, C)` of RealNVP, with its log-determinant.

    Args:
        image_shape: `(H, W, C)`; H and W divisible by 2^(num_scales - 1).
        num_scales: scales of the architecture (the paper downscales once on
            CIFAR-10: 2).
        filters, num_blocks: every coupling's conditioner (`coupling_resnet`;
            the paper's CIFAR-10 network: 64 feature maps, 8 residual blocks).

    `forward(x, training) -> (z, log_det (B,))`; `inverse(z) -> x` (inference mode).
    """

    def __init__(self, image_shape, num_scales=2, filters=64, num_blocks=8, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.num_scales, self.filters, self.num_blocks = int(num_scales), int(filters), int(num_blocks)
        height, width, channels = self.image_shape
        factor = 2 ** (self.num_scales - 1)
        if self.num_scales < 1 or height % factor or width % factor:
            raise ValueError(
                f"{self.num_scales} scales halve the image {self.num_scales - 1} times: height and width must be "
                f"divisible by {factor}, got {height}x{width}. Choose fewer scales.")
        self.scales = []
        shape = self.image_shape
        for scale in range(self.num_scales):
            last = scale == self.num_scales - 1
            checkerboard = self._steps("checkerboard", 4 if last else 3, shape, f"scale{scale}_checkerboard")
            channel = []
            if not last:
                shape = (shape[0] // 2, shape[1] // 2, shape[2] * 4)
                channel = self._steps("channel", 3, shape, f"scale{scale}_channel")
                shape = (shape[0], shape[1], shape[2] // 2)
            self.scales.append((checkerboard, channel))
        self.built = True

    def _steps(self, mask, count, shape, name):
        """`count` (coupling, batch norm) pairs with alternating parity, built for `shape`."""
        steps = []
        for index in range(count):
            coupling = AffineCoupling(mask, index % 2, self.filters, self.num_blocks, name=f"{name}{index}")
            norm = FlowBatchNormalization(name=f"{name}{index}_bn")
            coupling.build((None, *shape))
            norm.build((None, *shape))
            steps.append((coupling, norm))
        return steps

    @staticmethod
    def _run(steps, x, log_det, training):
        for coupling, norm in steps:
            for layer in (coupling, norm):
                x, term = layer.forward(x, training=training)
                log_det = log_det + term
        return x, log_det

    @staticmethod
    def _run_inverse(steps, z):
        for coupling, norm in reversed(steps):
            z = coupling.inverse(norm.inverse(z))
        return z

    def forward(self, x, training=False):
        x = ops.cast(x, "float32")
        return self._forward_from(0, x, ops.zeros((ops.shape(x)[0],), "float32"), training)

    def _forward_from(self, scale, x, log_det, training):
        checkerboard, channel = self.scales[scale]
        x, log_det = self._run(checkerboard, x, log_det, training)
        if not channel:
            return x, log_det
        x, log_det = self._run(channel, squeeze(x), log_det, training)
        kept, rest = ops.split(x, 2, axis=-1)
        rest, log_det = self._forward_from(scale + 1, rest, log_det, training)
        return unsqueeze(ops.concatenate([kept, rest], axis=-1)), log_det

    def inverse(self, z):
        return self._inverse_from(0, ops.cast(z, "float32"))

    def _inverse_from(self, scale, z):
        checkerboard, channel = self.scales[scale]
        if channel:
            kept, rest = ops.split(squeeze(z), 2, axis=-1)
            z = self._run_inverse(channel, ops.concatenate([kept, self._inverse_from(scale + 1, rest)], axis=-1))
            z = unsqueeze(z)
        return self._run_inverse(checkerboard, z)

    def call(self, x, training=False):
        return self.forward(x, training=training)[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "num_scales": self.num_scales,
                "filters": self.filters, "num_blocks": self.num_blocks}


def realnvp_flow(image_shape, num_scales=2, filters=64, num_blocks=8, name="flow"):
    """RealNVP's multi-scale flow for `image_shape` (see `MultiScaleFlow`)."""
    return MultiScaleFlow(image_shape, num_scales, filters, num_blocks, name=name)
