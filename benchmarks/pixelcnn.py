"""PixelCNN on Fashion-MNIST: test bits/dim after a fixed training budget, and the
speed of the compiled sampling loop against a Python loop over pixels.

    python benchmarks/pixelcnn.py --epochs 1               # ~20 min on one core (see BENCHMARKS.md)
    python benchmarks/pixelcnn.py --report                 # only rewrite the BENCHMARKS.md section
    python benchmarks/pixelcnn.py --limit 512 --test-limit 500 --samples 4 --out /tmp/pixelcnn.json --no-markdown

Trains `kerasgen.models.PixelCNN()` (default config: 7x7 mask-A conv, 12 residual
blocks (7 before issue 16 item 3; the BENCHMARKS.md section names its network), 64 feature
maps, 256-way softmax) with Adam(1e-3), batch 128, on the 60k
training images (or the first `--limit`), then reports the negative log-likelihood
of the 10k test images in bits per dimension (`evaluate`). Then it samples
`--samples` images twice from the same noise: with `generate(cached=False)` (one `tf.function`
whose `tf.while_loop` runs the network once per sub-pixel, 784 times) after a
1-image warm-up call, and with `naive_generate` (the same steps as a Python loop
calling the network eagerly), and checks that both give the same images. The
tracing time of the compiled sampler (`get_concrete_function`, no execution) and
its first, warm-up call (which also optimizes the graph) are reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
import tensorflow as tf

import kerasgen
from benchmarks import common

NAME = "pixelcnn"


def network_call_seconds(model, batch, jit_compile, repeats=5):
    """Median seconds of one network call on a `(batch, 28, 28, 1)` canvas in a tf.function."""
    call = tf.function(lambda levels: model._network_logits(levels), jit_compile=jit_compile)
    canvas = tf.zeros((batch, *model.image_shape), tf.int32)
    call(canvas)  # trace and compile
    times = [common.timed(lambda: call(canvas).numpy())[1] for _ in range(repeats)]
    return statistics.median(times)


def run(args):
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=args.batch_size, seed=0, limit=args.limit)
    test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, limit=args.test_limit)
    train_size = sum(int(batch.shape[0]) for batch in train)
    model = kerasgen.models.PixelCNN(image_shape=(28, 28, 1), gated=args.gated, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = common.EpochTimer()
    history = model.fit(train, epochs=args.epochs, callbacks=[timer], verbose=2).history
    test_results, test_seconds = common.timed(lambda: model.evaluate(test, return_dict=True, verbose=0))

    # Sampling: trace, warm up (first execution optimizes the graph), then time.
    _, trace_seconds = common.timed(lambda: model._sampler.get_concrete_function())
    # The full-canvas loop (cached=False); benchmarks/pixelcnn_sampling.py compares it with the cached sampler.
    _, warmup_seconds = common.timed(lambda: np.asarray(model.generate(1, seed=0, cached=False)))
    compiled, compiled_seconds = common.timed(lambda: np.asarray(model.generate(args.samples, seed=1, cached=False)))
    naive, naive_seconds = common.timed(lambda: np.asarray(model.naive_generate(args.samples, seed=1)))
    graph_call = network_call_seconds(model, args.samples, jit_compile=False)
    xla_call = network_call_seconds(model, args.samples, jit_compile=True)
    grid = kerasgen.images.save_grid(compiled, os.path.splitext(args.out)[0] + "_samples.png")

    result = {
        "command": common.command_line(),
        "machine": common.machine(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "config": model.get_config() | {"network": "default"},
        "parameters": int(model.network.count_params()),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "train_images": train_size,
        "epoch_seconds": timer.seconds,
        "train_images_per_second": train_size * args.epochs / sum(timer.seconds),
        "train_bits_per_dim": history["bits_per_dim"],
        "test_images": sum(int(batch.shape[0]) for batch in test),
        "test_seconds": test_seconds,
        "test_nll_nats": test_results["loss"],
        "test_bits_per_dim": test_results["bits_per_dim"],
        "sampling": {
            "num_samples": args.samples,
            "network_calls_per_batch": model.num_dims,
            "trace_seconds": trace_seconds,
            "warmup_1_image_seconds": warmup_seconds,
            "compiled_seconds": compiled_seconds,
            "naive_seconds": naive_seconds,
            "speedup": naive_seconds / compiled_seconds,
            "identical_images": bool(np.array_equal(compiled, naive)),
            "network_call_seconds": {"graph": graph_call, "xla": xla_call},
            "grid": os.path.relpath(grid, common.ROOT),
        },
        "peak_rss_mib": common.peak_rss_mib(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    print(
        f"wrote {args.out}: test {result['test_bits_per_dim']:.3f} bits/dim; sampling {args.samples} images: "
        f"compiled {compiled_seconds:.1f} s, naive {naive_seconds:.1f} s ({result['sampling']['speedup']:.2f}x)"
    )
    if not args.no_markdown:
        report(args.out)


def report(path):
    with open(path) as handle:
        r = json.load(handle)
    s = r["sampling"]
    config = r["config"]
    variant = "Gated PixelCNN" if config["gated"] else "PixelCNN"
    common.replace_section(
        NAME,
        f"## {variant} on Fashion-MNIST\n\n"
        f"`PixelCNN(filters={config['filters']}, num_layers={config['num_layers']}, gated={config['gated']})` "
        f"({r['parameters']:,} parameters; 7x7 mask-A conv, residual blocks of masked 1x1/3x3/1x1 convs, "
        f"256-way softmax per sub-pixel), float32, Adam(1e-3), batch {r['batch_size']}, {r['epochs']} epoch(s) on "
        f"{r['train_images']:,} training images. Machine: {r['machine']}; the process could use "
        f"{r['cpus_available']} core(s). Command: `{r['command']}`\n\n"
        "| train images/s | training time | test images | test NLL (nats/image) | test bits/dim | peak RSS (MiB) |\n"
        "|---|---|---|---|---|---|\n"
        f"| {r['train_images_per_second']:.0f} | {sum(r['epoch_seconds']) / 60:.1f} min | {r['test_images']:,} "
        f"| {r['test_nll_nats']:.1f} | {r['test_bits_per_dim']:.3f} | {r['peak_rss_mib']:.0f} |\n\n"
        f"Sampling {s['num_samples']} images ({s['network_calls_per_batch']} network calls, one per sub-pixel, "
        "each on the whole 28x28 canvas), same noise for both loops:\n\n"
        "| loop | seconds | images/s |\n|---|---|---|\n"
        f"| compiled: one `tf.function`, `tf.while_loop` (`generate`) | {s['compiled_seconds']:.1f} "
        f"| {s['num_samples'] / s['compiled_seconds']:.2f} |\n"
        f"| Python loop, eager network calls (`naive_generate`) | {s['naive_seconds']:.1f} "
        f"| {s['num_samples'] / s['naive_seconds']:.2f} |\n\n"
        f"Speed-up {s['speedup']:.2f}x; identical images: {'yes' if s['identical_images'] else 'no'}. "
        f"Not included above: tracing the compiled sampler took {s['trace_seconds']:.1f} s and its first "
        f"(1-image) call {s['warmup_1_image_seconds']:.1f} s. The loop runs on the regular TensorFlow "
        "executor: with XLA (`jit_compile=True`) one network call on the "
        f"{s['num_samples']}-image canvas took {s['network_call_seconds']['xla'] * 1000:.0f} ms against "
        f"{s['network_call_seconds']['graph'] * 1000:.0f} ms without (median of 5). Samples: `{s['grid']}`.",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N training images")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test images (default all 10k)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--gated", action="store_true", help="benchmark the Gated PixelCNN instead")
    parser.add_argument("--out", default=os.path.join(common.RESULTS_DIR, f"{NAME}.json"))
    parser.add_argument("--no-markdown", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--report", action="store_true", help="only rewrite BENCHMARKS.md from --out")
    arguments = parser.parse_args()
    report(arguments.out) if arguments.report else run(arguments)
