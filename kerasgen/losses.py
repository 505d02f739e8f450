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


def sum_per_example(values):
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
    return sum_per_example(per_pixel)


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
    return sum_per_example(per_pixel)


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


def mean_absolute_error(targets, predictions):
    """Per-example mean absolute error, mean_i |x_i - x_hat_i|.

    The L1 terms of image-to-image translation, averaged over pixels as in
    the authors' code: pix2pix's L_L1(G) = E ||y - G(x)||_1 (Isola et al.,
    2017, eq. 3), CycleGAN's cycle-consistency ||F(G(x)) - x||_1 (Zhu et al.,
    2017, eq. 2) and its identity loss ||G(y) - y||_1 (Sec. 5.2).

    Returns:
        `(batch,)` mean over pixels, >= 0.
    """
    return ops.mean(
        ops.reshape(ops.abs(targets - predictions), (ops.shape(targets)[0], -1)),
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


# --------------------------------------------------------------------------
# Adversarial losses. Arguments are raw discriminator outputs ("logits" for
# the cross-entropy losses, unbounded scores for the others), shape (batch,)
# (batch, 1) or (batch, h, w, 1) patch maps; each loss is applied per score
# and averaged per example, shape (batch,). Discriminator
# losses pair real example i with fake example i, so both batches must have
# the same size.
# --------------------------------------------------------------------------


def _per_example(values):
    """Elementwise losses (batch,) or (batch, ...) -> (batch,) means over the non-batch axes.

    A discriminator may output one score per image or a map of patch scores
    (PatchGAN); the loss is applied to every score and then averaged.
    """
    values = ops.convert_to_tensor(values)
    if len(values.shape) == 1:
        return values
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)


def discriminator_cross_entropy(real_logits, fake_logits, label_smoothing=0.0):
    """The discriminator's side of the GAN value function, as a loss to minimize.

    Goodfellow et al. (2014), "Generative Adversarial Nets", eq. 1 / Algorithm 1:

        L_D = -log D(x) - log(1 - D(G(z))),   D = sigmoid(logits)

    computed as softplus(-real) + softplus(fake). With one-sided label
    smoothing (Salimans et al., 2016) the real target is 1 - label_smoothing:

        L_D = -(1 - s) log D(x) - s log(1 - D(x)) - log(1 - D(G(z)))
    """
    real, fake = ops.convert_to_tensor(real_logits), ops.convert_to_tensor(fake_logits)
    s = label_smoothing
    real_term = (1.0 - s) * ops.softplus(-real) + s * ops.softplus(real)
    return _per_example(real_term) + _per_example(ops.softplus(fake))


def minimax_generator_loss(fake_logits):
    """The generator's side of the original (saturating) minimax game.

    Goodfellow et al. (2014), Algorithm 1: the generator descends

        L_G = log(1 - D(G(z))) = -softplus(logits)

    whose gradient vanishes when D confidently rejects the fakes.
    """
    return _per_example(-ops.softplus(ops.convert_to_tensor(fake_logits)))


def non_saturating_generator_loss(fake_logits):
    """The non-saturating generator loss, Goodfellow et al. (2014), Section 3:

        L_G = -log D(G(z)) = softplus(-logits)

    same fixed point as the minimax loss, much stronger gradients early on.
    """
    return _per_example(ops.softplus(-ops.convert_to_tensor(fake_logits)))


def least_squares_discriminator_loss(real_scores, fake_scores, a=0.0, b=1.0):
    """LSGAN discriminator loss, Mao et al. (2017), eq. 2:

        L_D = 1/2 (D(x) - b)^2 + 1/2 (D(G(z)) - a)^2

    with a the label of fakes and b the label of reals (defaults 0 and 1, the
    0-1 coding of the paper's Section 3.2.2).
    """
    real, fake = ops.convert_to_tensor(real_scores), ops.convert_to_tensor(fake_scores)
    return _per_example(0.5 * ops.square(real - b)) + _per_example(0.5 * ops.square(fake - a))


def least_squares_generator_loss(fake_scores, c=1.0):
    """LSGAN generator loss, Mao et al. (2017), eq. 2:  L_G = 1/2 (D(G(z)) - c)^2."""
    return _per_example(0.5 * ops.square(ops.convert_to_tensor(fake_scores) - c))


def wasserstein_critic_loss(real_scores, fake_scores):
    """WGAN critic loss, Arjovsky et al. (2017), Algorithm 1 (negated to minimize):

        L_D = D(G(z)) - D(x)

    whose minimum over 1-Lipschitz critics is minus the Wasserstein-1 distance.
    """
    return _per_example(fake_scores) - _per_example(real_scores)


def wasserstein_generator_loss(fake_scores):
    """WGAN generator loss, Arjovsky et al. (2017), Algorithm 1:  L_G = -D(G(z))."""
    return -_per_example(fake_scores)


def hinge_discriminator_loss(real_scores, fake_scores):
    """Hinge discriminator loss, Lim & Ye (2017); Miyato et al. (2018), eq. 16:

        L_D = max(0, 1 - D(x)) + max(0, 1 + D(G(z)))
    """
    real, fake = ops.convert_to_tensor(real_scores), ops.convert_to_tensor(fake_scores)
    return _per_example(ops.relu(1.0 - real)) + _per_example(ops.relu(1.0 + fake))


def hinge_generator_loss(fake_scores):
    """Hinge generator loss, Miyato et al. (2018), eq. 17:  L_G = -D(G(z))."""
    return -_per_example(fake_scores)


# Loss pairs by name: (discriminator_loss(real, fake), generator_loss(fake)).
ADVERSARIAL_LOSSES = {
    "minimax": (discriminator_cross_entropy, minimax_generator_loss),
    "non_saturating": (discriminator_cross_entropy, non_saturating_generator_loss),
    "least_squares": (least_squares_discriminator_loss, least_squares_generator_loss),
    "wasserstein": (wasserstein_critic_loss, wasserstein_generator_loss),
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
}


def adversarial_loss_pair(name):
    """`(discriminator_loss, generator_loss)` registered as `name` in ADVERSARIAL_LOSSES."""
    try:
        return ADVERSARIAL_LOSSES[name]
    except KeyError:
        raise ValueError(
            f"Unknown adversarial loss {name!r}; choose one of {sorted(ADVERSARIAL_LOSSES)}."
        ) from None


# Image-to-image translation (pix2pix, CycleGAN) weighs the two players' terms its own way.
TRANSLATION_LOSSES = ("non_saturating", "least_squares")


def check_translation_loss(kind):
    """ValueError unless `kind` names one of `TRANSLATION_LOSSES`."""
    if kind not in TRANSLATION_LOSSES:
        raise ValueError(f"Unknown translation adversarial loss {kind!r}; choose one of {list(TRANSLATION_LOSSES)}.")


def translation_discriminator_loss(real_scores, fake_scores, kind="non_saturating"):
    """The discriminator loss of pix2pix and CycleGAN: half the GAN objective.

    Isola et al. (2017), Sec. 3.3, and Zhu et al. (2017), Sec. 4: "we divide
    the objective by 2 while optimizing D, which slows down the rate at which
    D learns relative to G". With x the input and y the real output:

        non_saturating (pix2pix):  L_D = 1/2 [-log D(x, y) - log(1 - D(x, G(x)))]
        least_squares (CycleGAN):  L_D = 1/2 [(D(y) - 1)^2 + D(G(x))^2]

    Scores are logits (non_saturating) or raw scores, one per image or a
    PatchGAN map `(batch, h, w, 1)`; each patch is scored and the patches
    averaged per example. Returns `(batch,)`.
    """
    check_translation_loss(kind)
    if kind == "non_saturating":
        return 0.5 * discriminator_cross_entropy(real_scores, fake_scores)
    # Mao et al.'s form already carries the 1/2: 1/2 (D(y) - 1)^2 + 1/2 D(G(x))^2.
    return least_squares_discriminator_loss(real_scores, fake_scores, a=0.0, b=1.0)


def translation_generator_loss(fake_scores, kind="non_saturating"):
    """The adversarial term of the pix2pix and CycleGAN generators (not halved).

        non_saturating (pix2pix, Isola et al., 2017, Sec. 3.3):  L_G = -log D(x, G(x))
        least_squares (CycleGAN, Zhu et al., 2017, Sec. 4):      L_G = (D(G(x)) - 1)^2

    The least-squares term has no factor 1/2 (unlike LSGAN's eq. 2), so the
    cycle weight lambda = 10 means what it means in the paper. Returns `(batch,)`.
    """
    check_translation_loss(kind)
    if kind == "non_saturating":
        return non_saturating_generator_loss(fake_scores)
    return 2.0 * least_squares_generator_loss(fake_scores, c=1.0)


# --------------------------------------------------------------------------
# Penalties. They need gradients of the discriminator with respect to its
# input, so they take the discriminator as a callable `scores = d(images)`.
# --------------------------------------------------------------------------


def _input_gradient_norms(discriminator, images):
    """||grad_x sum_i D(x_i)||_2 per example: (batch,). Each D(x_i) depends on x_i only."""
    import tensorflow as tf  # input gradients need the backend's tape

    images = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = ops.sum(ops.cast(discriminator(images), "float32"))
    gradients = tape.gradient(scores, images)
    squared = ops.sum(ops.reshape(ops.square(gradients), (ops.shape(gradients)[0], -1)), axis=-1)
    return ops.sqrt(squared + 1e-12), squared


def interpolate(real, fake, epsilon):
    """x_hat = epsilon x + (1 - epsilon) x_tilde, epsilon `(batch,)` broadcast per example."""
    epsilon = ops.reshape(epsilon, (-1,) + (1,) * (len(real.shape) - 1))
    return epsilon * real + (1.0 - epsilon) * fake


def gradient_penalty(discriminator, real, fake, epsilon, one_sided=False):
    """WGAN-GP penalty, Gulrajani et al. (2017), Algorithm 1 lines 6-7:

        x_hat = eps x + (1 - eps) x_tilde,   eps ~ U[0, 1] per example
        GP    = (||grad_{x_hat} D(x_hat)||_2 - 1)^2

    (times lambda, applied by the caller). `one_sided=True` penalizes only
    norms above 1: max(0, ||grad|| - 1)^2 (the paper's Appendix discusses it).

    Args:
        discriminator: callable, images -> scores `(batch,)` or `(batch, 1)`.
        real, fake: `(batch, ...)` images.
        epsilon: `(batch,)` interpolation weights (draw them from U[0, 1]).

    Returns:
        `(batch,)` penalties.
    """
    norms, _ = _input_gradient_norms(discriminator, interpolate(real, fake, epsilon))
    excess = norms - 1.0
    return ops.square(ops.relu(excess) if one_sided else excess)


def r1_penalty(discriminator, real, gamma=10.0):
    """R1 regularizer, Mescheder et al. (2018), "Which Training Methods for GANs
    do actually Converge?", eq. 9:

        R1 = gamma / 2 * ||grad_x D(x)||^2   on real data x

    Returns `(batch,)` penalties (gamma included).
    """
    _, squared = _input_gradient_norms(discriminator, real)
    return 0.5 * gamma * squared


def consistency_penalty(real_scores, augmented_scores, weight=10.0):
    """Consistency regularization, Zhang et al. (2020), "Consistency
    Regularization for GANs", Algorithm 1:

        L_cr = lambda * ||D(x) - D(T(x))||^2

    Args:
        real_scores: D(x), `(batch,)` or `(batch, ...)`.
        augmented_scores: D(T(x)) for an augmentation T (see
            `kerasgen.augment.flip_and_translate`).
        weight: lambda (the paper's default is 10).
    """
    difference = ops.convert_to_tensor(real_scores) - ops.convert_to_tensor(augmented_scores)
    return weight * ops.sum(ops.reshape(ops.square(difference), (ops.shape(difference)[0], -1)), axis=-1)


# ------------------------------------------------------------ latent-space divergences
#: Kernel scales of the WAE experiments (Tolstikhin et al., 2018, Section 4): the IMQ kernel is
#: summed over C = s * 2 * d_z * sigma_z^2 for these s.
WAE_KERNEL_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _squared_distances(a, b):
    """`(n, m)` matrix of ||a_i - b_j||^2, clipped at 0 against rounding."""
    a_norms = ops.sum(ops.square(a), axis=-1, keepdims=True)
    b_norms = ops.sum(ops.square(b), axis=-1, keepdims=True)
    return ops.maximum(a_norms - 2.0 * ops.matmul(a, ops.transpose(b)) + ops.transpose(b_norms), 0.0)


def inverse_multiquadratic_kernel(a, b, scale):
    """k(x, y) = C / (C + ||x - y||^2), Tolstikhin et al. (2018), "Wasserstein
    Auto-Encoders", Section 4; `scale` is C. Returns the `(n, m)` Gram matrix."""
    return scale / (scale + _squared_distances(a, b))


def mmd_penalty(codes, prior_samples, scales=WAE_KERNEL_SCALES, prior_variance=1.0):
    """Unbiased MMD^2 between encoded codes and prior samples, with the inverse
    multiquadratic kernel. Tolstikhin et al. (2018), "Wasserstein Auto-Encoders",
    Algorithm 2 (WAE-MMD), for n codes z~_i ~ Q(Z|x_i) and n prior draws z_i ~ P_Z:

        MMD = 1/(n(n-1)) sum_{l != j} k(z_l, z_j) + 1/(n(n-1)) sum_{l != j} k(z~_l, z~_j)
              - 2/n^2 sum_{l, j} k(z_l, z~_j)

    (the paper's penalty is lambda times this; the model applies lambda). The kernel is
    summed over C = s * 2 * d_z * prior_variance for each s in `scales`, as in the paper's
    experiments. Args: `codes` and `prior_samples` `(n, d_z)`, n >= 2. Returns a scalar
    (one estimate for the whole batch, not per example); its expectation is 0 when the
    two samples come from the same distribution, and it can be slightly negative.
    """
    codes = ops.cast(codes, "float32")
    prior_samples = ops.cast(prior_samples, "float32")
    n = ops.cast(ops.shape(codes)[0], "float32")
    off_diagonal = 1.0 - ops.eye(ops.shape(codes)[0], dtype="float32")
    base = 2.0 * ops.cast(ops.shape(codes)[-1], "float32") * prior_variance
    total = 0.0
    for s in scales:
        c = s * base
        within_prior = ops.sum(inverse_multiquadratic_kernel(prior_samples, prior_samples, c) * off_diagonal)
        within_codes = ops.sum(inverse_multiquadratic_kernel(codes, codes, c) * off_diagonal)
        across = ops.sum(inverse_multiquadratic_kernel(prior_samples, codes, c))
        total += (within_prior + within_codes) / (n * (n - 1.0)) - 2.0 * across / (n * n)
    return total


def drift_penalty(real_scores, weight=1e-3):
    """Drift term, Karras et al. (2018), "Progressive Growing of GANs", Appendix A.1:

        weight * D(x)^2

    keeps critic outputs near zero (WGAN-GP critics drift otherwise).
    """
    return weight * _per_example(ops.square(ops.convert_to_tensor(real_scores)))


# ------------------------------------------------------------ Laplacian pyramid L1 (GLO)
def _gaussian_kernel_5x5(channels, sigma=1.0):
    """`(5, 5, channels, 1)` depthwise kernel of a normalized 5x5 Gaussian (weights sum to 1)."""
    taps = [math.exp(-(t * t) / (2.0 * sigma * sigma)) for t in range(-2, 3)]
    total = sum(taps)
    taps = [t / total for t in taps]
    kernel = ops.convert_to_tensor([[a * b for b in taps] for a in taps], dtype="float32")
    return ops.tile(ops.reshape(kernel, (5, 5, 1, 1)), (1, 1, channels, 1))


def _gaussian_blur(images, kernel):
    padded = ops.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="reflect")
    return ops.depthwise_conv(padded, kernel, strides=1, padding="valid")


def laplacian_pyramid(images, levels=3):
    """Laplacian pyramid `[L^0, ..., L^{levels-1}]` of NHWC `images` (float32).

    G^0 = x;  L^j = G^j - blur(G^j) and G^{j+1} = avgpool_2x2(blur(G^j)) for
    j < levels - 1;  the last level is the low-pass residual L^{levels-1} =
    G^{levels-1}. `blur` is a depthwise 5x5 Gaussian (sigma 1, weights summing
    to 1) with reflect padding; each band-pass level holds the detail the blur
    removes at its own resolution (no upsampling needed). The blur keeps
    constants, so a constant image lives in the residual alone. Every level
    before the last must be at least 3 pixels high and wide (reflect padding),
    odd sizes lose their last row/column when pooled.
    """
    if int(levels) < 1:
        raise ValueError(f"levels must be >= 1, got {levels}.")
    current = ops.cast(ops.convert_to_tensor(images), "float32")
    kernel = _gaussian_kernel_5x5(int(current.shape[-1]))
    pyramid = []
    for _ in range(int(levels) - 1):
        blurred = _gaussian_blur(current, kernel)
        pyramid.append(current - blurred)
        current = ops.average_pool(blurred, pool_size=2, strides=2, padding="valid")
    pyramid.append(current)
    return pyramid


def laplacian_pyramid_l1(targets, predictions, levels=3):
    """Laplacian-pyramid L1 loss of GLO, Bojanowski, Joulin, Lopez-Paz & Szlam
    (2018), "Optimizing the Latent Space of Generative Networks", Section 3.2:

        Lap1(x, x') = sum_j 2^{2j} |L^j(x) - L^j(x')|_1 / N

    where L^j is level j of the Laplacian pyramid (j = 0 finest; see
    `laplacian_pyramid`: band-pass levels G^j - blur(G^j), 2x average-pool
    downsampling, the last level the low-pass residual) and N = H * W * C is
    the image's pixel count. Level j holds N / 4^j values, so the factor
    2^{2j} / N makes each level's *mean* absolute difference count equally
    (exactly so when the sizes halve evenly, e.g. 28 -> 14 -> 7). Fine detail
    and coarse structure then weigh alike, which gives sharper reconstructions
    than the pixel MSE. A constant offset between x and x' shows up only in
    the low-pass level.

    Args:
        targets, predictions: `(batch, H, W, C)` images (cast to float32).
        levels: number of pyramid levels, the low-pass residual included.

    Returns:
        `(batch,)` per-example losses, >= 0.
    """
    targets = ops.cast(ops.convert_to_tensor(targets), "float32")
    predictions = ops.cast(ops.convert_to_tensor(predictions), "float32")
    num_pixels = float(math.prod(int(d) for d in targets.shape[1:]))
    # The pyramid is linear: the pyramid of the difference is the difference of the pyramids.
    total = 0.0
    for j, level in enumerate(laplacian_pyramid(targets - predictions, levels)):
        total = total + (4.0**j / num_pixels) * sum_per_example(ops.abs(level))
    return total


def categorical_pixel_nll(levels, logits):
    """-log p(x) of an image under per-sub-pixel categoricals, summed per example.

    van den Oord et al. (2016), "Pixel Recurrent Neural Networks", Section 2
    (eq. 1-2): with x quantized to integer levels and p(x_i | x_<i) =
    softmax(logits_i),

        -log p(x) = -sum_i log softmax(logits_i)[x_i]

    over every sub-pixel i (all H * W * C of them). Divide by H * W * C * ln 2
    for bits per dimension.

    Args:
        levels: `(batch, H, W, C)` integer levels in [0, num_levels).
        logits: `(batch, H, W, C, num_levels)` unnormalized log-probabilities
            (computed in float32 whatever their dtype).

    Returns:
        `(batch,)` negative log-likelihood in nats.
    """
    log_probabilities = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.take_along_axis(log_probabilities, ops.expand_dims(ops.cast(levels, "int32"), -1), axis=-1)
    return -sum_per_example(picked)


# ------------------------------------------------------------ vector quantization (VQ-VAE)
def vq_codebook_loss(encodings, codes):
    """The VQ-VAE's codebook (dictionary) term, mean ||sg[z_e(x)] - e||^2, per example.

    van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
    Learning", eq. 3, second term: moves each selected code e toward the
    encoder outputs assigned to it; the encoder gets no gradient (sg = stop
    gradient). Averaged over the latent grid and code dimensions.

    Args:
        encodings: `(batch, h, w, D)` encoder outputs z_e(x).
        codes: `(batch, h, w, D)` the nearest codebook vectors e.

    Returns:
        `(batch,)` float32, >= 0.
    """
    encodings = ops.stop_gradient(ops.cast(encodings, "float32"))
    return mean_squared_error(encodings, ops.cast(codes, "float32"))


def vq_commitment_loss(encodings, codes):
    """The VQ-VAE's commitment term, mean ||z_e(x) - sg[e]||^2, per example (unweighted).

    van den Oord et al. (2017), eq. 3, third term (the model weighs it by
    beta = 0.25): keeps the encoder outputs close to the codes they chose, so
    that they do not grow away from the codebook; only the encoder gets a
    gradient. Same value as `vq_codebook_loss`, different gradient.

    Args:
        encodings: `(batch, h, w, D)` encoder outputs z_e(x).
        codes: `(batch, h, w, D)` the nearest codebook vectors e.

    Returns:
        `(batch,)` float32, >= 0.
    """
    codes = ops.stop_gradient(ops.cast(codes, "float32"))
    return mean_squared_error(ops.cast(encodings, "float32"), codes)
