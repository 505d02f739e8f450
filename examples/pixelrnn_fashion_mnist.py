"""
Title: PixelRNN on Fashion-MNIST
Author: kerasgen
Description: Train a Row LSTM or Diagonal BiLSTM PixelRNN with `model.fit`, measure test bits/dim, sample with cached LSTM states.

Run: python examples/pixelrnn_fashion_mnist.py --epochs 1 --limit 6000
"""

"""
## Introduction

PixelRNN (van den Oord et al., 2016, "Pixel Recurrent Neural Networks") is the
PixelCNN's sibling from the same paper: the same exact likelihood,

    p(x) = prod_i p(x_i | x_1, ..., x_{i-1}),

a 256-way softmax per sub-pixel in raster order, but computed by
two-dimensional LSTM layers whose memory reaches far beyond a stack of 3x3
kernels:

- the **Row LSTM** runs down the image a row at a time; each row's gates are a
  masked 1x3 convolution of the row's inputs plus a 1x3 convolution of the row
  above's states, so a pixel sees a triangle above it;
- the **Diagonal BiLSTM** skews the image so that its diagonals become
  columns and runs two LSTMs along them, one from the left and one from the
  right (shifted down a row so it only reports rows above). Together they see
  every earlier pixel: no blind spot.

Both start with the PixelCNN's 7x7 mask-A convolution and use residual
connections between LSTM layers. `kerasgen.models.PixelRNN` is a
`keras.Model`; `fit` reports nats per image and bits/dim.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--variant", choices=["diagonal_bilstm", "row_lstm"], default="diagonal_bilstm")
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--limit", type=int, default=None, help="use only the first N training and test images (default: all)")
parser.add_argument("--samples", type=int, default=16)
parser.add_argument("--out", default="runs/example_pixelrnn")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

Float32 images in [-1, 1], as for every kerasgen model; the model maps them
back to their 256 grey levels exactly (Fashion-MNIST is 8-bit).
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=64, seed=0, limit=args.limit)
test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, limit=args.limit)

"""
## Model

The paper's MNIST setting: 7 LSTM layers of h = 16 units (`filters` = 2h = 32
feature maps between layers). The recurrences are sequential over rows (Row
LSTM, 28 steps per layer) or diagonals (Diagonal BiLSTM, 55 steps, both
directions at once), so a step costs more than a PixelCNN's of the same size.
"""

model = kerasgen.models.PixelRNN(image_shape=(28, 28, 1), variant=args.variant)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.network.summary()

"""
## Training and evaluation
"""

model.fit(train, epochs=args.epochs)
results = model.evaluate(test, return_dict=True, verbose=0)
print(f"test NLL: {results['loss']:.1f} nats/image = {results['bits_per_dim']:.3f} bits/dim")
images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=4)
print("log p(x) of four test images (nats):", np.round(keras.ops.convert_to_numpy(
    model.log_prob(kerasgen.datasets.to_value_range(images))), 1))

"""
## Sampling

An LSTM's state at a pixel depends only on its input there and on states it
has computed before (the row above; the pixel to the left). `generate` keeps
those states and computes, for each new sub-pixel, every layer at that pixel
only; the right-to-left LSTM of the Diagonal BiLSTM runs along each row once
the row is complete. `generate(..., cached=False)` runs the whole network on
the whole canvas for every sub-pixel instead: the same images, far slower.
"""

start = time.perf_counter()
samples = model.generate(args.samples, seed=0)
print(f"sampled {args.samples} images in {time.perf_counter() - start:.1f} s (including tracing)")
print("wrote", kerasgen.images.save_grid(samples, os.path.join(args.out, "samples.png")))

"""
## Saving

`save` keeps the network, the variant, the optimizer state and the seed
generator: the reloaded model resumes training and draws the same samples.
"""

model_path = os.path.join(args.out, f"pixelrnn_{args.variant}.keras")
model.save(model_path)
restored = keras.models.load_model(model_path)
print("restored optimizer step:", int(restored.optimizer.iterations.numpy()))
