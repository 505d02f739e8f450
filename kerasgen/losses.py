"""Losses and divergences as pure functions of tensors.

Every function here is stateless, takes and returns backend tensors through
`keras.ops`, and documents the paper and formula it implements. Models call
these; tests check them against hand-computed values. Unless a docstring says
otherwise a function returns one value per example (shape `(batch,)`), so the
caller decides how to average (over the global batch under a distribution
strategy, see `kerasgen.models.base`).
"""

from __future__ import annotations

import math

from keras import ops

_LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(values):
    """Sums every axis but the first: (batch, ...) -> (batch,)."""
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def kl_divergence_standard_normal(z_mean, z_log_var):
    """Closed-form KL(q(z|x) || p(z)) for a diagonal Gaussian q and p = N(0, I).

    Kingma & Welling (2014), "Auto-Encoding Variational Bayes", Appendix B:

        KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)

    Args:
        z_mean: `(batch, latent_dim)` posterior means mu.
        z_log_var: `(batch, latent_dim)` posterior log-variances log sigma^2.

    Returns:
        `(batch,)` KL divergence in nats, >= 0.
    """
    return -0.5 * ops.sum(
        1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1
    )


def bernoulli_negative_log_likelihood(targets, logits):
    """-log p(x|z) for independent Bernoulli pixels, summed per example.

    Kingma & Welling (2014), Appendix C.1 (Bernoulli MLP decoder):

        -log p(x|z) = -sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)],  p = sigmoid(logits)

    computed from logits in the numerically stable form
    max(l, 0) - l*x + log(1 + exp(-|l|)).

    Args:
        targets: `(batch, ...)` intensities x in [0, 1] (grey levels are used
            as soft targets, as is common for MNIST-like data).
        logits: same shape, unbounded decoder outputs.

    Returns:
        `(batch,)` negative log-likelihood in nats.
    """
    per_pixel = (
        ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    )
    return _sum_per_example(per_pixel)


def gaussian_negative_log_likelihood(targets, mean, std):
    """-log N(x; mean, std^2 I), summed per example.

    Kingma & Welling (2014), Appendix C.2 (Gaussian MLP decoder), with a fixed
    scalar standard deviation:

        -log p(x|z) = sum_i [ (x_i - mu_i)^2 / (2 std^2) + log std + log(2 pi) / 2 ]

    Args:
        targets: `(batch, ...)` data x.
        mean: same shape, decoder means mu.
        std: positive float or scalar tensor, the decoder standard deviation.

    Returns:
        `(batch,)` negative log-density in nats.
    """
    std = ops.convert_to_tensor(std, dtype=mean.dtype)
    per_pixel = (
        0.5 * ops.square((targets - mean) / std) + ops.log(std) + 0.5 * _LOG_2PI
    )
    return _sum_per_example(per_pixel)


def mean_squared_error(targets, predictions):
    """Per-example mean squared error, mean_i (x_i - x_hat_i)^2.

    The reconstruction loss of a plain autoencoder (Hinton & Salakhutdinov,
    2006, use squared error on real-valued inputs).

    Returns:
        `(batch,)` mean over pixels, >= 0.
    """
    return ops.mean(
        ops.reshape(ops.square(targets - predictions), (ops.shape(targets)[0], -1)),
        axis=-1,
    )


def binary_cross_entropy(targets, logits):
    """Per-example mean binary cross-entropy from logits, for targets in [0, 1].

    The reconstruction loss of an autoencoder with sigmoid outputs (Vincent et
    al., 2008, "Extracting and Composing Robust Features with Denoising
    Autoencoders", eq. for the cross-entropy loss L_IH). Equal to
    `bernoulli_negative_log_likelihood / num_pixels`.

    Returns:
        `(batch,)` mean over pixels, >= 0 minus the targets' own entropy.
    """
    num_pixels = math.prod(targets.shape[1:])
    return bernoulli_negative_log_likelihood(targets, logits) / num_pixels
