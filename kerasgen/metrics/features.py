"""Feature spaces for FID / KID / precision-recall / Inception Score.

Every score is only meaningful next to the name of the feature space it was computed in, so
each extractor carries a ``name`` ("inception_v3_pool3", "fashion_mnist_classifier", ...).

    extractor = features.get_extractor("fashion_mnist_classifier")   # trains once, then cached
    feats = extractor(images)            # (n, 128); images float32 NHWC in extractor.value_range
    logits = extractor.logits(images)    # (n, 10) for the Inception Score, or None

    extractor = features.inception_extractor("/path/inception_v3_notop.weights.h5")

ImageNet weights are never downloaded: ``inception_extractor`` takes a local weights file (without
one the network has random weights, which is only good for shape tests: the name says so).
"""
from __future__ import annotations

import json
import os
import uuid
import warnings

import numpy as np

INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
CLASSIFIER_FEATURES = 128
CACHE_ENV = "KERASGEN_CACHE"
DEFAULT_CLASSIFIER_EPOCHS = 5


class FeatureExtractor:
    """Maps float32 NHWC images in ``value_range`` to ``(n, dim)`` features, in batches.

    Args:
        name: the feature space, to be reported next to every score.
        dim: feature dimension.
        fn: callable taking one float32 NHWC batch (NumPy, already checked) and returning
            ``features`` or ``(features, logits)`` (tensors or arrays).
        value_range: range the input images must be in.
        num_classes: number of logits ``fn`` returns, or None if it returns none.
        model: the underlying Keras model (for saving weights, inspection).
    """

    def __init__(self, name, dim, fn, value_range=(-1.0, 1.0), num_classes=None, model=None):
        self.name = str(name)
        self.dim = int(dim)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.num_classes = num_classes
        self.model = model
        self._fn = fn
        self._warned_range = False

    def __repr__(self):
        return f"FeatureExtractor(name={self.name!r}, dim={self.dim}, value_range={self.value_range})"

    def _check(self, images):
        x = np.asarray(images)
        if x.ndim == 3:      # (n, H, W) grayscale
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"{self.name}: images must be NHWC with 1 or 3 channels (or (n, H, W) "
                             f"grayscale), got shape {x.shape}.")
        x = x.astype(np.float32, copy=False)
        if x.size and not np.all(np.isfinite(x)):
            raise ValueError(f"{self.name}: images contain nan or inf.")
        lo, hi = self.value_range
        slack = 0.05 * (hi - lo)
        if x.size and not self._warned_range and (x.min() < lo - slack or x.max() > hi + slack):
            self._warned_range = True
            warnings.warn(f"{self.name}: images span [{x.min():.3g}, {x.max():.3g}] but the "
                          f"extractor expects value_range={self.value_range}; rescale them "
                          "(kerasgen.datasets.to_value_range) or the scores are meaningless.",
                          stacklevel=3)
        return x

    def features_and_logits(self, images, batch_size=500):
        """``(features (n, dim), logits (n, classes) or None)`` in one pass, float32 NumPy."""
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        x = self._check(images)
        feats, logits = [], []
        for start in range(0, x.shape[0], batch_size):
            out = self._fn(x[start:start + batch_size])
            f, lg = out if isinstance(out, (tuple, list)) else (out, None)
            feats.append(np.asarray(f, dtype=np.float32).reshape(-1, self.dim))
            if lg is not None:
                logits.append(np.asarray(lg, dtype=np.float32))
        if not feats:
            feats = [np.zeros((0, self.dim), np.float32)]
        feats = np.concatenate(feats)
        if self.num_classes is None:
            return feats, None
        logits = np.concatenate(logits) if logits else np.zeros((0, self.num_classes), np.float32)
        return feats, logits

    def __call__(self, images, batch_size=500) -> np.ndarray:
        return self.features_and_logits(images, batch_size)[0]

    def logits(self, images, batch_size=500):
        """Class logits ``(n, classes)`` for the Inception Score, or None if unavailable."""
        if self.num_classes is None:
            return None
        return self.features_and_logits(images, batch_size)[1]


# ----------------------------------------------------------------------------- InceptionV3
def inception_extractor(weights_path=None, value_range=(-1.0, 1.0)) -> FeatureExtractor:
    """InceptionV3 pool3 (2048-d, global average pool) features.

    ``weights_path``: a local ``.weights.h5`` / ``.h5`` file of
    ``keras.applications.InceptionV3(include_top=False, pooling="avg")`` (e.g. the Keras
    ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``). Without it the weights are
    random: fine for shape tests, useless for scores (the name says "(random weights)").
    Images are rescaled from ``value_range`` to [-1, 1], grayscale is repeated to RGB, and
    everything is resized to 299x299 (bilinear).
    """
    import keras
    import tensorflow as tf

    model = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                           input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    if weights_path is not None:
        weights_path = os.fspath(weights_path)
        if not os.path.isfile(weights_path):
            raise FileNotFoundError(f"InceptionV3 weights file not found: {weights_path!r}. Fix: "
                                    "pass a local .weights.h5/.h5 file of InceptionV3 without top.")
        model.load_weights(weights_path)
        name = "inception_v3_pool3"
    else:
        name = "inception_v3_pool3 (random weights)"
    lo, hi = float(value_range[0]), float(value_range[1])
    if not lo < hi:
        raise ValueError(f"value_range={value_range!r} needs lo < hi.")

    def fn(batch):
        x = tf.convert_to_tensor(batch, tf.float32)
        x = (x - lo) * (2.0 / (hi - lo)) - 1.0
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)
        if tuple(x.shape[1:3]) != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = tf.image.resize(x, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
        return model(x, training=False)

    return FeatureExtractor(name, INCEPTION_DIM, fn, value_range=(lo, hi), model=model)


# ----------------------------------------------------------------------------- domain classifier
def default_cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "kerasgen")


def _cache_stem(dataset, epochs, limit) -> str:
    """The full-data default model is `<dataset>_classifier`; anything else names its settings."""
    if epochs == DEFAULT_CLASSIFIER_EPOCHS and limit is None:
        return f"{dataset}_classifier"
    return f"{dataset}_classifier_e{epochs}_n{'all' if limit is None else limit}"


def build_classifier(input_shape=(28, 28, 1), num_classes=10):
    """Conv 32 -> Conv 64/2 -> Conv 128/2 -> Flatten -> Dense 128 "features" -> Dense logits.

    Flatten rather than global average pooling: it keeps the layout of the image (GAP trains far
    slower here: ~45% vs ~75% test accuracy after one epoch on 2048 Fashion-MNIST images).
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(128, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    feats = layers.Dense(CLASSIFIER_FEATURES, activation="relu", name="features")(x)
    logits = layers.Dense(num_classes, name="logits")(feats)
    return keras.Model(inputs, logits, name="domain_classifier")


def _train_classifier(dataset, epochs, limit, seed, batch_size=32):
    """Train on `dataset` train split, evaluate on its test split: (model, test_accuracy)."""
    import keras
    from kerasgen import datasets

    keras.utils.set_random_seed(seed)
    train = datasets.load(dataset, split="train", with_labels=True, value_range=(-1.0, 1.0),
                          limit=limit, seed=seed, batch_size=batch_size)
    test = datasets.load(dataset, split="test", with_labels=True, value_range=(-1.0, 1.0),
                         batch_size=500)
    _, test_labels = datasets.load_arrays(dataset, split="test")
    num_classes = max(10, int(np.max(test_labels)) + 1)
    input_shape = tuple(train.element_spec[0].shape[1:])
    model = build_classifier(input_shape, num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train, epochs=epochs, verbose=0, shuffle=False)  # load() already shuffles
    _, accuracy = model.evaluate(test, verbose=0)
    return model, float(accuracy)


def _atomic_write_json(path, payload):
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with open(tmp, "w") as f:
            json.dump(payload, f, indent=2)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_save_model(model, path):
    tmp = f"{path[:-len('.keras')]}.tmp-{os.getpid()}-{uuid.uuid4().hex}.keras"
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load_cached(model_path, meta_path, epochs, limit):
    """(model, meta) from the cache if both files exist and match epochs/limit, else None."""
    import keras

    if not (os.path.isfile(model_path) and os.path.isfile(meta_path)):
        return None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("epochs") != epochs or meta.get("limit") != limit:
            return None
        return keras.models.load_model(model_path, compile=False), meta
    except Exception as e:  # corrupt cache: retrain rather than fail
        warnings.warn(f"ignoring unreadable cached classifier {model_path!r} ({type(e).__name__}: {e}); retraining.")
        return None


def classifier_extractor(model, name, value_range=(-1.0, 1.0)) -> FeatureExtractor:
    """Wrap a classifier with a Dense layer named "features" (features) and logits output."""
    import keras

    both = keras.Model(model.inputs[0], [model.get_layer("features").output, model.outputs[0]])
    dim = int(both.outputs[0].shape[-1])
    num_classes = int(both.outputs[1].shape[-1])

    def fn(batch):
        f, lg = both(batch, training=False)
        return f, lg

    return FeatureExtractor(name, dim, fn, value_range=value_range, num_classes=num_classes,
                            model=model)


def train_domain_classifier(dataset="fashion_mnist", epochs=DEFAULT_CLASSIFIER_EPOCHS,
                            cache_dir=None, retrain=False, limit=None, seed=0) -> FeatureExtractor:
    """A small CNN classifier on `dataset` whose 128-d penultimate layer is the feature space.

    Trained with Adam on ``kerasgen.datasets.load(dataset, split="train", with_labels=True,
    value_range=(-1, 1))`` (first ``limit`` images if given), evaluated on the test split, and
    cached in ``cache_dir`` (default: ``$KERASGEN_CACHE`` or ``~/.cache/kerasgen``) as
    ``<dataset>_classifier.keras`` + ``.json`` ({"test_accuracy", "epochs", "limit", "seed"}).
    Non-default ``epochs``/``limit`` get their own files (``<dataset>_classifier_e1_n2048``)
    so a quick test model never masquerades as the real one. A matching cached model is loaded
    unless ``retrain=True``. The extractor has ``test_accuracy``; images go in [-1, 1].
    """
    if isinstance(epochs, bool) or int(epochs) < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}.")
    epochs = int(epochs)
    limit = None if limit is None else int(limit)
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    stem = _cache_stem(dataset, epochs, limit)
    model_path = os.path.join(cache_dir, stem + ".keras")
    meta_path = os.path.join(cache_dir, stem + ".json")
    cached = None if retrain else _load_cached(model_path, meta_path, epochs, limit)
    if cached is not None:
        model, meta = cached
        accuracy = float(meta["test_accuracy"])
    else:
        model, accuracy = _train_classifier(dataset, epochs, limit, seed)
        _atomic_save_model(model, model_path)
        _atomic_write_json(meta_path, {"dataset": dataset, "test_accuracy": accuracy,
                                       "epochs": epochs, "limit": limit, "seed": seed})
    extractor = classifier_extractor(model, f"{dataset}_classifier")
    extractor.test_accuracy = accuracy
    extractor.cache_path = model_path
    return extractor


# ----------------------------------------------------------------------------- registry
EXTRACTORS = {
    "fashion_mnist_classifier": lambda **kw: train_domain_classifier("fashion_mnist", **kw),
    "inception": lambda **kw: inception_extractor(**kw),
}


def get_extractor(name, **kwargs) -> FeatureExtractor:
    """``"fashion_mnist_classifier"`` or ``"inception"``; kwargs go to the factory."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))}.")
    return EXTRACTORS[name](**kwargs)
