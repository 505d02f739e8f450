"""Quality and size of the SavedModels in saved_models/, measured on the exports themselves.

    python benchmarks/saved_models_quality.py            # writes results and the saved_models section of BENCHMARKS.md
    python benchmarks/saved_models_quality.py --report   # only rewrites the section from the saved results

Only TensorFlow's SavedModel loader touches the exports (no kerasgen code), so the
figures describe what TF Serving would serve:
- VAE: test-set negative ELBO in nats per image (Bernoulli likelihood on intensities in
  [0, 1], one z sample per image), computed from the `encode` and `decode` signatures.
- Every generator: Frechet distance between 10,000 samples and the 10,000 test images in
  the 128-d penultimate-layer features of a small Fashion-MNIST classifier trained here
  (2 conv layers, 3 epochs, seed 0; its test accuracy is reported beside the numbers).
  This is NOT the Inception FID of the literature; the train-vs-test distance in the same
  features is the real-data floor.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
import tensorflow as tf

from benchmarks import common
from kerasgen import datasets
from kerasgen.metrics import fid_from_features as frechet_distance

SAVED = os.path.join(common.ROOT, "saved_models")
SAMPLES = 10_000


def train_classifier(train_x, train_y, test_x, test_y):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, strides=2, activation="relu")(x)
    features = keras.layers.Dense(128, activation="relu", name="features")(keras.layers.Flatten()(x))
    classifier = keras.Model(inputs, keras.layers.Dense(10)(features))
    classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    classifier.fit(train_x, train_y, batch_size=128, epochs=3, verbose=0)
    accuracy = classifier.evaluate(test_x, test_y, verbose=0)[1]
    return keras.Model(inputs, features), float(accuracy)


def latest_version(base):
    return os.path.join(base, str(max(int(d) for d in os.listdir(base) if d.isdigit())))


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def generate(signatures, latent_dim, count, rng):
    outputs = []
    for start in range(0, count, 1000):
        z = tf.constant(rng.normal(size=(min(1000, count - start), latent_dim)).astype("float32"))
        outputs.append(signatures["serving_default"](z=z)["images"].numpy())
    return np.concatenate(outputs)


def negative_elbo(signatures, images, rng):
    """Mean over images of -log p(x|z) + KL(q(z|x) || N(0, I)) with one z ~ q(z|x)."""
    totals = []
    for start in range(0, len(images), 1000):
        x = images[start : start + 1000]
        posterior = signatures["encode"](images=tf.constant(x))
        mean, log_var = posterior["z_mean"].numpy(), posterior["z_log_var"].numpy()
        z = mean + np.exp(0.5 * log_var) * rng.normal(size=mean.shape).astype("float32")
        p = (signatures["decode"](z=tf.constant(z))["images"].numpy().astype("float64") + 1.0) / 2.0
        p = np.clip(p, 1e-7, 1 - 1e-7)  # the export returns probabilities, not logits
        target = (x.astype("float64") + 1.0) / 2.0
        nll = -(target * np.log(p) + (1 - target) * np.log1p(-p)).reshape(len(x), -1).sum(1)
        kl = -0.5 * (1 + log_var - mean**2 - np.exp(log_var)).sum(1)
        totals.append(nll + kl)
    return float(np.concatenate(totals).mean())


def _elbo(row):
    return f"{row['test_negative_elbo']:.1f}" if "test_negative_elbo" in row else "(no encoder)"


def main():
    train_x, train_y = datasets.load_arrays("fashion_mnist", split="train")
    test_x, test_y = datasets.load_arrays("fashion_mnist", split="test")
    train_x, test_x = datasets.to_value_range(train_x), datasets.to_value_range(test_x)
    extractor, accuracy = train_classifier(train_x, train_y, test_x, test_y)
    test_features = extractor.predict(test_x, batch_size=1000, verbose=0)
    floor = frechet_distance(extractor.predict(train_x[:SAMPLES], batch_size=1000, verbose=0), test_features)
    rows, rng = {}, np.random.default_rng(0)
    for name in sorted(os.listdir(SAVED)):
        base = os.path.join(SAVED, name)
        if not os.path.isdir(base):
            continue
        version = latest_version(base)
        with open(os.path.join(version, "assets.extra", "kerasgen_export.json")) as handle:
            meta = json.load(handle)
        inputs = meta.get("inputs", {"serving_default": {"z": "latent"}})["serving_default"]
        if inputs != {"z": "latent"} or not meta["latent_dim"]:
            # This script predates exports fed labels, uniforms or image-shaped noise; `kerasgen
            # evaluate` scores those (saved_models/README.md has their FIDs).
            print(f"{name}: skipped, serving_default takes {inputs}")
            continue
        signatures = tf.saved_model.load(version).signatures
        samples = generate(signatures, meta["latent_dim"], SAMPLES, rng)
        row = {"model": meta["model"], "version": os.path.basename(version), "bytes": directory_bytes(version),
               "frechet_distance": frechet_distance(extractor.predict(samples, batch_size=1000, verbose=0), test_features)}
        if "encode" in signatures:
            row["test_negative_elbo"] = negative_elbo(signatures, test_x, rng)
        rows[name] = row
        print(name, row)
    result = {"command": common.command_line(), "classifier_test_accuracy": accuracy, "real_data_floor": floor, "exports": rows}
    common.save_result("saved_models", result)
    report()


def report():
    result = common.load_result("saved_models")
    rows, accuracy, floor = result["exports"], result["classifier_test_accuracy"], result["real_data_floor"]
    table = "\n".join(
        f"| `saved_models/{name}/{r['version']}` | {r['model']} | {r['bytes'] / 2**20:.1f} MiB | {r['frechet_distance']:.2f} "
        f"| {_elbo(r)} |" for name, r in rows.items()
    )
    common.replace_section(
        "saved_models",
        "## saved_models/ exports (issue 4)\n\n"
        f"Measured on the SavedModels themselves by `{result['command']}`. Frechet distance (FD) between "
        f"10,000 samples and the 10,000 test images in the features of a small Fashion-MNIST classifier "
        f"trained by the script (test accuracy {accuracy:.3f}); not comparable with Inception FIDs. "
        f"Real-data floor (10,000 training vs test images): {floor:.2f}. Negative ELBO in nats per image.\n\n"
        "| export | model | size | FD (classifier features) | test -ELBO |\n|---|---|---|---|---|\n" + table,
    )


if __name__ == "__main__":
    report() if "--report" in sys.argv[1:] else main()
