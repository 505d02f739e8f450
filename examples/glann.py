"""
Title: GLANN on Fashion-MNIST: GLO codes, then an IMLE mapper
Author: kerasgen
Description: Learn one latent code per image with GLO, then sample new codes with an IMLE-trained mapper.

Run: python examples/glann.py --epochs 2
"""

"""
## Introduction

GLANN (Hoshen, Li & Malik, 2019, "Non-Adversarial Image Synthesis with
Generative Latent Nearest Neighbors") makes images without a discriminator, in
two stages:

1. **GLO** (Bojanowski et al., 2018) gives every training image x_i a latent
   code z_i on the unit sphere and trains a generator G and the codes jointly
   to minimize a Laplacian-pyramid L1 loss between G(z_i) and x_i. There is no
   encoder: the codes are free parameters, one row of a table per image.
2. **IMLE** (Li & Malik, 2018) then trains a mapper T from noise e ~ N(0, I)
   to the codes: every code pulls the nearest of many mapped noise vectors
   towards itself, so every code (every image) gets noise that maps near it.

Samples are G(T(e)). GLO alone samples from a Gaussian fitted to its codes;
the mapper fits the codes' real, non-Gaussian distribution better.

`kerasgen.models.GLANN` is a `keras.Model` whose `stage` attribute says what a
`fit` step trains: "glo", "mapper", or "both" at once. We follow the paper and
train the stages one after the other.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2, help="GLO epochs")
parser.add_argument("--mapper-epochs", type=int, default=None, help="mapper epochs (default: --epochs)")
parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
parser.add_argument("--latent-dim", type=int, default=32)
parser.add_argument("--out", default="runs/example_glann")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

GLO looks up each image's code by the image's index, so the pipeline yields
`(images, indices)` batches: `with_indices=True`. Indices are positions in the
selected images, fixed however the batches are shuffled.
"""

train = kerasgen.datasets.load(
    "fashion_mnist", split="train", batch_size=128, seed=0, limit=args.limit, with_indices=True
)
images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train", limit=args.limit)
images = kerasgen.datasets.to_value_range(images)  # index order: row i has index i
print(f"{len(images)} training images, one code each")

"""
## Model

`num_images` sizes the code table. The default generator is the DCGAN generator
of the GLO paper; the mapper is an MLP. Following the paper, the codes start
from the images' top principal components (projected onto the sphere) rather
than from random vectors.
"""

glann = kerasgen.models.GLANN(latent_dim=args.latent_dim, image_shape=(28, 28, 1), num_images=len(images))
glann.initialize_codes_with_pca(images)
glann.compile()  # Adam(1e-3) for generator and mapper, the GLO paper's SGD(10) for the codes

"""
## Stage 1: GLO

With `stage="glo"` a step updates the generator and the batch's codes, then
projects the codes back onto the unit sphere. The reported `loss` is the
Laplacian-pyramid L1 reconstruction loss; `mapper_loss` is measured but the
mapper is not trained yet.
"""

glann.stage = "glo"
glann.fit(train, epochs=args.epochs)

"""
## Stage 2: the IMLE mapper

Changing `stage` makes Keras retrace the training step. Now only the mapper
learns: for each code of a batch, ten mapped noise vectors per code are
searched for the nearest one, which is pulled towards the code.
"""

glann.stage = "mapper"
glann.fit(
    train,
    epochs=args.mapper_epochs or args.epochs,
    callbacks=[kerasgen.callbacks.SampleGrid(os.path.join(args.out, "mapper"))],
)

"""
## Samples, reconstructions and interpolations

- GLANN samples G(T(e)), e ~ N(0, I);
- for comparison, GLO's own sampler: G(mu + L z) with the Gaussian
  N(mu, L L^T) fitted to the codes at the end of `fit`;
- reconstructions G(z_i) of training images (top: the images);
- a walk along the line between two images' codes.
"""

samples = keras.ops.convert_to_numpy(glann.generate(64, seed=0))
kerasgen.images.save_grid(samples, os.path.join(args.out, "glann_samples.png"))

z = keras.random.normal((64, glann.latent_dim), seed=0)
gaussian_codes = glann.code_mean + keras.ops.matmul(z, keras.ops.transpose(glann.code_cholesky))
gaussian_samples = keras.ops.convert_to_numpy(glann.generator(gaussian_codes, training=False))
kerasgen.images.save_grid(gaussian_samples, os.path.join(args.out, "glo_gaussian_samples.png"))

reconstructions = keras.ops.convert_to_numpy(glann.reconstruct_training_images(np.arange(16)))
kerasgen.images.save_grid(
    np.concatenate([images[:16], reconstructions]), os.path.join(args.out, "reconstructions.png"), columns=16
)
walk = keras.ops.convert_to_numpy(glann.interpolate(0, 1, steps=10))
kerasgen.images.save_grid(walk, os.path.join(args.out, "interpolation.png"), columns=10)
print(f"Wrote sample grids to {args.out}")

"""
## Saving

The `.keras` file holds the code table, both networks, the fitted Gaussian,
the three optimizers' state and the stage, so training resumes where it
stopped.
"""

path = os.path.join(args.out, "glann.keras")
glann.save(path)
restored = keras.models.load_model(path)
print("restored stage:", restored.stage, "| mapper optimizer step:", int(restored.mapper_optimizer.iterations.numpy()))
