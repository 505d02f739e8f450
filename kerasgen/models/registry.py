"""The model registry: the CLI, the conformance suite and benchmarks iterate it.

A model joins the zoo by decorating its class with `@register(...)`; it then
inherits the conformance tests in `tests/test_conformance.py`.
"""

from __future__ import annotations

import dataclasses

REGISTRY: dict[str, "ModelSpec"] = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the tooling needs to know about one zoo model.

    Attributes:
        name: short CLI name (`kerasgen train NAME`).
        cls: the `keras.Model` subclass.
        family: "autoencoder", "vae", "gan", ... (decides export signatures).
        conditional: whether the model needs class labels.
        summary: one line for the README table and `kerasgen --help`.
        small_config: keyword arguments for a fast instance (tests, --quick).
        indexed: whether the model trains on `(images, indices)` (one latent
            code per training image: GLO, GLANN); load such data with
            `kerasgen.datasets.load(..., with_indices=True)`.
        pairing: for image-to-image translation, which batches of
            `(domain A images, domain B images)` the model trains on:
            "paired" (aligned, `kerasgen.datasets.load_pairs`) or "unpaired"
            (`load_unpaired`); None for models of one image domain.
    """

    name: str
    cls: type
    family: str
    conditional: bool
    summary: str
    small_config: dict
    indexed: bool = False
    pairing: str | None = None

    def create(self, **kwargs):
        """Builds the model with `kwargs` (latent_dim, image_shape, ...)."""
        return self.cls(**kwargs)


def register(name, *, family, summary, conditional=False, small_config=None, indexed=False, pairing=None):
    """Class decorator adding a model to `REGISTRY` under `name`."""

    if pairing not in (None, "paired", "unpaired"):
        raise ValueError(f"pairing must be None, 'paired' or 'unpaired', got {pairing!r}.")

    def decorate(cls):
        if name in REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        REGISTRY[name] = ModelSpec(
            name, cls, family, conditional, summary, dict(small_config or {}), indexed, pairing
        )
        return cls

    return decorate


def get(name):
    """Returns the `ModelSpec` registered as `name`, with a helpful error."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Registered models: {', '.join(sorted(REGISTRY))}."
        ) from None
