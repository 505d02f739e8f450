"""The model zoo. Every class here is a `keras.Model` trained with `fit`.

Every module of this package is imported here, so a model module registers
itself (`@register(...)`) just by being in `kerasgen/models/`; each
registered class is then `kerasgen.models.<ClassName>`. `REGISTRY` maps CLI
names to `ModelSpec`s; the CLI, the conformance suite (`kerasgen.testing`)
and the benchmarks iterate it.
"""

import importlib
import pkgutil

from kerasgen.models.base import GenerativeModel, SeparateOptimizers, sampler, split_batch  # noqa: F401
from kerasgen.models.registry import REGISTRY, ModelSpec, get, register, spec_of, unregister  # noqa: F401

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    importlib.import_module(f"{__name__}.{_module.name}")

# The registered classes and their (unregistered) base classes, by class name.
_classes = {spec.cls.__name__: spec.cls for spec in REGISTRY.values()}
from kerasgen.models.translation import TranslationModel  # noqa: E402, F401  (the base of pix2pix and CycleGAN)

globals().update(_classes)

__all__ = sorted([*_classes, "GenerativeModel", "ModelSpec", "REGISTRY", "SeparateOptimizers", "TranslationModel",
                  "get", "register", "sampler", "spec_of", "split_batch", "unregister"])
