"""Seconds to sample PixelCNN and PixelRNN images three ways, with the same noise: the cached
sampler (`generate`, the default), the full-canvas compiled loop (`generate(cached=False)`) and
the eager per-pixel Python loop (`naive_sample_from_uniform`).

    python benchmarks/pixelcnn_sampling.py                 # 64 images, all four networks (~30 min on 2 cores)
    python benchmarks/pixelcnn_sampling.py --report        # only rewrite the BENCHMARKS.md section
    python benchmarks/pixelcnn_sampling.py --samples 4 --variants plain --out /tmp/s.json --no-markdown

Each variant is a 28x28x1 Fashion-MNIST network of 64 feature maps and 7 layers
(`PixelCNN(filters=64, num_layers=7)`: 7x7 mask-A conv, 7 residual blocks, PixelCNN's
default network when this benchmark was written; `gated=True`: 7 gated layers),
`PixelRNN(variant="row_lstm" | "diagonal_bilstm")`: 7 LSTM layers of h = 16, the paper's MNIST
size), with its seeded initial weights: sampling time does not depend on the weights, and every
loop runs the same network on the same uniforms, so the images must agree exactly (the
tests check the same on randomized weights). Each loop is traced and run once on one
image before it is timed; tracing and that warm-up are reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np

import kerasgen
from benchmarks import common

NAME = "pixelcnn_sampling"
VARIANTS = {
    "plain": ("PixelCNN", lambda: kerasgen.models.PixelCNN(image_shape=(28, 28, 1), filters=64, num_layers=7, seed=0)),
    "gated": ("Gated PixelCNN", lambda: kerasgen.models.PixelCNN(image_shape=(28, 28, 1), filters=64, num_layers=7, gated=True,
                                                           seed=0)),
    "row_lstm": ("PixelRNN, Row LSTM", lambda: kerasgen.models.PixelRNN(variant="row_lstm", seed=0)),
    "diagonal_bilstm": ("PixelRNN, Diagonal BiLSTM", lambda: kerasgen.models.PixelRNN(variant="diagonal_bilstm", seed=0)),
}


def measure(variant, num_samples):
    keras.utils.set_random_seed(0)
    model = VARIANTS[variant][1]()
    noise = np.random.default_rng(1).uniform(size=(num_samples, *model.image_shape)).astype("float32")
    row = {"variant": variant, "parameters": int(model.network.count_params())}
    if hasattr(model._cache, "summary"):  # PixelCNN's graph-reading cache; PixelRNN's keeps LSTM states
        row.update(cache=model._cache.summary, cached_tensors=len(model._cache.cached))
    _, row["cached_warmup_seconds"] = common.timed(lambda: np.asarray(model.sample_from_uniform(noise[:1], cached=True)))
    cached, row["cached_seconds"] = common.timed(lambda: np.asarray(model.sample_from_uniform(noise, cached=True)))
    _, row["full_warmup_seconds"] = common.timed(lambda: np.asarray(model.sample_from_uniform(noise[:1], cached=False)))
    full, row["full_canvas_seconds"] = common.timed(lambda: np.asarray(model.sample_from_uniform(noise, cached=False)))
    eager, row["eager_seconds"] = common.timed(lambda: np.asarray(model.naive_sample_from_uniform(noise)))
    row["identical_images"] = bool(np.array_equal(cached, full) and np.array_equal(full, eager))
    row["speedup_vs_full_canvas"] = row["full_canvas_seconds"] / row["cached_seconds"]
    row["speedup_vs_eager"] = row["eager_seconds"] / row["cached_seconds"]
    print(f"{row['variant']}: cached {row['cached_seconds']:.2f} s, full canvas {row['full_canvas_seconds']:.1f} s, "
          f"eager {row['eager_seconds']:.1f} s, identical: {row['identical_images']}", flush=True)
    return row


def run(args):
    rows = [measure(variant, args.samples) for variant in args.variants]
    result = {"command": common.command_line(), "machine": common.machine(),
              "cpus_available": len(os.sched_getaffinity(0)), "num_samples": args.samples, "rows": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    if not args.no_markdown:
        report(args.out)


def report(path):
    with open(path) as handle:
        r = json.load(handle)
    lines = [
        f"| {VARIANTS[row['variant']][0]} ({row['parameters']:,} parameters) "
        f"| {row['cached_seconds']:.2f} | {row['full_canvas_seconds']:.1f} | {row['eager_seconds']:.1f} "
        f"| {row['speedup_vs_full_canvas']:.0f}x | {row['speedup_vs_eager']:.0f}x "
        f"| {'yes' if row['identical_images'] else 'no (float rounding, below)' if 'difference' in row else 'no'} |"
        for row in r["rows"]
    ]
    warmups = "; ".join(f"{row['variant']}: cached {row['cached_warmup_seconds']:.1f} s, full canvas "
                        f"{row['full_warmup_seconds']:.1f} s" for row in r["rows"] if "cached_warmup_seconds" in row)
    differences = "".join(f" {VARIANTS[row['variant']][0]}, not identical: {row['difference']}." for row in r["rows"]
                          if "difference" in row)
    unfinished = f" Not measured at {r['num_samples']} images: gated, {r['unfinished']['gated']}." if "unfinished" in r else ""
    schedules = "; ".join(f"{row['variant']}: {row['cache']['pixel']} tensors per pixel, {row['cache']['row']} per "
                          f"row, {row['cached_tensors']} cached" for row in r["rows"] if "cache" in row)
    common.replace_section(
        NAME,
        "## PixelCNN and PixelRNN sampling: cached, full canvas, eager (issue 16)\n\n"
        f"Seconds to sample {r['num_samples']} 28x28 images from the same uniforms, in one process. Machine: "
        f"{r['machine']}; the process could use {r['cpus_available']} core(s). Command: `{r['command']}`\n\n"
        "- cached: `generate()`, Ramachandran et al.'s scheme (`kerasgen.models.cached_sampling`): each step "
        "computes only the activations the last drawn pixel changes; for PixelRNN, "
        "`kerasgen.models.recurrent_sampling`: every layer at the new pixel only, from the LSTM states kept of "
        "the row above and the current row;\n"
        "- full canvas: `generate(cached=False)`, one `tf.while_loop` running the network on the whole canvas "
        "once per sub-pixel (784 times);\n"
        "- eager: `naive_sample_from_uniform` (what `naive_generate` runs), the same 784 network calls from a Python loop.\n\n"
        "| network | cached s | full canvas s | eager s | cached vs full canvas | cached vs eager | identical images |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
        f"PixelCNN schedules: {schedules}." + (f" First (1-image) calls, which trace and optimize each loop, not included "
                                      f"above: {warmups}." if warmups else "") + differences + unfinished,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", default=os.path.join(common.RESULTS_DIR, f"{NAME}.json"))
    parser.add_argument("--no-markdown", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--report", action="store_true", help="only rewrite BENCHMARKS.md from --out")
    arguments = parser.parse_args()
    report(arguments.out) if arguments.report else run(arguments)
