"""PixelRNN (van den Oord et al., 2016, "Pixel Recurrent Neural Networks"): Row LSTM and Diagonal BiLSTM.

The same model of images as PixelCNN, the product of per-sub-pixel softmaxes
over 256 intensity levels in raster order with colour channels innermost,

    p(x) = prod_{i=1}^{H*W*C} p(x_i | x_1, ..., x_{i-1}),

computed by two-dimensional LSTM layers (`kerasgen.networks.pixelrnn_network`)
instead of masked convolutions only: a Row LSTM (rows top to bottom, a
triangular context above each pixel) or a Diagonal BiLSTM (two LSTMs along the
diagonals of the image, whose context is every earlier pixel but the last one
of the previous row). Training, likelihood, quantization, serving and the
full-canvas sampler are PixelCNN's (`kerasgen.models.PixelCNN`); sampling caches
the LSTMs' states (`kerasgen.models.recurrent_sampling`).
"""

from __future__ import annotations

import keras

from kerasgen import networks
from kerasgen.models.pixelcnn import PixelCNN, inverse_cdf
from kerasgen.models.recurrent_sampling import RecurrentSampler
from kerasgen.models.registry import register
from kerasgen.networks.pixelrnn import VARIANTS


@register(
    "pixelrnn",
    family="autoregressive",
    summary="Row LSTM or Diagonal BiLSTM layers with masked input-to-state convolutions and residual connections, 256-way softmax, exact log-likelihood in bits/dim, sampling that caches the LSTM states",
    paper="van den Oord et al., 2016",
    small_config={"filters": 8, "num_layers": 1},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class PixelRNN(PixelCNN):
    """PixelRNN: an exact-likelihood autoregressive model with 2D LSTM layers.

    Args:
        image_shape: `(H, W, C)` (default 28x28x1).
        variant: "diagonal_bilstm" (default: the paper's best model, and the
            one of its MNIST experiment) or "row_lstm".
        num_levels: intensity levels per sub-pixel (default 256).
        filters: feature maps between layers, 2h in the paper (default 32:
            h = 16, the paper's MNIST setting).
        num_layers: residual LSTM layers after the 7x7 mask-A convolution
            (default 7, the paper's MNIST setting; 12 for CIFAR-10).
        network: optional Keras model `images (B, H, W, C) in [-1, 1] ->
            logits (B, H, W, C, num_levels)`, causal in raster order
            (overrides variant/filters/num_layers; sampled by the full-canvas
            loop unless built by `pixelrnn_network`).
        value_range, seed: see `GenerativeModel`.

    Reported by `fit` and `evaluate`: `loss` (nats per image) and
    `bits_per_dim`, as for `PixelCNN`. `generate(n, seed=None, cached=None)`,
    `sample_from_uniform(noise, cached=None)`, `log_prob`, `bits_per_dim` and
    the serving signatures are PixelCNN's; the cached sampler computes, per
    sub-pixel, every layer at the current pixel only, from the states it
    keeps of the row above and of the current row.
    """

    def __init__(
        self,
        image_shape=(28, 28, 1),
        *,
        variant="diagonal_bilstm",
        num_levels=256,
        filters=32,
        num_layers=7,
        network=None,
        **kwargs,
    ):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(map(repr, VARIANTS))}, got {variant!r}.")
        for option in ("gated", "embedding_dim"):
            if kwargs.pop(option, None):
                raise ValueError(f"PixelRNN has no {option} option (it is PixelCNN's).")
        self.variant = variant
        network = network or networks.pixelrnn_network(image_shape, num_levels, variant, filters, num_layers)
        super().__init__(image_shape, num_levels=num_levels, filters=filters, num_layers=num_layers,
                         network=network, **kwargs)

    def default_optimizer(self):
        """Adam(1e-3), the rate PixelRNN's figures in BENCHMARKS.md were measured with (PixelCNN's 2e-3 was not)."""
        return keras.optimizers.Adam(1e-3)

    def _cached_sampling_schedule(self):
        return RecurrentSampler(self.network, self._scaled, inverse_cdf)

    def get_config(self):
        config = super().get_config()
        config.pop("gated", None)
        config["variant"] = self.variant
        return config
