"""The model registry: the CLI, the conformance harness and the benchmarks iterate it.

A model joins the zoo by decorating its class with `@register(...)`; it then
trains from the CLI (`kerasgen train NAME`), previews, exports and inherits
the conformance checks of `kerasgen.testing`, run over the registry by
`tests/test_conformance.py`. Nothing else needs to know about it: what it
trains on is its entry's `data`, what it serves and previews its own methods
(`serving_endpoints`, `previews`).
"""

from __future__ import annotations

import dataclasses

from kerasgen.training_data import TrainingData

REGISTRY: dict[str, "ModelSpec"] = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the tooling needs to know about one zoo model.

    Attributes:
        name: short CLI name (`kerasgen train NAME`).
        cls: the `keras.Model` subclass.
        family: "autoencoder", "vae", "gan", ... (a label: written into
            exports' metadata, never switched on).
        summary: what the model learns, one line (the README table's last
            column and `kerasgen train --help`).
        paper: the paper it follows, "Authors, year" (the README table).
        data: the `TrainingData` its batches are made of.
        small_config: keyword arguments for a fast instance (tests, --quick).
    """

    name: str
    cls: type
    family: str
    summary: str
    paper: str
    data: TrainingData
    small_config: dict

    @property
    def conditional(self):
        """Whether the model trains on class labels."""
        return self.data.conditional

    @property
    def indexed(self):
        """Whether it trains on `(images, indices)` (one latent code per training image: GLO, GLANN)."""
        return self.data.indexed

    @property
    def pairing(self):
        """"paired" / "unpaired" for image-to-image translation, else None."""
        return self.data.pairing

    def create(self, **kwargs):
        """Builds the model with `kwargs` (latent_dim, image_shape, ...)."""
        return self.cls(**kwargs)


def register(name, *, family, summary, paper, data="images", small_config=None):
    """Class decorator adding a model to `REGISTRY` under `name`.

    `data` is a `TrainingData` or its kind ("images", "labelled_images",
    "indexed_images", "paired", "unpaired").
    """
    data = data if isinstance(data, TrainingData) else TrainingData(data)

    def decorate(cls):
        if name in REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        REGISTRY[name] = ModelSpec(name, cls, family, summary, paper, data, dict(small_config or {}))
        return cls

    return decorate


def unregister(name):
    """Removes `name` from the registry (models defined for a test or a notebook)."""
    REGISTRY.pop(name, None)


def get(name):
    """Returns the `ModelSpec` registered as `name`, with a helpful error."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Registered models: {', '.join(sorted(REGISTRY))}."
        ) from None


def spec_of(model):
    """The `ModelSpec` of `model`'s class, else of its nearest registered base class; None if none."""
    for cls in type(model).__mro__:
        for spec in REGISTRY.values():
            if cls is spec.cls:
                return spec
    return None
