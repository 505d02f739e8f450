"""What a model serves: named endpoints that `kerasgen.export` turns into SavedModel signatures.

A model declares its serving signatures in `serving_endpoints()`, an ordered
`{signature name: Endpoint}` built from its public methods; the export loops
over them, adds the shared input checks and writes one signature each. The
same `Endpoint` object under two names is one traced function with two
signature names (`serving_default` is usually an alias).

    def serving_endpoints(self):
        decode = Endpoint((latent_input(self.latent_dim),),
                          lambda z: image_outputs(self, self.decode(z)))
        return {"serving_default": decode, "decode": decode}

Inputs are batched and named (`z`, `noise`, `images`, `labels`); each kind
knows the check its values get in the graph and the placeholder row an empty
batch runs on.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import tensorflow as tf

__all__ = ["Endpoint", "ServingInput", "count_input", "float_outputs", "generator_endpoint", "image_outputs", "images_input", "labels_input", "latent_input",
           "noise_input"]

# Image values may overshoot `value_range` by this much (as in `fit`).
RANGE_TOLERANCE = 1e-3

#: What an input can hold (`ServingInput.kind`).
KINDS = ("latent", "noise", "images", "labels", "count")


@dataclasses.dataclass(frozen=True)
class ServingInput:
    """One named, batched input of a signature.

    Attributes:
        name: the signature's input name ("z", "noise", "images", "labels").
        kind: what it holds: "latent" (draws from N(0, I)), "noise" (uniform
            draws in [0, 1)), "images" (in the model's value range), "labels"
            or "count" (an int32 scalar, e.g. a number of sampling steps).
        shape: the shape after the batch axis (`()` for a scalar).
        dtype: "float32" or "int32".
        bounds: `(low, high)` the values must lie in (None: only finite);
            `closed_high` says whether `high` itself is allowed.
        description: what the values are, for the error message.
        placeholder: the value of the row an empty batch runs the networks on.
    """

    name: str
    kind: str
    shape: tuple
    dtype: str = "float32"
    bounds: tuple | None = None
    closed_high: bool = True
    description: str = ""
    placeholder: float = 0.0

    @property
    def batched(self):
        """Every input has a batch axis but a "count", which is one scalar per request."""
        return self.kind != "count"

    def spec(self):
        # A scalar's spec leaves the shape unknown: a static () shape would fold the graph's rank check
        # away, and a concrete signature (what TF Serving runs) does not check shapes itself.
        return tf.TensorSpec((None, *self.shape) if self.batched else None, self.dtype, name=self.name)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"ServingInput kind must be one of {KINDS}, got {self.kind!r}.")

    def shape_text(self):
        if not self.batched:
            return "()"
        return "(batch,)" if not self.shape else "(" + ", ".join(["batch", *map(str, self.shape)]) + ")"

    def value_check(self, tensor):
        """`(condition, message)`: the graph-side check of the values (False for NaN)."""
        if self.bounds is None:
            return tf.reduce_all(tf.math.is_finite(tensor)), self.description
        low, high = self.bounds
        above = tensor >= low
        below = tensor <= high if self.closed_high else tensor < high
        return tf.reduce_all(tf.logical_and(above, below)), self.description


def latent_input(shape, name="z"):
    """`z` `(batch, *shape)` (an int `shape` is a width): finite draws from N(0, I)."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    text = ServingInput(name, "latent", shape).shape_text()
    return ServingInput(name, "latent", shape, description=f"{name} must be float32 {text} with finite values "
                        "(draws from N(0, I)); got values in")


def count_input(name, low, high):
    """An int32 scalar `name` in `[low, high]` (e.g. a sampler's number of steps), one per request."""
    low, high = int(low), int(high)
    return ServingInput(name, "count", (), dtype="int32", bounds=(low, high),
                        description=f"{name} must be an int32 scalar in [{low}, {high}]; got")


def noise_input(shape, name="noise"):
    """`noise` `(batch, *shape)`: uniform draws in [0, 1) that drive a sampler."""
    shape = tuple(int(d) for d in shape)
    text = ServingInput(name, "noise", shape).shape_text()
    return ServingInput(name, "noise", shape, bounds=(0.0, 1.0), closed_high=False,
                        description=f"{name} must be float32 {text} uniform draws in [0, 1); got values in")


def images_input(shape, value_range, name="images"):
    """`images` `(batch, *shape)` in `value_range` (tolerance `RANGE_TOLERANCE`)."""
    shape = tuple(int(d) for d in shape)
    low, high = (float(v) for v in value_range)
    text = ServingInput(name, "images", shape).shape_text()
    return ServingInput(
        name, "images", shape, bounds=(low - RANGE_TOLERANCE, high + RANGE_TOLERANCE), placeholder=low,
        description=f"{name} must be float32 {text} with values in [{low:g}, {high:g}] "
        f"(tolerance {RANGE_TOLERANCE:g}), the model's value_range; got values in",
    )


def labels_input(num_classes):
    """`labels` `(batch,)`: int32 class ids in `[0, num_classes)`."""
    n = int(num_classes)
    return ServingInput("labels", "labels", (), dtype="int32", bounds=(0, n), closed_high=False,
                        description=f"labels must be int32 class ids of shape (batch,) in [0, {n}); got labels in")


@dataclasses.dataclass(frozen=True, eq=False)
class Endpoint:
    """A signature: named `inputs` and `function(**inputs) -> {output name: tensor}`.

    `function` receives checked, non-empty batches and is written with the
    model's public methods (`decode`, `translate`, `log_prob`, ...).
    """

    inputs: tuple
    function: Callable

    def __call__(self, **tensors):
        return self.function(**tensors)


def generator_endpoint(model, width=None):
    """`Endpoint(z[, labels]) -> {images, images_uint8}` computing `model(z)` (`model([z, labels])`
    for conditional models) in inference mode; `z` has `width` columns (default `model.latent_dim`)."""
    inputs = (latent_input(width or model.latent_dim),)
    if model.num_classes:
        inputs += (labels_input(model.num_classes),)

    def generate(z, labels=None):
        return image_outputs(model, model(z if labels is None else [z, labels], training=False))

    return Endpoint(inputs, generate)


def image_outputs(model, images):
    """{"images": float32 clipped to `model.value_range`, "images_uint8": uint8 in [0, 255]}.

    `images_uint8 = round(clip((images - low) / (high - low), 0, 1) * 255)`.
    """
    low, high = model.value_range
    images = tf.clip_by_value(tf.cast(images, tf.float32), low, high)
    unit = tf.clip_by_value((images - low) / (high - low), 0.0, 1.0)
    return {"images": images, "images_uint8": tf.cast(tf.round(unit * 255.0), tf.uint8)}


def float_outputs(**tensors):
    """Named outputs cast to float32 (codes, log-likelihoods)."""
    return {name: tf.cast(value, tf.float32) for name, value in tensors.items()}
