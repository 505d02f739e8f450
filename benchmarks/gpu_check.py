"""The GPU path as users get it: every zoo model's `fit` under mixed_float16 and XLA, on one GPU.

    python benchmarks/gpu_check.py                 # on a machine with a GPU; exits 0 without one
    python benchmarks/gpu_check.py --steps 20 --out benchmarks/results

For every registry model (its small test configuration), two short `fit` runs:

1. `kerasgen.distribute.get_strategy("auto")` and `kerasgen.precision.set_precision("auto")`
   (mixed_float16 on a GPU) with Keras's default `jit_compile="auto"` (XLA on one GPU),
   exactly what `kerasgen train` does;
2. the same under `tf.distribute.MirroredStrategy` over that one GPU.

Each run asserts finite losses, that every optimizer moved the weights it updates, and
that every optimizer is a LossScaleOptimizer, and records images/s (after a warm-up
epoch), peak GPU memory (`tf.config.experimental.get_memory_info`) and each optimizer's
loss scale. Results go to `gpu_check.json` and `gpu_check.md` in `--out`; the process
exits 1 if any check failed. Sized to finish in under 8 minutes on one H100/H200.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

def optimizers_of(model):
    """{attribute: optimizer} of every optimizer the model steps."""
    return model.named_optimizers()


def updated_variables(optimizer):
    """The variables an optimizer was built for (a LossScaleOptimizer's inner optimizer's)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return list(inner._trainable_variables)


def synthetic_data(spec, model, batch, batches):
    """A dataset of `batches` training batches in the form `spec`'s model trains on."""
    rng = np.random.default_rng(0)
    low, high = model.value_range
    count = model.fit_batch_size(batch) * batches

    def images(shape):
        return rng.uniform(low, high, (count, *shape)).astype("float32")

    if spec.pairing:
        elements = (images(model.source_shape), images(model.image_shape))
    elif spec.indexed:
        elements = (images(model.image_shape), (np.arange(count) % model.num_images).astype("int32"))
    elif spec.conditional:
        elements = (images(model.image_shape), (np.arange(count) % model.num_classes).astype("int32"))
    else:
        elements = images(model.image_shape)
    return tf.data.Dataset.from_tensor_slices(elements).batch(model.fit_batch_size(batch), drop_remainder=True).prefetch(2), count


def check_model(name, strategy, steps, batch):
    from kerasgen.models import REGISTRY

    spec = REGISTRY[name]
    kwargs = dict(spec.small_config, seed=0)
    if spec.indexed:
        kwargs["num_images"] = batch * steps
    with strategy.scope():
        model = spec.create(**kwargs)
        model.compile()  # jit_compile="auto": XLA on a single GPU
    data, count = synthetic_data(spec, model, batch, steps)
    model.fit(data.take(1), epochs=1, verbose=0)  # warm-up: tracing and XLA compilation (builds optimizers)
    tf.config.experimental.reset_memory_stats("GPU:0")
    before = {key: [v.numpy().copy() for v in updated_variables(opt)] for key, opt in optimizers_of(model).items()}
    start = time.perf_counter()
    history = model.fit(data, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    losses = {key: float(values[-1]) for key, values in history.history.items()}
    moved = {
        key: bool(any(np.any(v.numpy() != b) for v, b in zip(updated_variables(opt), before[key])))
        for key, opt in optimizers_of(model).items()
    }
    scales = {key: float(opt.dynamic_scale.numpy()) if hasattr(opt, "dynamic_scale") else None
              for key, opt in optimizers_of(model).items()}
    failures = [f"{key} is not finite" for key, value in losses.items() if not math.isfinite(value)]
    failures += [f"{key} did not move its weights" for key, ok in moved.items() if not ok]
    failures += [f"{key} is not a LossScaleOptimizer" for key, scale in scales.items() if scale is None]
    return {
        "model": name, "strategy": type(strategy).__name__, "policy": model.dtype_policy.name,
        "jit_compile": bool(model.jit_compile), "images_per_second": count / seconds,
        "peak_gpu_memory_mib": tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20,
        "losses": losses, "loss_scales": scales, "failures": failures,
    }


def markdown(rows, device):
    lines = [f"GPU check on {device} (`python benchmarks/gpu_check.py`): mixed_float16, Keras's default "
             "`jit_compile=\"auto\"`, small test configurations.", "",
             "| model | strategy | XLA | images/s | peak GPU MiB | loss scales | result |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        scales = ", ".join(f"{k}: {v:g}" for k, v in row.get("loss_scales", {}).items() if v is not None)
        result = "ok" if not row["failures"] else "; ".join(row["failures"])
        lines.append(f"| {row['model']} | {row['strategy']} | {row.get('jit_compile', '')} | "
                     f"{row.get('images_per_second', 0):.0f} | {row.get('peak_gpu_memory_mib', 0):.0f} | {scales} | {result} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training batches per timed epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("No GPU found: benchmarks/gpu_check.py checks the GPU path and needs one. Nothing to do.")
        return 0
    from kerasgen import distribute, precision
    from kerasgen.models import REGISTRY

    policy = precision.set_precision("auto")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    print(f"{device}: precision policy {policy}")
    rows = []
    for name in args.models or sorted(REGISTRY):
        for strategy in (distribute.get_strategy("auto"), tf.distribute.MirroredStrategy(["GPU:0"])):
            try:
                row = check_model(name, strategy, args.steps, args.batch_size)
            except Exception:  # noqa: BLE001 - a crash is a finding, reported like the others
                row = {"model": name, "strategy": type(strategy).__name__, "failures": [traceback.format_exc(limit=3)]}
            print(json.dumps(row, default=str))
            rows.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as handle:
        json.dump({"device": device, "policy": policy, "rows": rows}, handle, indent=2, default=str)
    with open(os.path.join(args.out, "gpu_check.md"), "w") as handle:
        handle.write(markdown(rows, device))
    failed = [row for row in rows if row["failures"]]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
