"""
Title: DCGAN on Fashion-MNIST
Author: kerasgen
Description: Goodfellow's Algorithm 1 with Radford's all-convolutional networks, trained with `fit`.

Run: python examples/dcgan_fashion_mnist.py --epochs 2
"""

"""
## Introduction

A GAN trains a generator G, mapping noise z ~ N(0, I) to images, against a
discriminator D that tells real images from generated ones. Goodfellow et al.
(2014), Algorithm 1, alternates k discriminator updates with one generator
update. DCGAN (Radford et al., 2016) made this stable for images with a few
architecture rules: strided convolutions instead of pooling, batch norm in
both networks, ReLU in G with a tanh output, LeakyReLU in D, weights from
N(0, 0.02), minibatches of 128 and Adam(2e-4, beta_1=0.5).

`kerasgen.models.DCGAN` is that recipe: its `train_step` is Algorithm 1, its
networks are built by `kerasgen.networks.dcgan_generator` and
`dcgan_discriminator`, and `compile()` with no arguments uses the paper's
optimizers.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--out", default="runs/example_dcgan")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

Images in [-1, 1], the range of the generator's tanh. With k = 1 each `fit`
batch is one minibatch of m = 128 real images (`DCGAN.default_batch_size`, the paper's).
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0, drop_remainder=True)

"""
## Model

The loss pair is a constructor argument: `"non_saturating"` (the default, the
generator maximizes log D(G(z)) as the paper recommends in practice),
`"minimax"`, `"least_squares"`, `"wasserstein"` or `"hinge"`. Penalties compose
the same way (`r1_gamma=10.0`, `consistency_weight=10.0`, ...). `ema_decay`
keeps a moving average of the generator's weights for sampling.
"""

gan = kerasgen.models.DCGAN(latent_dim=100, image_shape=(28, 28, 1), ema_decay=0.999)
gan.compile()
gan.generator.summary()
gan.discriminator.summary()

"""
## Training

`fit` reports `d_loss` and `g_loss`. For the non-saturating loss, a
discriminator that cannot tell real from fake has d_loss = 2 log 2 = 1.39 and
g_loss = log 2 = 0.69. `SampleGrid` writes a grid from the same z every epoch.
"""

gan.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, num_samples=64)])

"""
## Sampling and saving

`generate` uses the EMA generator when there is one. The saved file holds both
networks, the EMA copy and both optimizers' state.
"""

images = gan.generate(64, seed=0)
kerasgen.images.save_grid(images, os.path.join(args.out, "final_samples.png"))
gan.save(os.path.join(args.out, "dcgan.keras"))
