"""DDPM's 1000-step ancestral sampler (Algorithm 2) at 10k samples, drawn in resumable chunks.

    python benchmarks/ddpm_ancestral.py --minutes 100     # draw chunks for 100 min, then score what exists
    python benchmarks/ddpm_ancestral.py --minutes 0       # only score the chunks on disk, update BENCHMARKS.md

On 2 CPU cores Algorithm 2 costs ~2 min per 100 images (1000 network calls
each), so the issue's 10,000 samples take several hours: more than one
session. This script samples the *exported* DDPM (`saved_models/
ddpm_fashion_mnist`, the model whose DDIM rows `benchmarks/ddpm.py` scored)
in fixed chunks that survive interruption:

* The export's EMA weights are restored by name into a `DDPM` built with the
  training run's config (`benchmarks/results/ddpm.json`), and the restore is
  checked: the rebuilt model's DDIM must reproduce the SavedModel's
  `serving_default` output on the same noise.
* Chunk k is `model.generate(--chunk, seed=SEED_BASE + k, ancestral=True)`,
  so it is the same draw whenever and wherever it runs. Each chunk is saved
  as 8-bit images (`images_uint8`, what the served model returns) to
  `benchmarks/results/ddpm_ancestral/chunk_<k>.npz`, written to a temporary
  file and renamed into place, so an interrupted run leaves no partial chunk;
  the next run skips the chunks that exist.
* A run stops starting chunks when the next one would overrun `--minutes`.
  Then every chunk on disk is scored against the 10,000 test images in
  kerasgen's classifier feature space (FID, and KID, unbiased at any count),
  and the ancestral row of `benchmarks/results/ddpm.json` and the BENCHMARKS.md
  section are rewritten with the sample count reached so far.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
import tensorflow as tf

import kerasgen
from benchmarks import common, ddpm
from kerasgen.metrics import evaluation, features

ROW = "ancestral, 1000 steps"
SEED_BASE = 10_000  # chunk k draws with seed SEED_BASE + k (the DDIM rows use seeds from 0)
CHUNK_DIR = os.path.join(common.RESULTS_DIR, "ddpm_ancestral")


def latest_version(base_dir):
    versions = [int(name) for name in os.listdir(base_dir) if name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"{base_dir} holds no numbered SavedModel version: run benchmarks/ddpm.py --export first.")
    return os.path.join(base_dir, str(max(versions)))


def restored_model(export_dir, config):
    """A `DDPM` with the training config whose sampling (EMA) network holds the export's weights, checked
    against the SavedModel's own DDIM output."""
    loaded = tf.saved_model.load(export_dir)
    serving = loaded.signatures["serving_default"]
    saved = {v.name.split(":")[0]: v for v in serving.variables}
    model = kerasgen.models.DDPM(image_shape=(28, 28, 1), seed=0, **config)
    weights = model.sampling_network.weights
    missing = sorted({w.path for w in weights} ^ set(saved))
    missing += [w.path for w in weights if w.path in saved and tuple(w.shape) != tuple(saved[w.path].shape)]
    if len(saved) != len(weights) or missing:
        raise ValueError(f"{export_dir} does not match DDPM({config}): {len(saved)} saved variables against "
                         f"{len(weights)} network weights; unmatched names or shapes {missing[:5]}")
    for weight in weights:
        weight.assign(saved[weight.path].numpy())
    noise = keras.random.normal((4, 28, 28, 1), seed=1)
    served = serving(noise=noise)["images"].numpy()
    rebuilt = keras.ops.convert_to_numpy(model.ddim_sample(noise))
    error = float(np.max(np.abs(served - rebuilt)))
    if error > 1e-3:
        raise ValueError(f"the restored model's DDIM differs from the export's by {error:.2g}: restore failed")
    print(f"restored {len(weights)} weights from {export_dir}; DDIM matches the export to {error:.1e}")
    return model


def chunk_path(index):
    return os.path.join(CHUNK_DIR, f"chunk_{index:03d}.npz")



def draw_chunks(model, args):
    """Draws missing chunks in order until `--samples` exist or the next would overrun `--minutes`."""
    os.makedirs(CHUNK_DIR, exist_ok=True)
    deadline = time.perf_counter() + args.minutes * 60.0
    last = None  # seconds the previous chunk took
    for index in range(-(-args.samples // args.chunk)):
        path = chunk_path(index)
        if os.path.exists(path):
            continue
        if last is not None and time.perf_counter() + last > deadline or args.minutes <= 0:
            break
        if last is None:
            model.generate(2, seed=0, ancestral=True)  # trace outside the timed call
        start = time.perf_counter()
        images = keras.ops.convert_to_numpy(model.generate(args.chunk, seed=SEED_BASE + index, ancestral=True))
        last = time.perf_counter() - start
        # Hidden, and outside the chunk_*.npz pattern, until it is complete.
        temporary = os.path.join(CHUNK_DIR, f".tmp-{os.getpid()}-{os.path.basename(path)}")
        np.savez_compressed(temporary, images_uint8=to_uint8(images), seconds=last, seed=SEED_BASE + index)
        os.replace(temporary, path)
        print(f"chunk {index}: {args.chunk} images in {last:.0f} s ({100 * last / args.chunk:.1f} s per 100)",
              flush=True)


def to_uint8(images):
    """[-1, 1] floats -> uint8 0..255, rounded (as the export's `images_uint8`)."""
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def load_chunks(samples):
    """(images in [-1, 1] `(n, 28, 28, 1)`, total sampling seconds) of the chunks on disk, in order."""
    images, seconds = [], 0.0
    for path in sorted(glob.glob(os.path.join(CHUNK_DIR, "chunk_[0-9][0-9][0-9].npz"))):
        with np.load(path) as chunk:
            images.append(chunk["images_uint8"])
            seconds += float(chunk["seconds"])
    if not images:
        return None, 0.0
    return np.concatenate(images)[:samples].astype(np.float32) / 127.5 - 1.0, seconds


def score(args):
    images, seconds = load_chunks(args.samples)
    if images is None:
        print("no chunks on disk yet")
        return
    count = len(images)
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    extractor = features.train_domain_classifier("fashion_mnist")
    real_features = evaluation.extract_features(extractor, kerasgen.datasets.to_value_range(test_x))
    batch = min(count, 250)
    row = evaluation.evaluate_generator(lambda n, i: images[i * batch:i * batch + n], None, extractor,
                                        num_samples=count, real_features=real_features, batch_size=batch,
                                        kid_subset_size=min(count, 1000))
    result_path = os.path.join(common.RESULTS_DIR, f"{ddpm.NAME}.json")
    with open(result_path) as handle:
        result = json.load(handle)
    result["samplers"][ROW] = {"fid": row["fid"], "kid": row["kid"], "samples": count,
                               "seconds_per_100": 100.0 * seconds / count, "target_samples": args.samples,
                               "command": "python benchmarks/ddpm_ancestral.py", "chunk": args.chunk,
                               "seed_base": SEED_BASE}
    temporary = result_path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True, default=float)
    os.replace(temporary, result_path)
    print(f"{ROW}: {count} samples, FID {row['fid']:.1f}, KID {row['kid']:.4f}, "
          f"{100 * seconds / count:.1f} s per 100")
    if not args.no_markdown:
        ddpm.report(result_path)


def run(args):
    global CHUNK_DIR
    CHUNK_DIR = args.chunk_dir
    kerasgen.precision.set_precision("float32")  # the training run's policy on this CPU
    if args.minutes > 0:
        with open(os.path.join(common.RESULTS_DIR, f"{ddpm.NAME}.json")) as handle:
            config = json.load(handle)["config"]
        draw_chunks(restored_model(latest_version(args.export), config), args)
    score(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="wall clock for drawing chunks (0: only score)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=250, help="images per chunk (keep it fixed across runs)")
    parser.add_argument("--export", default=os.path.join(common.ROOT, "saved_models", "ddpm_fashion_mnist"))
    parser.add_argument("--chunk-dir", default=CHUNK_DIR, help="where the chunks live")
    parser.add_argument("--no-markdown", action="store_true")
    run(parser.parse_args())
