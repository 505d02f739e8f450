"""A model defined outside kerasgen joins the zoo with no edit to kerasgen.

`LinearAutoEncoder` below lives in this test file only. Registering it is all
it takes for `kerasgen train/sample/export` to run it, for `SampleGrid` to
preview it, for `kerasgen.export` to serve it, and for the conformance harness
(`kerasgen.testing.run_conformance`) to pass: the model declares what it
trains on (its registry entry's `data`), what it serves (`serving_endpoints`)
and what it previews (`previews`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from kerasgen import cli, previews, serving, testing
from kerasgen.training_data import IMAGES
from kerasgen.models import GenerativeModel, register, sampler, split_batch, unregister

NAME = "linear_ae_for_tests"


@keras.saving.register_keras_serializable(package="kerasgen_tests")
class LinearAutoEncoder(GenerativeModel):
    """x -> z = W_e x -> x_hat = tanh(W_d z), MSE; samples decode z ~ N(0, I)."""

    loss_names = ("loss",)

    def __init__(self, latent_dim=4, image_shape=(28, 28, 1), encoder=None, decoder=None, **kwargs):
        super().__init__(latent_dim, image_shape, **kwargs)
        size = int(np.prod(self.image_shape))
        self.encoder = encoder or keras.Sequential(
            [keras.Input(self.image_shape), keras.layers.Flatten(), keras.layers.Dense(self.latent_dim)], name="encoder")
        self.decoder = decoder or keras.Sequential(
            [keras.Input((self.latent_dim,)), keras.layers.Dense(size, activation="tanh"),
             keras.layers.Reshape(self.image_shape)], name="decoder")
        self.built = True

    def encode(self, images):
        return ops.cast(self.encoder(images, training=False), "float32")

    def decode(self, z):
        return ops.cast(self.decoder(z, training=False), "float32")

    def call(self, images, training=False):
        return ops.cast(self.decoder(self.encoder(images, training=training), training=training), "float32")

    def train_step(self, data):
        images, _ = split_batch(data)
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(self(images, training=True) - images))
        self.apply_gradients(tape, loss, self.trainable_variables)
        return self.record(loss=loss)

    def test_step(self, data):
        images, _ = split_batch(data)
        return self.record(loss=ops.mean(ops.square(self(images) - images)))

    @sampler
    def generate(self, num_samples, seed=None):
        return self.decode(self.sample_latents(num_samples, seed))

    def serving_endpoints(self):
        images = serving.images_input(self.image_shape, self.value_range)
        decode = serving.Endpoint((serving.latent_input(self.latent_dim),),
                                  lambda z: serving.image_outputs(self, self.decode(z)))
        return {"serving_default": decode, "decode": decode,
                "reconstruct": serving.Endpoint((images,), lambda images: serving.image_outputs(self, self(images)))}

    def previews(self, images=None, labels=None, targets=None, num_samples=64, seed=0, **options):
        return {**previews.samples(self, num_samples, seed), **previews.reconstructions(self, images)}


@pytest.fixture
def registered():
    register(NAME, family="autoencoder", summary="a linear autoencoder defined in a test", paper="Nobody, 2026",
             small_config={"latent_dim": 4})(LinearAutoEncoder)
    yield NAME
    unregister(NAME)


def test_it_trains_previews_samples_and_exports_from_the_cli(registered, tmp_path, capsys):
    run = tmp_path / "run"
    cli.main(["train", registered, "--epochs", "2", "--limit", "512", "--batch-size", "64", "--out", str(run),
              "--precision", "float32"])
    assert (run / "model.keras").is_file() and (run / "model.state.json").is_file()
    assert sorted(os.listdir(run / "samples")) == [
        f"{kind}_e00{epoch}.png" for kind in ("reconstructions", "samples") for epoch in (1, 2)]
    history = json.loads((run / "run.json").read_text())["history"]["loss"]
    assert history[1] < history[0], history

    cli.main(["sample", str(run), "--num", "8", "--out", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").is_file()
    cli.main(["export", str(run), "--out", str(tmp_path / "served")])
    assert "serving_default, decode, reconstruct" in capsys.readouterr().out
    loaded = tf.saved_model.load(str(tmp_path / "served" / "1"))
    images = loaded.signatures["serving_default"](z=tf.zeros((3, 4)))["images_uint8"]
    assert images.shape == (3, 28, 28, 1) and images.dtype == tf.uint8


def test_it_passes_the_conformance_harness(registered, tmp_path, mirrored_strategy):
    testing.run_conformance(registered, directory=tmp_path, strategy=mirrored_strategy)


def test_the_harness_catches_a_model_whose_served_outputs_differ_from_its_own(tmp_path):
    class Drifting(LinearAutoEncoder):
        """Its SavedModel decodes z + 1 where the live model decodes z."""

        def decode(self, z):
            return super().decode(z if tf.executing_eagerly() else z + 1.0)

    model = Drifting(latent_dim=4)
    model.compile()
    with pytest.raises(AssertionError, match="serving_default.images"):
        testing.check_serving(model, IMAGES.examples(count=5), tmp_path)


def test_the_harness_catches_a_model_whose_outputs_ignore_their_input():
    class Constant(LinearAutoEncoder):
        """Decodes every code to the image of z = 0."""

        def decode(self, z):
            return super().decode(ops.zeros_like(z))

    model = Constant(latent_dim=4)
    model.compile()
    with pytest.raises(AssertionError, match="serving_default.images gives the same image for every input"):
        testing.check_outputs(model, IMAGES.examples(count=5))
