"""
Title: PixelCNN on Fashion-MNIST
Author: kerasgen
Description: Train an autoregressive PixelCNN with `model.fit`, measure test bits/dim, sample pixel by pixel.

Run: python examples/pixelcnn_fashion_mnist.py --epochs 1
"""

"""
## Introduction

A PixelCNN (van den Oord et al., 2016, "Pixel Recurrent Neural Networks")
models an image as a product of conditionals, one per sub-pixel in raster
order:

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

each a 256-way softmax over the intensity levels. Masked convolutions make
the network causal: the prediction for pixel (i, j) only sees the pixels above
it and to its left, so one forward pass gives every conditional at once and
training maximizes the exact log-likelihood. The usual figure of merit is the
negative log-likelihood in **bits per dimension** (bits per sub-pixel); a
uniform guess over 256 levels costs 8 bits/dim.

`kerasgen.models.PixelCNN` is a `keras.Model`: `fit` reports the loss (nats
per image) and bits/dim, `log_prob` gives exact log-likelihoods, and
`generate` samples one sub-pixel at a time inside a single compiled
`tf.while_loop`.
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
parser.add_argument("--limit", type=int, default=None, help="use only the first N training and test images (default: all)")
parser.add_argument("--gated", action="store_true", help="Gated PixelCNN (no blind spot; slower)")
parser.add_argument("--samples", type=int, default=16)
parser.add_argument("--out", default="runs/example_pixelcnn")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

`kerasgen.datasets.load` gives float32 images in [-1, 1], as for every kerasgen
model. The PixelCNN maps them back to their 256 integer grey levels
(`model.to_levels`), exactly, since Fashion-MNIST is 8-bit.
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0, limit=args.limit)
test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, limit=args.limit)

"""
## Model

The default network is the paper's PixelCNN: a 7x7 mask-A convolution (a
pixel does not see itself), 12 residual blocks of 1x1 / 3x3 / 1x1 mask-B
convolutions (64 feature maps), and 1x1 output layers giving 256 logits per
sub-pixel.
`gated=True` builds the Gated PixelCNN of van den Oord et al. (2016b), whose
separate vertical and horizontal stacks remove the "blind spot" of stacked
masked kernels.
"""

model = kerasgen.models.PixelCNN(image_shape=(28, 28, 1), gated=args.gated)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.network.summary()

"""
## Training

Every sub-pixel's conditional is computed in one pass, so training is as fast
as for any convolutional network of this size.
"""

model.fit(train, epochs=args.epochs)

"""
## Evaluation

`evaluate` reports the mean negative log-likelihood of the test images in nats
per image and in bits per dimension. `log_prob` gives it image by image.
"""

results = model.evaluate(test, return_dict=True, verbose=0)
print(f"test NLL: {results['loss']:.1f} nats/image = {results['bits_per_dim']:.3f} bits/dim")
images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=4)
print("log p(x) of four test images (nats):", np.round(keras.ops.convert_to_numpy(
    model.log_prob(kerasgen.datasets.to_value_range(images))), 1))

"""
## Sampling

Sampling is sequential: 784 network evaluations for a 28x28 image, each
filling in one pixel. `generate` draws one uniform number per sub-pixel and
picks each level by inverse CDF, inside one `tf.function`; `sample_from_uniform`
exposes that map, so equal noise gives equal images (the SavedModel's `sample`
signature calls it).
"""

start = time.perf_counter()
samples = model.generate(args.samples, seed=0)
print(f"sampled {args.samples} images in {time.perf_counter() - start:.1f} s (including tracing)")
path = kerasgen.images.save_grid(samples, os.path.join(args.out, "samples.png"))
print("wrote", path)

"""
## Saving

`save` writes the network, optimizer state and config; the reloaded model gives
the same likelihoods and, for the same seed, the same samples.
"""

model_path = os.path.join(args.out, "pixelcnn.keras")
model.save(model_path)
restored = keras.models.load_model(model_path)
print("restored optimizer step:", int(restored.optimizer.iterations.numpy()))
