"""
Title: WGAN-GP on Fashion-MNIST
Author: kerasgen
Description: A Wasserstein critic kept 1-Lipschitz by a gradient penalty, five critic steps per generator step.

Run: python examples/wgan_gp_fashion_mnist.py --epochs 2
"""

"""
## Introduction

The WGAN critic estimates the Wasserstein-1 distance between the data and the
generator's distribution; the estimate is only valid for a 1-Lipschitz critic.
Gulrajani et al. (2017) enforce that softly: on random interpolates
x_hat = eps x + (1 - eps) G(z), with eps ~ U[0, 1] drawn per example, they
penalize lambda (||grad D(x_hat)|| - 1)^2. Their Algorithm 1 uses lambda = 10,
n_critic = 5 critic updates per generator update, and Adam(1e-4, 0, 0.9).

(The Keras example of WGAN-GP draws eps from a normal distribution; the paper
uses the uniform one, and so does kerasgen.)
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--out", default="runs/example_wgan_gp")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

One `train_step` is one iteration of Algorithm 1, which consumes n_critic real
minibatches. So each `fit` batch holds 5 minibatches of m = 64: 320 images.
"""

model = kerasgen.models.WGANGP(latent_dim=128, image_shape=(28, 28, 1))
minibatch = 64
train = kerasgen.datasets.load(
    "fashion_mnist", split="train", batch_size=minibatch * model.discriminator_steps, seed=0, drop_remainder=True
)

"""
## Training

`compile()` uses the paper's optimizers. The critic has layer normalization
instead of batch norm, because the penalty is per example. `fit` reports the
critic loss D(G(z)) - D(x) (its negative estimates the Wasserstein distance),
the generator loss -D(G(z)) and the penalty (lambda included).
"""

model.compile()
model.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out)])
print("critic updates:", int(model.discriminator_optimizer.iterations.numpy()),
      "generator updates:", int(model.optimizer.iterations.numpy()))

"""
## Samples
"""

kerasgen.images.save_grid(model.generate(64, seed=0), os.path.join(args.out, "final_samples.png"))
model.save(os.path.join(args.out, "wgan_gp.keras"))
