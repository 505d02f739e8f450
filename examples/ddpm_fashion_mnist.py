"""
Title: Denoising diffusion (DDPM) on Fashion-MNIST, sampled with DDIM
Author: kerasgen
Description: Train a DDPM with `model.fit`, sample with 1000 ancestral steps or 50 deterministic DDIM steps, serve it.

Run: python examples/ddpm_fashion_mnist.py --epochs 1 --limit 4096
"""

"""
## Introduction

A diffusion model (Ho, Jain & Abbeel, 2020, "Denoising Diffusion Probabilistic
Models") destroys an image in T = 1000 small Gaussian steps,

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s <= t} (1 - beta_s),

and trains a network eps_theta(x_t, t) to tell which noise was added. The
training step is the paper's Algorithm 1 and is four lines: draw t and eps,
noise the batch in closed form, regress the noise. Sampling runs the chain
backwards from pure noise: Algorithm 2 takes all 1000 steps; DDIM (Song, Meng
& Ermon, 2021) takes a subsequence of them, and with eta = 0 it is a
deterministic map from x_T to an image, so 50 steps give nearly the same
quality 20 times faster, and a served model reproduces a sample exactly from
its noise.

`kerasgen.models.DDPM` is a `keras.Model`: `fit` reports the noise-prediction
loss, `generate` samples in one compiled `tf.while_loop`, and the weights used
for sampling are an exponential moving average (decay 0.9999, the paper's,
with a warm-up so the first thousand steps are not dominated by the initial
weights).
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
parser.add_argument("--base-filters", type=int, default=32)
parser.add_argument("--out", default="runs/example_ddpm")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

Images in [-1, 1], the scale the noise schedule is designed for.
"""

train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0, limit=args.limit)

"""
## The model

The default network is a small U-Net (`kerasgen.networks.diffusion_unet`):
residual blocks at 28, 14 and 7 pixels, each told the timestep through a
sinusoidal embedding. Any Keras model `[x_t, t] -> eps` can be passed as
`network=`.
"""

ddpm = kerasgen.models.DDPM(image_shape=(28, 28, 1), base_filters=args.base_filters, ema_decay=0.999)
ddpm.compile(optimizer=keras.optimizers.Adam(2e-4))
ddpm.fit(train, epochs=args.epochs, callbacks=[kerasgen.callbacks.SampleGrid(args.out, num_samples=64)])

"""
## Sampling: 1000 ancestral steps or 50 DDIM steps

Same model, two samplers. The ancestral one draws fresh noise at every step;
DDIM with eta = 0 draws none after x_T.
"""

for name, kwargs in (("ddim_50", {"steps": 50}), ("ddim_10", {"steps": 10}), ("ancestral_1000", {"ancestral": True})):
    start = time.perf_counter()
    images = keras.ops.convert_to_numpy(ddpm.generate(64, seed=0, **kwargs))
    print(f"{name}: 64 images in {time.perf_counter() - start:.1f} s")
    kerasgen.images.save_grid(images, os.path.join(args.out, f"{name}.png"), ddpm.value_range)

"""
## Serving

The SavedModel's `serving_default(noise)` is DDIM with eta = 0 over
`sampling_steps` (50) steps, and `sample(noise, steps)` lets a client choose
the number of steps: equal noise gives the same image as `generate`.
"""

path = kerasgen.export.save_for_serving(ddpm, os.path.join(args.out, "served"))
print("Exported", path, "with signatures", kerasgen.export.signature_names(ddpm))
noise = ddpm.sample_noise(4, seed=1)
import tensorflow as tf  # noqa: E402

served = tf.saved_model.load(path).signatures["serving_default"](noise=noise)["images"].numpy()
print("served == generate:", np.allclose(served, keras.ops.convert_to_numpy(ddpm.generate(4, seed=1)), atol=1e-5))
