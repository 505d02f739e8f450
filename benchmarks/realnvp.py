"""RealNVP on Fashion-MNIST: test bits/dim after a stated training budget, training speed, sampling time.

    python benchmarks/realnvp.py --minutes 10 --filters 32 --blocks 2 --export saved_models/realnvp_fashion_mnist   # BENCHMARKS.md
    python benchmarks/realnvp.py --report                                  # only rewrite the BENCHMARKS.md section
    python benchmarks/realnvp.py --minutes 0.5 --test-limit 500 --samples 500 --out /tmp/realnvp.json --no-markdown

Trains `kerasgen.models.RealNVP` (2 scales; `--filters` maps and `--blocks`
residual blocks per coupling; the paper's CIFAR-10 network has 64 and 8) with
Adam at its defaults (the paper's), batches of 64, on the 60k training images
(or the first `--limit`) for `--minutes` of wall clock (whole batches; the
first includes tracing), then reports the test split's bits/dim (`evaluate`:
one uniform dequantization draw per image, the paper's estimate) and the time
to sample 100 images (one inverse pass, after a warm-up call), and the FID and
KID of `--samples` samples (temperature 1) against the 10,000 test images in
kerasgen's classifier feature space, the zoo table's. The precision is the
machine's default (`kerasgen.precision.set_precision("auto")`). With `--export
DIR` the trained model is also exported there (version 1, for TF Serving).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras

import kerasgen
from benchmarks import common
from benchmarks.common import Budget
from kerasgen.metrics import evaluation, features

NAME = "realnvp"


def run(args):
    policy = kerasgen.precision.set_precision("auto")
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=64, seed=0, limit=args.limit,
                                   drop_remainder=True)
    test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, limit=args.test_limit)
    model = kerasgen.models.RealNVP(image_shape=(28, 28, 1), filters=args.filters, num_blocks=args.blocks, seed=0)
    model.compile()
    initial = model.evaluate(test, return_dict=True, verbose=0)["bits_per_dim"]
    budget = Budget(args.minutes * 60.0)
    start = time.perf_counter()
    history = model.fit(train, epochs=10_000, callbacks=[budget], verbose=2).history
    train_seconds = time.perf_counter() - start
    scores = model.evaluate(test, return_dict=True, verbose=0)
    model.generate(4, seed=0)  # trace
    start = time.perf_counter()
    samples = keras.ops.convert_to_numpy(model.generate(100, seed=1))
    sample_seconds = time.perf_counter() - start
    grid = kerasgen.images.save_grid(samples[:64], os.path.splitext(args.out)[0] + "_samples.png")
    extractor = features.train_domain_classifier("fashion_mnist")
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    quality = evaluation.evaluate_generator(
        lambda n, seed: keras.ops.convert_to_numpy(model.generate(n, seed=seed)),
        kerasgen.datasets.to_value_range(test_x, extractor.value_range), extractor, num_samples=args.samples,
        kid_subset_size=min(1000, args.samples // 2))
    exported = common.export_model(model, args.export) if args.export else None
    result = {
        "command": common.command_line(),
        "machine": common.machine(),
        "precision": str(policy),
        "cpus_available": len(os.sched_getaffinity(0)),
        "config": {k: v for k, v in model.get_config().items() if k in ("num_scales", "filters", "num_blocks", "alpha")},
        "parameters": int(model.count_params()),
        "budget_minutes": args.minutes,
        "train_seconds": train_seconds,
        "train_batches": budget.batches,
        "train_images_per_second": budget.batches * 64 / train_seconds,
        "epochs_seen": budget.batches * 64 / 60_000 if args.limit is None else budget.batches * 64 / args.limit,
        "train_bits_per_dim_last_epoch": history["bits_per_dim"][-1],
        "test_images": sum(int(batch.shape[0]) for batch in test),
        "test_bits_per_dim_initial": initial,
        "test_bits_per_dim": scores["bits_per_dim"],
        "sample_100_seconds": sample_seconds,
        "samples": args.samples,
        "fid": quality["fid"],
        "kid": quality["kid"],
        "classifier_test_accuracy": float(extractor.test_accuracy),
        "export": exported,
        "grid": os.path.relpath(grid, common.ROOT),
        "peak_rss_mib": common.peak_rss_mib(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True, default=float)
    print(f"wrote {args.out}: test {result['test_bits_per_dim']:.3f} bits/dim after {train_seconds / 60:.1f} min "
          f"({result['epochs_seen']:.2f} epochs); 100 samples in {sample_seconds:.2f} s; FID {quality['fid']:.1f}")
    if not args.no_markdown:
        report(args.out)


def report(path):
    with open(path) as handle:
        r = json.load(handle)
    c = r["config"]
    fid, kid = (f"{r['fid']:.1f}", f"{r['kid']:.4f}") if "fid" in r else ("not measured", "")
    common.replace_section(
        NAME,
        "## RealNVP on Fashion-MNIST (issue 15)\n\n"
        f"`RealNVP(num_scales={c['num_scales']}, filters={c['filters']}, num_blocks={c['num_blocks']})` "
        f"({r['parameters']:,} parameters; the paper's CIFAR-10 network has 64 maps and 8 blocks per coupling), "
        f"{r['precision']}, Adam at its defaults, batches of 64, {r['budget_minutes']:g} minutes of wall clock "
        f"({r['train_batches']:,} steps, {r['epochs_seen']:.2f} epochs of the 60k training images). "
        f"Machine: {r['machine']}. Command: `{r['command']}`\n\n"
        "| train images/s | test bits/dim at init | test bits/dim | FID | KID | 100 samples (s) | peak RSS (MiB) |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {r['train_images_per_second']:.0f} | {r['test_bits_per_dim_initial']:.3f} | {r['test_bits_per_dim']:.3f} "
        f"| {fid} | {kid} | {r['sample_100_seconds']:.2f} | {r['peak_rss_mib']:.0f} |\n\n"
        f"Test bits/dim on the {r['test_images']:,} test images, one uniform dequantization draw each (a bound on "
        "the 8-bit images' discrete bits/dim, comparable with the PixelCNN section's figure on the same test set). "
        "Dinh et al. report 3.49 bits/dim on CIFAR-10, a different dataset (colour, far more detail), so the two "
        "figures are not comparable; we know of no published RealNVP figure on Fashion-MNIST. "
        + (f"FID and KID of {r['samples']:,} samples (temperature 1) against the 10,000 test images in the 128-d "
           f"features of kerasgen's Fashion-MNIST classifier (test accuracy {r['classifier_test_accuracy']:.3f}), "
           "the zoo table's space; not Inception FIDs. " if "fid" in r else "")
        + f"Samples: `{r['grid']}`."
        + (f" Exported to `{r['export']['path']}` ({r['export']['mib']:.1f} MiB)." if r.get("export") else ""),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--samples", type=int, default=10_000, help="samples scored for FID and KID")
    parser.add_argument("--export", default=None, help="also export the trained model to this base directory")
    parser.add_argument("--out", default=os.path.join(common.RESULTS_DIR, f"{NAME}.json"))
    parser.add_argument("--no-markdown", action="store_true")
    parser.add_argument("--report", action="store_true")
    arguments = parser.parse_args()
    report(arguments.out) if arguments.report else run(arguments)
