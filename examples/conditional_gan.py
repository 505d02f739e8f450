"""
Title: Conditional GAN on Fashion-MNIST
Author: kerasgen
Description: Feed the class label to both networks and ask for the class you want.

Run: python examples/conditional_gan.py --epochs 2
"""

"""
## Introduction

Mirza & Osindero (2014) condition a GAN on side information y by feeding it to
both players: G(z, y) and D(x, y). With class labels, the generator learns
p(x | y) and can be asked for a class. kerasgen's conditional networks append
a one-hot label to z in the generator and one-hot label maps to the image
channels in the discriminator.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--out", default="runs/example_cgan")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data: images with their labels
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=64, with_labels=True, seed=0, drop_remainder=True)

"""
## Model and training
"""

cgan = kerasgen.models.ConditionalGAN(latent_dim=100, num_classes=10)
cgan.compile()
cgan.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, num_samples=100)])

"""
## One row per class

Labels 0..9 in every row: each column is one class, each row one z.
"""

labels = np.tile(np.arange(10), 10)
images = cgan.generate(100, labels=labels, seed=0)
kerasgen.images.save_grid(images, os.path.join(args.out, "classes.png"), columns=10)
for index, name in enumerate(kerasgen.datasets.FASHION_MNIST_CLASSES):
    print(f"column {index}: {name}")
