"""
Title: pix2pix on Fashion-MNIST: from edge maps to clothes
Author: kerasgen
Description: Paired image-to-image translation with a U-Net generator, a PatchGAN and an L1 term.

Run: python examples/pix2pix_edges2fashion.py --epochs 2
"""

"""
## Introduction

pix2pix (Isola et al., 2017, "Image-to-Image Translation with Conditional
Adversarial Networks") learns a mapping G from input images x to output
images y from aligned pairs (x, y). It is a conditional GAN: the
discriminator D sees the input together with an output, (x, y) or (x, G(x)),
and the generator is also pulled towards the real output in L1:

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * E||y - G(x)||_1,   lambda = 100

The L1 term gets the low frequencies right; the discriminator only has to
care about local texture, so it is a PatchGAN that scores every 70x70 patch
instead of the whole image. The generator is a U-Net: an encoder down to a
1x1 bottleneck and a decoder back up, with skip connections that carry the
input's fine structure (here: where the edges are) straight to the output.

Offline we build the paper's edges -> photo task from Fashion-MNIST: the input
is a Sobel edge map of each image (`kerasgen.datasets.edge_map`), the target
the image itself. Online, `kerasgen.datasets.load_pairs("facades/A",
"facades/B")` reads any two folders of aligned images the same way.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import kerasgen

parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--limit", type=int, default=10_000, help="training pairs (60,000 in all)")
parser.add_argument("--base-filters", type=int, default=64, help="network width (64 in the paper)")
parser.add_argument("--out", default="runs/example_pix2pix")
args = parser.parse_args()
keras.utils.set_random_seed(0)

"""
## Data

`fashion_mnist_translation("paired")` gives batches of (edge maps, images),
both float32 in [-1, 1]. The pairs are shuffled together, so image i stays
with its own edge map. The papers train with one pair per batch; on a CPU we
take 32.
"""

train = kerasgen.datasets.fashion_mnist_translation("paired", batch_size=32, limit=args.limit, seed=0)
test = kerasgen.datasets.fashion_mnist_translation("paired", split="test", batch_size=256, shuffle=False)
test_edges, test_images = (tensor.numpy() for tensor in next(iter(test)))

"""
## Model

`Pix2Pix` builds the U-Net (`kerasgen.networks.unet_generator`; a 28x28
image is reflection-padded to 32x32 so that five stride-2 layers reach a 1x1
bottleneck) and the 70x70 PatchGAN (`patchgan_discriminator`, which judges
the channel-wise concatenation of x and y). The only noise is dropout in the
decoder during training, as in the paper; `translate` is deterministic.
`compile()` uses the paper's Adam(2e-4, beta_1=0.5) for both networks.
"""

pix2pix = kerasgen.models.Pix2Pix(image_shape=(28, 28, 1), base_filters=args.base_filters)
pix2pix.compile()
print(f"receptive field of each patch score: {kerasgen.networks.patch_receptive_field(3)} pixels")
pix2pix.generator.summary()

"""
## Training

One `train_step` is the paper's iteration: one discriminator step on the
objective divided by 2, then one generator step against the updated
discriminator. `fit` reports `d_loss`, `g_loss` (the adversarial term) and
`l1_loss`, the mean absolute error to the real images; a discriminator that
cannot tell real from fake pairs has d_loss = log 2 = 0.69.
`SampleGrid` writes rows of edge maps, translations and real images.
"""

before = pix2pix.evaluate(test, verbose=0, return_dict=True)["l1_loss"]
pix2pix.fit(
    train,
    epochs=args.epochs,
    callbacks=[kerasgen.callbacks.SampleGrid(args.out, images=test_edges, targets=test_images)],
)
after = pix2pix.evaluate(test, verbose=0, return_dict=True)["l1_loss"]
print(f"test L1 to the real images: {before:.3f} before training, {after:.3f} after")

"""
## Translating and serving

`translate` maps new edge maps to images. The export holds `serving_default`
(= `a2b`): `images` in, `images` (float32) and `images_uint8` out.
"""

translated = keras.ops.convert_to_numpy(pix2pix.translate(test_edges[:8]))
grid = np.concatenate([test_edges[:8], translated, test_images[:8]])
kerasgen.images.save_grid(grid, os.path.join(args.out, "edges_translations_images.png"), columns=8)
pix2pix.save(os.path.join(args.out, "pix2pix.keras"))
print("exported", kerasgen.export.save_for_serving(pix2pix, os.path.join(args.out, "served")))
