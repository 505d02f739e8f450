"""
Title: A normalizing flow (RealNVP) on Fashion-MNIST
Author: kerasgen
Description: Train RealNVP with `model.fit`, read exact bits/dim, invert it, sample at several temperatures, serve it.

Run: python examples/realnvp_fashion_mnist.py --epochs 1 --limit 4096
"""

"""
## Introduction

A normalizing flow (Dinh, Sohl-Dickstein & Bengio, 2017, "Density estimation
using Real NVP") is an invertible network f from images to latents of the same
size with a Jacobian whose determinant is cheap. The change of variables gives
the exact log-likelihood,

    log p(x) = log N(f(x); 0, I) + log |det df/dx|,

so training is plain maximum likelihood, and sampling is one pass of the
inverse, z ~ N(0, I) -> f^{-1}(z). RealNVP builds f from affine couplings:
half of the dimensions (a checkerboard or half of the channels) pass
unchanged and set a scale and a shift for the other half, y = x * exp(s) + t,
so log |det| is the sum of s and the inverse is (y - t) * exp(-s).

`kerasgen.models.RealNVP` is a `keras.Model`: `fit` and `evaluate` report
bits per dimension, `forward` and `inverse` are the bijection, `generate`
samples at a temperature.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (default: all 60,000)")
parser.add_argument("--filters", type=int, default=32)
parser.add_argument("--blocks", type=int, default=2, help="residual blocks per coupling (the paper's CIFAR-10 network: 8)")
parser.add_argument("--out", default="runs/example_realnvp")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

8-bit images in [-1, 1]. The model dequantizes them itself (level k becomes
k + u with u uniform in [0, 1)) and works on the logits of the result, so the
bits/dim it reports are those of the 8-bit data, comparable with PixelCNN's.
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=64, seed=0, limit=args.limit)
test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=256, limit=2048, shuffle=False)

"""
## The model

Two scales, as the paper's CIFAR-10 model: three checkerboard couplings at
28x28, a squeeze to 14x14x4, three channel-wise couplings, then half of the
dimensions leave as latents and the rest go through four more checkerboard
couplings at 14x14. Each coupling's s and t come from a small residual CNN.
"""

flow = kerasgen.models.RealNVP(image_shape=(28, 28, 1), filters=args.filters, num_blocks=args.blocks)
flow.compile()  # Adam at its defaults, the paper's
before = flow.evaluate(test, verbose=0, return_dict=True)["bits_per_dim"]
start = time.perf_counter()
flow.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, num_samples=64)])
after = flow.evaluate(test, verbose=0, return_dict=True)["bits_per_dim"]
print(f"test bits/dim: {before:.3f} at initialization, {after:.3f} after {time.perf_counter() - start:.0f} s")

"""
## The bijection

`forward` maps images to latents and the log-determinant; `inverse` maps back.
"""

images = next(iter(test))[:8]
z, log_det = flow.forward(images)
print("max |inverse(forward(x)) - x|:", float(np.abs(keras.ops.convert_to_numpy(flow.inverse(z)) - images).max()))

"""
## Sampling at a temperature

Lower temperatures (z ~ N(0, T^2 I)) give smoother, more typical images.
"""

for temperature in (1.0, 0.7, 0.5):
    samples = keras.ops.convert_to_numpy(flow.generate(64, temperature=temperature, seed=0))
    kerasgen.images.save_grid(samples, os.path.join(args.out, f"samples_t{temperature}.png"), flow.value_range)

"""
## Serving

The SavedModel decodes latents (`serving_default`), encodes images
(`encode`: `z`, `log_det`) and scores them (`log_prob`: nats and bits/dim).
"""

path = kerasgen.export.save_for_serving(flow, os.path.join(args.out, "served"))
print("Exported", path, "with signatures", kerasgen.export.signature_names(flow))
