"""
Title: CycleGAN on Fashion-MNIST: sneakers <-> ankle boots without pairs
Author: kerasgen
Description: Unpaired translation with two generators, two LSGAN PatchGANs, cycle consistency and image pools.

Run: python examples/cyclegan_fashion_mnist.py --epochs 2
"""

"""
## Introduction

CycleGAN (Zhu et al., 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks") learns to translate between two
domains A and B from two unrelated sets of images. A generator G: A -> B
must fool a discriminator D_B, and an inverse F: B -> A must fool D_A. That
alone would let G map every input to the same convincing output, so the
translations must also survive a round trip:

    L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda (|F(G(a)) - a| + |G(F(b)) - b|) + 0.5 lambda L_identity

with lambda = 10 and least-squares GAN losses. The identity term |G(b) - b|
keeps G from changing images that already belong to B. Discriminators train
on a pool of the last 50 fakes rather than only the newest, which damps the
oscillation between the players.

Offline we take two Fashion-MNIST classes as the domains: sneakers (A) and
ankle boots (B). Online, TFDS has the paper's datasets:
`kerasgen.datasets.load_unpaired("cycle_gan/horse2zebra", "cycle_gan/horse2zebra",
split=("trainA", "trainB"), image_size=(128, 128))`.
"""

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--base-filters", type=int, default=32, help="network width (64 in the paper)")
parser.add_argument("--limit", type=int, default=None, help="images per domain (6,000 in all)")
parser.add_argument("--out", default="runs/example_cyclegan")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

`fashion_mnist_translation("unpaired")` shuffles the 6,000 sneakers and the
6,000 ankle boots independently and zips them into (a, b) batches: nothing
pairs a sneaker with a particular boot.
"""

batch_size = 16
train = kerasgen.datasets.fashion_mnist_translation("unpaired", batch_size=batch_size, limit=args.limit, seed=0)
test = kerasgen.datasets.fashion_mnist_translation("unpaired", split="test", batch_size=256, shuffle=False)
test_sneakers, test_boots = (tensor.numpy() for tensor in next(iter(test)))

"""
## Model

`CycleGAN` builds two ResNet generators (`kerasgen.networks.resnet_generator`:
c7s1-64, d128, d256, residual blocks, u128, u64, c7s1-1, instance norm;
28 -> 14 -> 7 pixels inside) and two PatchGANs with instance norm. We halve
the width for a CPU. The paper keeps the learning rate for half of training
and then decays it linearly to zero: `kerasgen.schedules.ConstantThenLinearDecay`.
"""

cyclegan = kerasgen.models.CycleGAN(image_shape=(28, 28, 1), base_filters=args.base_filters, num_blocks=6)
steps_per_epoch = math.ceil((args.limit or 6000) / batch_size)
half = max(1, args.epochs // 2) * steps_per_epoch


def adam():
    return keras.optimizers.Adam(kerasgen.schedules.ConstantThenLinearDecay(2e-4, half, half), beta_1=0.5)


cyclegan.compile(generator_optimizer=adam(), discriminator_optimizer=adam())

"""
## Training

Each step updates G and F together, then D_A and D_B on pooled fakes. `fit`
reports every term: `cycle_a_loss` = |F(G(a)) - a| and `cycle_b_loss` falling
mean the round trip works. A discriminator that cannot tell real from fake
scores 0.5 everywhere, giving `d_*` = 1/2 (0.5^2 + 0.5^2) = 0.25 and
`g_*` = (0.5 - 1)^2 = 0.25. `SampleGrid` writes rows of sneakers, their
translations to boots, and the round trip back.
"""

cyclegan.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, images=test_sneakers)])
print(cyclegan.evaluate(test, verbose=0, return_dict=True))

"""
## Both directions

`translate(images, direction="a2b" | "b2a")`. The export has `a2b`, `b2a`
and `serving_default` (= `a2b`) signatures.
"""

boots = keras.ops.convert_to_numpy(cyclegan.translate(test_sneakers[:8]))
sneakers = keras.ops.convert_to_numpy(cyclegan.translate(test_boots[:8], direction="b2a"))
grid = np.concatenate([test_sneakers[:8], boots, test_boots[:8], sneakers])
kerasgen.images.save_grid(grid, os.path.join(args.out, "both_directions.png"), columns=8)
cyclegan.save(os.path.join(args.out, "cyclegan.keras"))
print("exported", kerasgen.export.save_for_serving(cyclegan, os.path.join(args.out, "served")))
