"""DDPM on Fashion-MNIST: FID of its three samplers after a stated training budget, sampling time, speed.

    python benchmarks/ddpm.py --minutes 20 --samples 10000 --ancestral-samples 200 --export saved_models/ddpm_fashion_mnist   # BENCHMARKS.md
    python benchmarks/ddpm.py --report                   # only rewrite the BENCHMARKS.md section
    python benchmarks/ddpm.py --minutes 0.5 --samples 16 --out /tmp/ddpm.json --no-markdown

Trains `kerasgen.models.DDPM` (T = 1000, linear betas, EMA 0.9999 with
warm-up; a U-Net of `--base-filters` maps at multipliers 1, 2, 2) with Adam
2e-4 (the paper's), batches of 128, on the 60k training images for
`--minutes` of wall clock, then draws `--samples` images with each DDIM
sampler (eta = 0, over 50 and 20 steps) and `--ancestral-samples` (default:
as many) with Algorithm 2 over all 1000 steps, which costs 20-50 times more,
timing each after a warm-up call, and scores them against the 10,000 test
images in kerasgen's classifier feature space
(`kerasgen.metrics.features.train_domain_classifier`, trained once and
cached): FID, and KID, whose estimate is unbiased at any sample count.
With `--export DIR` the trained model is also exported there
(`kerasgen.export.save_for_serving`, version 1).
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

NAME = "ddpm"
SAMPLERS = {"ancestral, 1000 steps": dict(ancestral=True), "DDIM, 50 steps": dict(steps=50),
            "DDIM, 20 steps": dict(steps=20)}


def sample_count(args, sampler_options):
    """Images to draw with one sampler: `--ancestral-samples` for Algorithm 2, `--samples` for DDIM."""
    if sampler_options.get("ancestral") and args.ancestral_samples is not None:
        return args.ancestral_samples
    return args.samples


def run(args):
    policy = kerasgen.precision.set_precision("auto")
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0, drop_remainder=True)
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    real = kerasgen.datasets.to_value_range(test_x)
    extractor = features.train_domain_classifier("fashion_mnist")
    model = kerasgen.models.DDPM(image_shape=(28, 28, 1), base_filters=args.base_filters, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-4))
    budget = Budget(args.minutes * 60.0)
    start = time.perf_counter()
    history = model.fit(train, epochs=10_000, callbacks=[budget], verbose=2).history
    train_seconds = time.perf_counter() - start
    test_loss = model.evaluate(kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, shuffle=False),
                               return_dict=True, verbose=0)["loss"]
    real_features = evaluation.extract_features(extractor, real)  # once, for the three samplers
    rows = {}
    for name, options in SAMPLERS.items():
        model.generate(2, seed=0, **options)  # trace
        sampling = []
        count = sample_count(args, options)

        def generate(n, seed, options=options, sampling=sampling):  # timed: sampling only, not the scoring
            start = time.perf_counter()
            images = keras.ops.convert_to_numpy(model.generate(n, seed=seed, **options))
            sampling.append(time.perf_counter() - start)
            return images

        row = evaluation.evaluate_generator(generate, None, extractor, num_samples=count, real_features=real_features,
                                            batch_size=min(count, 250), kid_subset_size=min(count, 1000))
        rows[name] = {"fid": row["fid"], "kid": row["kid"], "samples": count,
                      "seconds_per_100": 100.0 * sum(sampling) / count}
        print(f"{name}: FID {row['fid']:.1f}, KID {row['kid']:.4f}, {rows[name]['seconds_per_100']:.1f} s per 100")
    grid_path = os.path.splitext(args.out)[0] + "_samples.png"
    grid = kerasgen.images.save_grid(keras.ops.convert_to_numpy(model.generate(64, seed=1)), grid_path)
    exported = common.export_model(model, args.export) if args.export else None
    result = {
        "command": common.command_line(),
        "machine": common.machine(),
        "precision": str(policy),
        "parameters": int(model.network.count_params()),
        "config": {k: v for k, v in model.get_config().items()
                   if k in ("timesteps", "beta_schedule", "base_filters", "channel_multipliers", "ema_decay")},
        "budget_minutes": args.minutes,
        "train_batches": budget.batches,
        "train_images_per_second": budget.batches * 128 / train_seconds,
        "epochs_seen": budget.batches * 128 / 60_000,
        "train_loss_last_epoch": history["loss"][-1],
        "test_loss": test_loss,
        "samples": args.samples,
        "ancestral_samples": sample_count(args, SAMPLERS["ancestral, 1000 steps"]),
        "classifier_test_accuracy": float(extractor.test_accuracy),
        "samplers": rows,
        "grid": os.path.relpath(grid, common.ROOT),
        "export": exported,
        "peak_rss_mib": common.peak_rss_mib(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True, default=float)
    print(f"wrote {args.out}")
    if not args.no_markdown:
        report(args.out)


def export_path(export):
    """The export folder a row names (rows before `common.export_model` stored the path alone)."""
    return export["path"] if isinstance(export, dict) else export


def ancestral_note(row):
    """The sentence on how Algorithm 2's row was drawn: in one run, or in resumable chunks."""
    hours = row["seconds_per_100"] * 100 / 3600
    if "target_samples" not in row:  # drawn by this script, in the training run
        return (f"On 2 CPU cores one network call on a sample takes milliseconds, so Algorithm 2's 1000 calls per "
                f"image limit its sample count: the issue's 10k samples would take {hours:.1f} h at the rate above. ")
    note = (f"On 2 CPU cores Algorithm 2's 1000 network calls per image cost {hours:.1f} h per 10k samples, more "
            f"than a session, so its row samples the export (the same EMA weights) in resumable chunks: "
            f"`{row['command']}` (chunk k: {row['chunk']} images with seed {row['seed_base']:,} + k, kept as 8-bit "
            "images as the export serves them). ")
    if row["samples"] < row["target_samples"]:
        left = (row["target_samples"] - row["samples"]) * row["seconds_per_100"] / 100 / 3600
        note += (f"So far {row['samples']:,} of {row['target_samples']:,} samples are drawn; a later run of the "
                 f"same command draws the rest (~{left:.1f} h) and rewrites the row. ")
    return note


def report(path):
    with open(path) as handle:
        r = json.load(handle)
    c = r["config"]
    table = "".join(f"| {name} | {row.get('samples', r['samples']):,} | {row['fid']:.1f} | {row['kid']:.4f} | "
                    f"{row['seconds_per_100']:.1f} |\n" for name, row in r["samplers"].items())
    common.replace_section(
        NAME,
        "## DDPM on Fashion-MNIST (issue 15)\n\n"
        f"`DDPM(timesteps={c['timesteps']}, beta_schedule={c['beta_schedule']!r}, base_filters={c['base_filters']}, "
        f"channel_multipliers={tuple(c['channel_multipliers'])}, ema_decay={c['ema_decay']})` "
        f"({r['parameters']:,} network parameters), {r['precision']}, Adam 2e-4, batches of 128, "
        f"{r['budget_minutes']:g} minutes of wall clock ({r['train_batches']:,} steps, {r['epochs_seen']:.2f} epochs "
        f"of the 60k training images; {r['train_images_per_second']:.0f} training images/s; test loss "
        f"{r['test_loss']:.4f}; peak RSS {r['peak_rss_mib']:.0f} MiB). Machine: {r['machine']}. "
        f"Command: `{r['command']}`\n\n"
        "| sampler | samples | FID | KID | seconds per 100 images |\n|---|---|---|---|---|\n" + table + "\n"
        f"FID and KID against the 10,000 test images in the 128-d features of kerasgen's Fashion-MNIST classifier "
        f"(test accuracy {r['classifier_test_accuracy']:.3f}), the zoo table's space; not Inception FIDs. "
        + ancestral_note(r['samplers']['ancestral, 1000 steps']) +
        "FID is biased upward at small sample counts (compare a row's FID only with FIDs of as many samples); "
        "KID is unbiased at any count. The budget is far short of the paper's 800k steps, so these are early-training figures. "
        f"Samples (DDIM, 50 steps): `{r['grid']}`." + (f" Exported to `{export_path(r['export'])}`." if r.get("export") else ""),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=100, help="images per DDIM sampler (FID and KID)")
    parser.add_argument("--ancestral-samples", type=int, default=None,
                        help="images for the 1000-step ancestral sampler (default: --samples)")
    parser.add_argument("--base-filters", type=int, default=16)
    parser.add_argument("--export", default=None, help="also export the trained model to this base directory")
    parser.add_argument("--out", default=os.path.join(common.RESULTS_DIR, f"{NAME}.json"))
    parser.add_argument("--no-markdown", action="store_true")
    parser.add_argument("--report", action="store_true")
    arguments = parser.parse_args()
    report(arguments.out) if arguments.report else run(arguments)
