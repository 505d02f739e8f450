"""Latent mappers: MLPs from one vector space to another (GLANN's IMLE mapper T: noise -> GLO codes)."""

from __future__ import annotations

import keras
from keras import layers


def mlp_mapper(input_dim, output_dim, hidden_units=(256, 256), name="mapper"):
    """MLP `(batch, input_dim) -> (batch, output_dim)`: Dense + ReLU hidden layers, linear output.

    GLANN (Hoshen, Li & Malik, 2019) maps noise e ~ N(0, I) to the latent space
    of a trained GLO model with such a network, fitted by IMLE. The output is
    unbounded (codes on the unit sphere are reached by regression, no
    normalization is built in).
    """
    inputs = keras.Input(shape=(int(input_dim),), name="noise")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = layers.Dense(int(units), activation="relu", name=f"hidden_{i}")(x)
    outputs = layers.Dense(int(output_dim), name="to_latent")(x)
    return keras.Model(inputs, outputs, name=name)
