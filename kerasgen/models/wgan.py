"""Wasserstein GANs: weight clipping (Arjovsky et al., 2017) and gradient
penalty (Gulrajani et al., 2017), as configurations of `GAN`.

Both train n_critic = 5 critic updates per generator update, so each `fit`
batch holds 5 minibatches: feed batches of 5 * m (320 for the papers' m = 64).
WGAN also has its authors' critic warm-up: 100 critic updates before each of
the first 25 generator updates and before every 500th.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasgen.models.gan import DCGAN
from kerasgen.models.registry import register


@register(
    "wgan",
    family="gan",
    summary="critic weight clipping c = 0.01, RMSProp(5e-5, rho 0.99), n_critic = 5, critic warm-up",
    paper="Arjovsky et al., 2017",
    small_config={"latent_dim": 8, "base_filters": 8, "discriminator_steps": 2, "warmup_critic_steps": 4,
                  "warmup_generator_steps": 1},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class WGAN(DCGAN):
    """WGAN with the defaults of Arjovsky et al. (2017), Algorithm 1:
    alpha = 0.00005 (RMSProp), c = 0.01, m = 64, n_critic = 5.

    The critic is `discriminator`; its weights are clipped to [-c, c] after
    every critic update. Two settings come from the authors' code
    (github.com/martinarjovsky/WassersteinGAN, `main.py`) rather than the
    paper's text:

    - critic warm-up: 100 critic updates (`warmup_critic_steps`) before each
      of the first 25 generator updates (`warmup_generator_steps`) and before
      every 500th (`warmup_every`), "to get the critic close to optimality";
      `warmup_critic_steps=None` turns it off. `fit` still takes batches of
      n_critic minibatches: a step whose critic updates do not yet reach the
      schedule makes no generator update (see `critic_updates_due`);
    - RMSProp's decay rho = 0.99 (PyTorch's default, which their code uses),
      not Keras's 0.9.

    The networks are DCGAN's (N(0, 0.02) weights, batch norm in both), as
    in the paper's DCGAN experiments.
    """

    default_batch_size = 64

    def __init__(self, latent_dim=100, image_shape=(28, 28, 1), *, warmup_critic_steps=100,
                 warmup_generator_steps=25, warmup_every=500, **kwargs):
        kwargs.setdefault("adversarial_loss", "wasserstein")
        kwargs.setdefault("discriminator_steps", 5)
        kwargs.setdefault("clip_value", 0.01)
        super().__init__(latent_dim, image_shape, **kwargs)
        if warmup_critic_steps is not None:
            if int(warmup_critic_steps) < 1 or int(warmup_generator_steps) < 0 or int(warmup_every) < 1:
                raise ValueError(
                    "warmup_critic_steps and warmup_every must be >= 1 and warmup_generator_steps >= 0, got "
                    f"{warmup_critic_steps}, {warmup_every} and {warmup_generator_steps}; "
                    "pass warmup_critic_steps=None to turn the warm-up off."
                )
            warmup_critic_steps = int(warmup_critic_steps)
        self.warmup_critic_steps = warmup_critic_steps
        self.warmup_generator_steps = int(warmup_generator_steps)
        self.warmup_every = int(warmup_every)

    def default_optimizers(self):
        """RMSProp(5e-5) for both networks (Algorithm 1), with rho = 0.99 (the authors' PyTorch code)."""
        return (keras.optimizers.RMSprop(5e-5, rho=0.99), keras.optimizers.RMSprop(5e-5, rho=0.99))

    def critic_updates_due(self, generator_updates):
        """Critic updates the schedule makes before generator update number `generator_updates + 1`.

        With g = `generator_updates` (0, 1, ...) and n_i the critic updates
        before generator update i + 1 (the authors' `Diters`: 100 when
        i < 25 or i % 500 == 0, n_critic otherwise), this is
        n_0 + ... + n_g. Works on ints and int tensors.
        """
        g = generator_updates
        k = self.discriminator_steps
        if self.warmup_critic_steps is None:
            return (g + 1) * k
        first, every = self.warmup_generator_steps, self.warmup_every
        before = (first - 1) // every + 1 if first > 0 else 0  # multiples of `every` in [0, first)
        # warm-up updates among 0..g: the first `first`, then the multiples of `every`
        warm = ops.minimum(g + 1, first) + ops.where(g >= first, g // every + 1 - before, 0)
        return self.warmup_critic_steps * warm + k * (g + 1 - warm)

    # The warm-up decides per fit step whether the step ends with a generator update. The
    # decision cannot be a tf.cond inside train_step: under a tf.distribute strategy the
    # generator update synchronizes replicas (batch norm, gradient aggregation), which
    # TensorFlow does not allow inside replica-context control flow. So two train functions
    # are compiled, with and without the generator update, and each step runs one of them.
    _generator_update = True

    def train_step(self, data):
        if self._generator_update:
            return super().train_step(data)
        self.discriminator_updates(data)
        return self.record()

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        if self.warmup_critic_steps is None:
            super().make_train_function(force=force)
            return self.train_function
        if self.steps_per_execution != 1:
            raise ValueError(
                f"WGAN's critic warm-up decides at every fit step whether to update the generator, so it needs "
                f"steps_per_execution=1 (got {self.steps_per_execution}). Compile with steps_per_execution=1, "
                "or build the model with warmup_critic_steps=None."
            )
        functions = {}
        for update in (True, False):
            self._generator_update = update
            super().make_train_function(force=True)
            functions[update] = self.train_function

        def train_function(iterator):
            critic, generator = self._update_counts()
            self._generator_update = self._step_updates_generator(critic, generator)  # read when it traces
            return functions[self._generator_update](iterator)

        self.train_function = train_function
        return train_function

    def _update_counts(self):
        """(critic updates, generator updates) made so far: the two optimizers' step counters."""
        return int(self.discriminator_optimizer.iterations.numpy()), int(self.optimizer.iterations.numpy())

    def _step_updates_generator(self, critic_updates, generator_updates):
        """Whether the next fit step, after its k critic updates, makes a generator update."""
        due = int(self.critic_updates_due(generator_updates))
        return critic_updates + self.discriminator_steps >= due

    def optimizer_updates_after(self, fit_steps, from_start=False):
        """Generator updates after `fit_steps` more fit steps: the warm-up skips some."""
        critic, generator = (0, 0) if from_start else self._update_counts()
        for _ in range(fit_steps):
            generator += self._step_updates_generator(critic, generator)
            critic += self.discriminator_steps
        return generator

    def get_config(self):
        return {**super().get_config(), "warmup_critic_steps": self.warmup_critic_steps,
                "warmup_generator_steps": self.warmup_generator_steps, "warmup_every": self.warmup_every}


@register(
    "wgan_gp",
    family="gan",
    summary="gradient penalty lambda = 10 on uniform interpolates, Adam(1e-4, 0, 0.9), n_critic = 5",
    paper="Gulrajani et al., 2017",
    small_config={"latent_dim": 8, "base_filters": 8, "discriminator_steps": 2},
)
@keras.saving.register_keras_serializable(package="kerasgen")
class WGANGP(DCGAN):
    """WGAN-GP with the defaults of Gulrajani et al. (2017), Algorithm 1:
    lambda = 10, n_critic = 5, alpha = 0.0001, beta_1 = 0, beta_2 = 0.9,
    m = 64; z in R^128 as in the authors' code.

    The critic uses layer normalization instead of batch normalization (the
    paper's Section 4: batch norm breaks the per-example penalty). Interpolation
    weights are drawn from U[0, 1] independently per example.
    """

    discriminator_normalization = "layer"
    default_batch_size = 64

    def __init__(self, latent_dim=128, image_shape=(28, 28, 1), **kwargs):
        kwargs.setdefault("adversarial_loss", "wasserstein")
        kwargs.setdefault("discriminator_steps", 5)
        kwargs.setdefault("gradient_penalty_weight", 10.0)
        super().__init__(latent_dim, image_shape, **kwargs)

    def default_optimizers(self):
        """Algorithm 1's Adam(alpha=1e-4, beta_1=0, beta_2=0.9) for both networks."""
        return (
            keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
            keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
        )
