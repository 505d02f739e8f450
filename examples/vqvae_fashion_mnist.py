"""
Title: VQ-VAE with a PixelCNN prior on Fashion-MNIST
Author: kerasgen
Description: Train a VQ-VAE with `model.fit`, watch its codebook usage, fit the PixelCNN prior over its codes, sample, serve.

Run: python examples/vqvae_fashion_mnist.py --epochs 1 --limit 4096
"""

"""
## Introduction

A VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, 2017, "Neural Discrete
Representation Learning") has a discrete latent: the encoder turns a 28x28
image into a 7x7 grid of vectors, and each vector is replaced by its nearest
neighbour in a learned codebook of K codes. The decoder sees only the codes,
so an image is described by 49 integers in [0, K). Nearest-neighbour lookup
has no gradient; the decoder's gradient is copied "straight through" to the
encoder. The loss (eq. 3) adds two terms that the copy leaves out: the
codebook loss pulls the chosen codes toward the encoder outputs, and the
commitment loss (weight beta = 0.25) keeps the encoder outputs near their codes.

A VQ-VAE is not a sampler by itself: a prior over code grids is. The paper
fits an autoregressive PixelCNN to the codes of the training set; drawing a
grid from it, code by code, and decoding it gives a new image.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--prior-epochs", type=int, default=2)
parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (default: all 60,000)")
parser.add_argument("--num-codes", type=int, default=128)
parser.add_argument("--filters", type=int, default=64, help="hidden units of encoder and decoder (the paper's: 256)")
parser.add_argument("--out", default="runs/example_vqvae")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

Images in [-1, 1]; the reconstruction loss is their mean squared error.
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0, limit=args.limit)
test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, limit=2000, shuffle=False)

"""
## The model

The paper's networks (two stride-2 4x4 convolutions, two residual blocks;
mirrored in the decoder) at `--filters` hidden units, codes of D = 64, and a
PixelCNN prior over the 7x7 code grid with one softmax level per code. Each
`fit` step takes a step of eq. 3 and, with a second optimizer, a step of the
prior on the batch's codes.
"""

vqvae = kerasgen.models.VQVAE(image_shape=(28, 28, 1), num_codes=args.num_codes, filters=args.filters)
vqvae.compile()  # Adam(2e-4) for eq. 3 (the paper's), Adam(1e-3) for the prior
start = time.perf_counter()
vqvae.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, num_samples=64)])
scores = vqvae.evaluate(test, verbose=0, return_dict=True)
print(f"after {time.perf_counter() - start:.0f} s: test reconstruction MSE {scores['reconstruction_loss']:.4f}, "
      f"perplexity {scores['perplexity']:.1f} of {args.num_codes} codes, "
      f"{100 * scores['codebook_usage']:.0f}% of the codebook used per batch")

"""
## Codes

Each image is 49 code indices; decoding them gives the reconstruction.
"""

images = next(iter(test))[:8]
codes = vqvae.encode(images)
print("codes of the first test image:\n", keras.ops.convert_to_numpy(codes[0]))
reconstructions = keras.ops.convert_to_numpy(vqvae.decode(codes))
kerasgen.images.save_grid(np.concatenate([images, reconstructions]), os.path.join(args.out, "reconstructions.png"))

"""
## The prior, the paper's way

With the VQ-VAE frozen, `fit_prior` fits the PixelCNN to the codes of the
training set (its loss is in nats per code grid, `bits_per_dim` in bits per code).
"""

history = vqvae.fit_prior(train, epochs=args.prior_epochs)
print(f"prior: {history.history['bits_per_dim'][-1]:.3f} bits per code "
      f"(a uniform prior: {np.log2(args.num_codes):.2f})")

"""
## Sampling

49 network calls draw a code grid, one code at a time; the decoder turns it
into an image.
"""

samples = keras.ops.convert_to_numpy(vqvae.generate(64, seed=0))
kerasgen.images.save_grid(samples, os.path.join(args.out, "samples.png"), vqvae.value_range)

"""
## Serving

`serving_default` (also `sample`) maps uniform noise on the code grid to
images, equal noise to equal images; `reconstruct` maps images through their
codes.
"""

path = kerasgen.export.save_for_serving(vqvae, os.path.join(args.out, "served"))
print("Exported", path, "with signatures", kerasgen.export.signature_names(vqvae))
