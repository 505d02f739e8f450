"""The trained exports shipped in saved_models/ load with plain TensorFlow and generate images."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

SAVED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
EXPORTS = sorted(d for d in os.listdir(SAVED) if os.path.isdir(os.path.join(SAVED, d)))


def test_the_exports_cover_the_families_and_keep_the_repository_light():
    models = {json.load(open(os.path.join(SAVED, name, "1", "assets.extra", "kerasgen_export.json")))["family"]
              for name in EXPORTS}
    assert {"vae", "gan", "diffusion", "generator"} <= models
    size = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(SAVED) for f in files)
    assert size < 60 * 2**20  # issue 17: all exports together well under 60 MB


@pytest.mark.parametrize("name", EXPORTS)
def test_export_generates_varied_images(name):
    version = os.path.join(SAVED, name, "1")
    meta = json.load(open(os.path.join(version, "assets.extra", "kerasgen_export.json")))
    signatures = tf.saved_model.load(version).signatures
    rng = np.random.default_rng(0)
    feed = {}
    # Exports before the "inputs" entry all take a latent z.
    for input_name, kind in meta.get("inputs", {"serving_default": {"z": "latent"}})["serving_default"].items():
        assert kind in ("latent", "labels"), f"{name}: serving_default takes {kind} {input_name!r}; teach this test to draw it"
        if kind == "labels":  # a conditional generator: every class in turn
            feed[input_name] = tf.constant(np.arange(16, dtype="int32") % meta["num_classes"])
            continue
        shape = [meta["latent_dim"]] if meta["latent_dim"] else meta["image_shape"]  # z, or DDPM's x_T
        feed[input_name] = tf.constant(rng.normal(size=(16, *shape)).astype("float32"))
    outputs = signatures["serving_default"](**feed)
    images, images_uint8 = outputs["images"].numpy(), outputs["images_uint8"].numpy()
    assert images.shape == (16, 28, 28, 1) and images_uint8.dtype == np.uint8
    low, high = meta["value_range"]
    assert images.min() >= low and images.max() <= high
    assert images.std(axis=0).mean() > 0.05, "a trained generator's samples differ from each other"
    assert 40 < images_uint8.mean() < 160, "Fashion-MNIST-like brightness, not a blank or saturated image"
    if "encode" in signatures:
        codes = signatures["encode"](images=outputs["images"])  # a VAE's posterior (z_mean, ...), a WAE's z
        assert codes["z_mean" if "z_mean" in codes else "z"].shape == (16, meta["latent_dim"])
        reconstructed = signatures["reconstruct"](images=outputs["images"])["images"].numpy()
        assert np.abs(reconstructed - images).mean() < 0.2  # decoded means re-encode to themselves
