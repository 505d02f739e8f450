"""What a model trains on, declared once in its registry entry.

The CLI, the conformance harness (`kerasgen.testing`) and the zoo benchmark
load data through a model's `TrainingData` instead of switching on its
family. Five kinds cover the zoo:

| kind               | a fit batch                        | loaded with                                  |
|---|---|---|
| `images`           | `images`                           | `datasets.load(...)`                         |
| `labelled_images`  | `(images, labels)`                 | `datasets.load(..., with_labels=True)`       |
| `indexed_images`   | `(images, indices)`                | `datasets.load(..., with_indices=True)`      |
| `paired`           | `(domain A images, domain B images)`, aligned | `datasets.load_pairs(a, b)`       |
| `unpaired`         | `(domain A images, domain B images)`, independent | `datasets.load_unpaired(a, b)` |

Translation kinds without `dataset_b` use Fashion-MNIST's own task
(`datasets.fashion_mnist_translation`: edge maps -> images, or two classes).
"""

from __future__ import annotations

import dataclasses

from kerasgen import datasets

KINDS = ("images", "labelled_images", "indexed_images", "paired", "unpaired")


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """The structure of a model's training batches and how to load them.

    Attributes:
        kind: one of `KINDS`.
    """

    kind: str = "images"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"TrainingData kind must be one of {KINDS}, got {self.kind!r}.")

    @property
    def conditional(self):
        """Batches carry class labels."""
        return self.kind == "labelled_images"

    @property
    def indexed(self):
        """Batches carry the positions of their images (one latent code per training image)."""
        return self.kind == "indexed_images"

    @property
    def pairing(self):
        """"paired" or "unpaired" for two image domains, else None."""
        return self.kind if self.kind in ("paired", "unpaired") else None

    # ------------------------------------------------------------- loading
    def load(self, dataset="fashion_mnist", *, split="train", batch_size=128, value_range=(-1.0, 1.0), seed=0,
             limit=None, data_dir=None, dataset_b=None, classes=None, shuffle=None, drop_remainder=False):
        """Batches of this kind from `dataset` (and, for two domains, `dataset_b`).

        Raises ValueError when a translation kind gets a `dataset` other than
        Fashion-MNIST without `dataset_b`.
        """
        common = dict(split=split, batch_size=batch_size, value_range=value_range, seed=seed, limit=limit,
                      data_dir=data_dir, shuffle=shuffle, drop_remainder=drop_remainder)
        if self.pairing is None:
            return datasets.load(dataset, with_labels=self.conditional, with_indices=self.indexed, **common)
        if dataset_b is None:
            if str(dataset).lower().replace("-", "_") != "fashion_mnist":
                raise ValueError(f"A model trained on {self.kind} image domains learns a mapping between two: "
                                 f"pass --dataset-b (dataset_b= in Python: domain B) beside {dataset} (domain A).")
            return datasets.fashion_mnist_translation(
                self.pairing, classes=classes or datasets.FASHION_MNIST_DOMAINS, **common)
        load = datasets.load_pairs if self.pairing == "paired" else datasets.load_unpaired
        return load(dataset, dataset_b, **common)

    def shape_arguments(self, dataset="fashion_mnist", *, data_dir=None, limit=None, dataset_b=None, classes=None):
        """Constructor arguments that follow from the data: `image_shape`, and `num_images`
        (indexed kinds: one code per training image) or `source_shape` (domain A's, for two domains)."""
        if self.pairing:
            first = self.load(dataset, batch_size=1, limit=limit, data_dir=data_dir, dataset_b=dataset_b,
                              classes=classes, shuffle=False)
            source, target = next(iter(first))
            return {"image_shape": tuple(target.shape[1:]), "source_shape": tuple(source.shape[1:])}
        images = datasets.load_arrays(dataset, split="train", data_dir=data_dir,
                                      limit=limit if self.indexed else 1)[0]
        arguments = {"image_shape": tuple(images.shape[1:])}
        if self.indexed:
            arguments["num_images"] = len(images)
        return arguments

    def examples(self, dataset="fashion_mnist", *, count=2048, value_range=(-1.0, 1.0), data_dir=None,
                 dataset_b=None, classes=None):
        """Fixed held-out examples (NumPy) of the test split, for previews and probes.

        `{"images": (N, H, W, C), "labels": (N,) int32 or None}` for one domain;
        `{"images": domain A, "targets": domain B}` for two (aligned for `paired`).
        """
        if self.pairing:
            test = self.load(dataset, split="test", batch_size=count, value_range=value_range, data_dir=data_dir,
                             dataset_b=dataset_b, classes=classes, shuffle=False)
            a_images, b_images = next(iter(test))
            return {"images": a_images.numpy(), "targets": b_images.numpy()}
        images, labels = datasets.load_arrays(dataset, split="test", data_dir=data_dir, limit=count)
        return {"images": datasets.to_value_range(images, value_range),
                "labels": None if labels is None else labels.astype("int32")}


IMAGES = TrainingData("images")
LABELLED_IMAGES = TrainingData("labelled_images")
INDEXED_IMAGES = TrainingData("indexed_images")
PAIRED = TrainingData("paired")
UNPAIRED = TrainingData("unpaired")
