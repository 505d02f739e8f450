"""Denoising diffusion probabilistic models (Ho, Jain & Abbeel, 2020) with DDIM sampling (Song, Meng & Ermon, 2021).

The forward process adds Gaussian noise in T steps with variances beta_t,

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s <= t} (1 - beta_s),

and a network eps_theta(x_t, t) learns to predict the noise. `DDPM.train_step`
is the paper's Algorithm 1:

    x_0 ~ q(x_0);  t ~ Uniform({1, ..., T});  eps ~ N(0, I)
    take a gradient step on ||eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)||^2

Sampling runs the learned reverse process from x_T ~ N(0, I): Algorithm 2
(ancestral, T network calls) or DDIM (eq. 12 of Song et al.) on a
subsequence of S timesteps, deterministic for eta = 0, so a given x_T always
decodes to the same image. Timesteps are 0-based here: index t holds the
paper's t + 1.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasgen import previews, serving
from kerasgen.models.base import GenerativeModel, sampler, split_batch
from kerasgen.models.registry import register
from kerasgen.networks.diffusion import diffusion_unet

SCHEDULES = ("linear", "cosine")
VARIANCES = ("beta", "posterior")


# ---------------------------------------------------------------- schedules
def linear_beta_schedule(timesteps=1000, beta_start=1e-4, beta_end=0.02):
    """Ho et al. (2020), Sec. 4: beta_t rising linearly from 1e-4 to 0.02 over T = 1000 steps. float64 `(T,)`."""
    return np.linspace(beta_start, beta_end, int(timesteps), dtype=np.float64)


def cosine_beta_schedule(timesteps=1000, offset=0.008, max_beta=0.999):
    """Nichol & Dhariwal (2021), eq. 17: abar_t = f(t) / f(0), f(t) = cos(((t / T + s) / (1 + s)) * pi / 2)^2,
    s = 0.008; beta_t = 1 - abar_t / abar_{t-1}, clipped to `max_beta` (0.999) near t = T. float64 `(T,)`."""
    steps = np.arange(int(timesteps) + 1, dtype=np.float64) / int(timesteps)
    f = np.cos((steps + offset) / (1.0 + offset) * math.pi / 2) ** 2
    abar = f / f[0]
    return np.clip(1.0 - abar[1:] / abar[:-1], 0.0, max_beta)


def ddim_timesteps(timesteps, steps):
    """The S = `steps` timesteps (0-based, ascending) a DDIM sampler visits: round(linspace(0, T - 1, S)).

    int32 tensor `(S,)`; `steps` may be a tensor (the SavedModel's input).
    """
    steps = tf.cast(steps, tf.int32)
    return tf.cast(tf.round(tf.linspace(0.0, float(timesteps - 1), steps)), tf.int32)


@register(
    "ddpm",
    family="diffusion",
    summary="Algorithm 1 (noise prediction, linear or cosine schedule, T = 1000), U-Net with time embedding, EMA 0.9999; ancestral and DDIM sampling",
    paper="Ho et al., 2020",
    small_config={"timesteps": 40, "base_filters": 8, "channel_multipliers": (1, 2), "sampling_steps": 4},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class DDPM(GenerativeModel):
    """Denoising diffusion probabilistic model.

    Args:
        image_shape: `(H, W, C)`; images in `value_range` (default [-1, 1],
            the scale the schedules assume).
        timesteps: T (the paper's 1000).
        beta_schedule: "linear" (1e-4 .. 0.02, the paper's) or "cosine"
            (Nichol & Dhariwal, 2021).
        network: eps_theta, a Keras model `[x_t, t] -> eps`; default
            `networks.diffusion_unet(image_shape, base_filters, channel_multipliers, attention=attention)`.
        ema_decay: decay of the exponential moving average of the network's
            weights used for sampling (the paper's 0.9999, with the warm-up of
            `GenerativeModel.update_ema`); None samples with the live weights.
        sampling_steps: DDIM steps of `generate` and the SavedModel's
            `serving_default`; None: min(50, T) (Song et al. reach most of
            the quality of 1000 steps at 50).
        ancestral_variance: sigma_t^2 of Algorithm 2: "beta" (beta_t, the
            paper's CIFAR-10 choice) or "posterior" (beta~_t =
            (1 - abar_{t-1}) / (1 - abar_t) beta_t, which DDIM with eta = 1
            and all T steps reproduces).
        clip_denoised: clip each step's prediction of x_0,
            x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t), to
            `value_range` and continue with the eps it implies (both
            samplers; Ho et al.'s released sampler does this for the
            ancestral chain). Where no clipping happens the steps are exactly
            Algorithm 2 and eq. 12; an imperfect eps_theta near t = T, where
            1 / sqrt(abar_t) is ~160, otherwise sends DDIM's x0_hat far outside
            the data range. False: the unclipped formulas.

    Reports `loss`, the mean over pixels of (eps - eps_theta)^2 (the paper's
    L_simple divided by the number of pixels).
    """

    loss_names = ("loss",)
    NETWORKS = ("network",)

    def __init__(self, image_shape=(28, 28, 1), *, timesteps=1000, beta_schedule="linear", network=None,
                 base_filters=32, channel_multipliers=(1, 2, 2), attention=False, dropout=0.0, ema_decay=0.9999,
                 sampling_steps=None, ancestral_variance="beta", clip_denoised=True, **kwargs):
        kwargs.pop("latent_dim", None)
        super().__init__(None, image_shape, **kwargs)
        if int(timesteps) < 2:
            raise ValueError(f"timesteps (T) must be >= 2, got {timesteps}.")
        if beta_schedule not in SCHEDULES:
            raise ValueError(f"beta_schedule must be one of {SCHEDULES}, got {beta_schedule!r}.")
        if ancestral_variance not in VARIANCES:
            raise ValueError(f"ancestral_variance must be one of {VARIANCES}, got {ancestral_variance!r}.")
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {ema_decay}.")
        self.timesteps = int(timesteps)
        self.beta_schedule = beta_schedule
        self.base_filters = int(base_filters)
        self.channel_multipliers = tuple(int(m) for m in channel_multipliers)
        self.attention = bool(attention)
        self.dropout = float(dropout)
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.sampling_steps = min(50, self.timesteps) if sampling_steps is None else self._checked_steps(sampling_steps)
        self.ancestral_variance = ancestral_variance
        self.clip_denoised = bool(clip_denoised)

        betas = (linear_beta_schedule(self.timesteps) if beta_schedule == "linear"
                 else cosine_beta_schedule(self.timesteps))
        abar = np.cumprod(1.0 - betas)
        abar_prev = np.concatenate([[1.0], abar[:-1]])
        self.betas = tf.constant(betas, tf.float32)
        self.alphas_cumprod = tf.constant(abar, tf.float32)
        self.posterior_variance = tf.constant(betas * (1.0 - abar_prev) / (1.0 - abar), tf.float32)

        self.network = network or diffusion_unet(
            self.image_shape, self.base_filters, self.channel_multipliers, attention=self.attention,
            dropout=self.dropout)
        self.ema_network = self.ema_copy(self.network) if self.ema_decay else None
        self.built = True

    def _checked_steps(self, steps):
        steps = int(steps)
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be in [1, T={self.timesteps}], got {steps}.")
        return steps

    # ------------------------------------------------------------ forward
    def _gather(self, table, t):
        return ops.reshape(ops.take(table, t), (-1, 1, 1, 1))

    def diffuse(self, images, t, noise):
        """q(x_t | x_0) by the reparameterization: sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        abar = self._gather(self.alphas_cumprod, t)
        return ops.sqrt(abar) * images + ops.sqrt(1.0 - abar) * noise

    def predict_noise(self, x_t, t, training=False, network=None):
        """eps_theta(x_t, t) as float32 (`network` defaults to the live one)."""
        network = network or self.network
        return ops.cast(network([x_t, ops.cast(t, "int32")], training=training), "float32")

    def _loss(self, images, training):
        images = ops.cast(images, "float32")
        count = ops.shape(images)[0]
        t = keras.random.randint((count,), 0, self.timesteps, seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        predicted = self.predict_noise(self.diffuse(images, t, noise), t, training=training)
        return ops.mean(ops.square(noise - predicted))

    # ---------------------------------------------------------- algorithm
    def train_step(self, data):
        """Algorithm 1: t ~ U{1..T}, eps ~ N(0, I), one step on ||eps - eps_theta(x_t, t)||^2."""
        images, _ = split_batch(data)
        with tf.GradientTape() as tape:
            loss = self._loss(images, training=True)
        self.apply_gradients(tape, loss, self.network.trainable_variables)
        if self.ema_network is not None:
            self.update_ema(self.ema_network, self.network, self.ema_decay)
        return self.record(loss=loss)

    def test_step(self, data):
        images, _ = split_batch(data)
        return self.record(loss=self._loss(images, training=False))

    # ---------------------------------------------------------- sampling
    @property
    def sampling_network(self):
        """The network the samplers run: the EMA copy when `ema_decay` is set."""
        return self.ema_network if self.ema_network is not None else self.network

    def _seed_pair(self, seed):
        """A stateless seed `(2,)` int32: the model's next one for None, else from an int or a seed tensor."""
        if seed is None:
            return tf.cast(self.seed_generator.next(), tf.int32)
        if tf.is_tensor(seed):
            return tf.cast(seed, tf.int32)
        return tf.constant([int(seed) % (2**31 - 1), 0], tf.int32)

    def _denoised(self, x, eps, abar):
        """`(x0_hat, eps)` at x_t with abar_t: x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clipped to
        `value_range` when `clip_denoised`, and the eps that the (clipped) x0_hat implies."""
        x0 = (x - tf.sqrt(1.0 - abar) * eps) / tf.sqrt(abar)
        if not self.clip_denoised:
            return x0, eps
        x0 = tf.clip_by_value(x0, *self.value_range)
        return x0, (x - tf.sqrt(abar) * x0) / tf.sqrt(1.0 - abar)

    def ddim_sample(self, noise, steps=None, eta=0.0, seed=None):
        """DDIM (Song et al., 2021, eq. 12) from x_T = `noise` `(batch, H, W, C)` over `steps` timesteps.

        x_{t'} = sqrt(abar_{t'}) x0_hat + sqrt(1 - abar_{t'} - sigma^2) eps_theta + sigma z,
        x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t),
        sigma = eta sqrt((1 - abar_{t'}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t'}).
        eta = 0 is deterministic (no `seed` needed); eta = 1 with steps = T is
        DDPM with sigma_t^2 = beta~_t. Returns float32 images clipped to `value_range`.
        Traceable (the SavedModel signatures call it) with `steps` a tensor.
        """
        steps = self.sampling_steps if steps is None else steps
        if not tf.is_tensor(steps):
            steps = self._checked_steps(steps)
        x = tf.cast(noise, tf.float32)
        schedule = ddim_timesteps(self.timesteps, steps)
        count = tf.shape(schedule)[0]
        seed_pair = self._seed_pair(seed) if float(eta) else tf.zeros((2,), tf.int32)
        eta = tf.constant(float(eta), tf.float32)
        network = self.sampling_network

        def step(i, x):
            t = schedule[i]
            abar = tf.gather(self.alphas_cumprod, t)
            abar_prev = tf.where(i > 0, tf.gather(self.alphas_cumprod, schedule[tf.maximum(i - 1, 0)]), 1.0)
            eps = self.predict_noise(x, tf.fill([tf.shape(x)[0]], t), network=network)
            x0, eps = self._denoised(x, eps, abar)
            sigma = eta * tf.sqrt((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev))
            z = tf.random.stateless_normal(tf.shape(x), seed_pair + tf.stack([0, i]))
            x = tf.sqrt(abar_prev) * x0 + tf.sqrt(tf.maximum(1.0 - abar_prev - sigma**2, 0.0)) * eps + sigma * z
            return i - 1, x

        _, x = tf.while_loop(lambda i, x: i >= 0, step, (count - 1, x), parallel_iterations=1)
        low, high = self.value_range
        return tf.clip_by_value(x, low, high)

    def ancestral_sample(self, noise, seed=None):
        """Algorithm 2 from x_T = `noise`: for t = T..1, z ~ N(0, I) if t > 1 else 0,
        x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z,
        sigma_t^2 = beta_t or beta~_t (`ancestral_variance`). T network calls; float32 in `value_range`."""
        x = tf.cast(noise, tf.float32)
        seed_pair = self._seed_pair(seed)
        variances = self.betas if self.ancestral_variance == "beta" else self.posterior_variance
        network = self.sampling_network

        def step(t, x):
            beta, abar = tf.gather(self.betas, t), tf.gather(self.alphas_cumprod, t)
            eps = self.predict_noise(x, tf.fill([tf.shape(x)[0]], t), network=network)
            _, eps = self._denoised(x, eps, abar)
            mean = (x - beta / tf.sqrt(1.0 - abar) * eps) / tf.sqrt(1.0 - beta)
            z = tf.random.stateless_normal(tf.shape(x), seed_pair + tf.stack([0, t]))
            sigma = tf.where(t > 0, tf.sqrt(tf.gather(variances, t)), 0.0)
            return t - 1, mean + sigma * z

        _, x = tf.while_loop(lambda t, x: t >= 0, step, (tf.constant(self.timesteps - 1), x),
                             parallel_iterations=1)
        low, high = self.value_range
        return tf.clip_by_value(x, low, high)

    def _compiled(self, name, function):
        cache = self.__dict__.setdefault("_compiled_samplers", {})
        if name not in cache:
            cache[name] = tf.function(function, reduce_retracing=True)
        return cache[name]

    def sample_noise(self, num_samples, seed=None):
        """x_T ~ N(0, I) `(num_samples, H, W, C)` (int `seed`: reproducible)."""
        return keras.random.normal((int(num_samples), *self.image_shape),
                                   seed=self.seed_generator if seed is None else seed)

    @sampler
    def generate(self, num_samples, steps=None, eta=0.0, seed=None, ancestral=False):
        """`num_samples` images in `value_range`: DDIM with `steps` (default `sampling_steps`) and `eta`,
        or, with `ancestral=True`, Algorithm 2 over all T steps. One compiled loop either way."""
        noise = self.sample_noise(num_samples, seed)
        noise_seed = None if seed is None else int(seed) + 1
        if ancestral:
            return self._compiled("ancestral", lambda x, s: self.ancestral_sample(x, seed=s))(
                noise, self._seed_pair(noise_seed))
        steps = self._checked_steps(self.sampling_steps if steps is None else steps)
        return self._compiled(f"ddim_{float(eta)}", lambda x, n, s: self.ddim_sample(x, n, float(eta), seed=s))(
            noise, tf.constant(steps), self._seed_pair(noise_seed))

    # ---------------------------------------------------------- protocol
    def serving_endpoints(self):
        """`serving_default(noise) -> {images, images_uint8}`: deterministic DDIM (eta = 0) over
        `sampling_steps` from x_T = noise ~ N(0, I), so equal noise gives equal images; `sample(noise,
        steps)` the same with `steps` (int32 scalar in [1, T]) chosen per request."""
        noise = serving.latent_input(self.image_shape, name="noise")
        default = serving.Endpoint((noise,), lambda noise: serving.image_outputs(self, self.ddim_sample(noise)))
        chosen = serving.Endpoint(
            (noise, serving.count_input("steps", 1, self.timesteps)),
            lambda noise, steps: serving.image_outputs(self, self.ddim_sample(noise, steps)))
        return {"serving_default": default, "sample": chosen}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        """Samples (DDIM, `sampling_steps`)."""
        return previews.samples(self, num_samples, seed)

    def get_config(self):
        config = super().get_config()
        config.pop("latent_dim", None)
        config.update(timesteps=self.timesteps, beta_schedule=self.beta_schedule, base_filters=self.base_filters,
                      channel_multipliers=self.channel_multipliers, attention=self.attention, dropout=self.dropout,
                      ema_decay=self.ema_decay, sampling_steps=self.sampling_steps,
                      ancestral_variance=self.ancestral_variance, clip_denoised=self.clip_denoised)
        return config
