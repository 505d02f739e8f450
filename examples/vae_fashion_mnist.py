"""
Title: Variational autoencoder on Fashion-MNIST
Author: kerasgen
Description: Train a VAE with `model.fit`, sample from its prior, look at its 2-D latent space.

Run: python examples/vae_fashion_mnist.py --epochs 2
"""

"""
## Introduction

A variational autoencoder (Kingma & Welling, 2014) learns an encoder q(z|x) and
a decoder p(x|z) by maximizing the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)).

`kerasgen.models.VAE` is a `keras.Model` whose `train_step` is the paper's
Algorithm 1: encode, draw z with the reparameterization trick, decode, and take
a gradient step on the negative ELBO. The KL term is computed in closed form.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--out", default="runs/example_vae")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

`kerasgen.datasets.load` returns a shuffled, batched, prefetched `tf.data`
pipeline of float32 NHWC images in [-1, 1]. Offline it reads the IDX files of
the Debian package `dataset-fashion-mnist`; online it falls back to TFDS.
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0)
test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=512)
held_out, held_out_labels = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=2000)
held_out = kerasgen.datasets.to_value_range(held_out)

"""
## Model

Default networks are a small strided-conv encoder and a transposed-conv decoder.
The default likelihood is Bernoulli on intensities rescaled to [0, 1], as for
MNIST in the paper, so losses are in nats per image.
"""

vae = kerasgen.models.VAE(latent_dim=16, image_shape=(28, 28, 1))
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae.encoder.summary()

"""
## Training

`fit` reports the objective and each of its terms. `SampleGrid` writes a grid of
samples (same latent draws every epoch) and input/reconstruction pairs.
"""

vae.fit(
    train,
    epochs=args.epochs,
    validation_data=test,
    callbacks=[kerasgen.callbacks.SampleGrid(args.out, images=held_out, labels=held_out_labels)],
)

"""
## Evaluation and sampling

`evaluate` returns the negative ELBO on the test set, an upper bound on the
negative log-likelihood in nats.
"""

results = vae.evaluate(test, return_dict=True, verbose=0)
print(f"test negative ELBO: {results['neg_elbo']:.1f} nats/image")
images = vae.generate(64, seed=0)
z_mean, z_log_var = vae.encode(images)
kerasgen.images.save_grid(images, os.path.join(args.out, "final_samples.png"))

"""
## A 2-D latent space

With `latent_dim=2` the `SampleGrid` callback also draws the posterior means of
the held-out images coloured by class and the decoded latent manifold, as in
the paper's Figure 4.
"""

vae_2d = kerasgen.models.VAE(latent_dim=2)
vae_2d.compile()
vae_2d.fit(
    train,
    epochs=args.epochs,
    callbacks=[kerasgen.callbacks.SampleGrid(os.path.join(args.out, "latent_2d"), images=held_out, labels=held_out_labels)],
)

"""
## Saving

`save` writes weights, optimizer state and config; `load_model` gives back a
VAE whose `fit` continues where it stopped.
"""

path = os.path.join(args.out, "vae.keras")
vae.save(path)
restored = keras.models.load_model(path)
print("restored optimizer step:", int(restored.optimizer.iterations.numpy()))
