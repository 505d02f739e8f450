"""
Title: Denoising autoencoder on Fashion-MNIST
Author: kerasgen
Description: Learn to undo masking noise, the way Vincent et al. (2008) train robust features.

Run: python examples/denoising_autoencoder.py --epochs 2
"""

"""
## Introduction

A denoising autoencoder corrupts each input x into x~ and learns to reconstruct
the clean x from x~. With masking noise, a random 30% of the pixels is set to
black in every training step; the network must fill them in from context, which
forces it to learn the structure of the data instead of copying pixels.

`kerasgen.models.DenoisingAutoEncoder` corrupts inputs in `train_step` only:
`predict`, `evaluate` and `reconstruct` see clean images.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--out", default="runs/example_dae")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0)
test_images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=1000)
test_images = kerasgen.datasets.to_value_range(test_images)

"""
## Model

Masking noise with 30% corruption is the default; `noise="gaussian"` adds
Gaussian noise instead.
"""

dae = kerasgen.models.DenoisingAutoEncoder(latent_dim=32, noise="masking", corruption=0.3)
dae.compile()
dae.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, images=test_images)])

"""
## Denoising held-out images

We corrupt test images ourselves with the model's own corruption (a training
mode call) and compare the error of the noisy input and of its reconstruction.
"""

noisy = keras.ops.convert_to_numpy(dae.corrupt(test_images, training=True))
denoised = keras.ops.convert_to_numpy(dae.reconstruct(noisy))
print(f"MSE noisy input:  {np.mean((noisy - test_images) ** 2):.4f}")
print(f"MSE denoised:     {np.mean((denoised - test_images) ** 2):.4f}")
rows = np.concatenate([test_images[:8], noisy[:8], denoised[:8]])
kerasgen.images.save_grid(rows, os.path.join(args.out, "clean_noisy_denoised.png"), columns=8)
