"""VQ-VAE on Fashion-MNIST: test reconstruction error, codebook usage, FID of prior samples, speed, memory.

    python benchmarks/vqvae.py --minutes 6 --prior-minutes 3 --export saved_models/vqvae_fashion_mnist   # BENCHMARKS.md
    python benchmarks/vqvae.py --report                            # only rewrite the BENCHMARKS.md section
    python benchmarks/vqvae.py --minutes 0.2 --prior-minutes 0.1 --samples 500 --out /tmp/vqvae.json --no-markdown

Trains `kerasgen.models.VQVAE` (`--num-codes` codes of 64, `--filters` hidden
units; the paper's K = 512 and 256 units) with `fit` for `--minutes` of wall
clock (eq. 3 with Adam 2e-4, the prior alongside with Adam 1e-3), then the
paper's second stage, `fit_prior` on the frozen encoder's codes, for
`--prior-minutes`; batches of 128 of the 60k training images. Reports on the
10,000 test images: reconstruction MSE (in [-1, 1] units), the fraction of
the codebook any test image uses and the perplexity of the test codes, the
prior's bits per code, and the FID and KID of `--samples` prior samples (and,
for reference, of the test images' reconstructions) in kerasgen's classifier
feature space (`kerasgen.metrics.features.train_domain_classifier`). With
`--export DIR` the trained model (encoder, codebook, decoder and prior) is
also exported there (version 1, for TF Serving).
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
import numpy as np

import kerasgen
from benchmarks import common
from benchmarks.common import Budget
from kerasgen.metrics import evaluation, features

NAME = "vqvae"


def run(args):
    policy = kerasgen.precision.set_precision("auto")
    keras.utils.set_random_seed(0)
    train = kerasgen.datasets.load("fashion_mnist", split="train", batch_size=128, seed=0)
    test = kerasgen.datasets.load("fashion_mnist", split="test", batch_size=500, shuffle=False)
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    real = kerasgen.datasets.to_value_range(test_x)
    extractor = features.train_domain_classifier("fashion_mnist")
    model = kerasgen.models.VQVAE(image_shape=(28, 28, 1), num_codes=args.num_codes, filters=args.filters, seed=0)
    model.compile()
    budget = Budget(args.minutes * 60.0)
    start = time.perf_counter()
    model.fit(train, epochs=10_000, callbacks=[budget], verbose=2)
    train_seconds = time.perf_counter() - start
    joint = model.evaluate(test, return_dict=True, verbose=0)
    prior_budget = Budget(args.prior_minutes * 60.0)
    start = time.perf_counter()
    model.fit_prior(train, epochs=10_000, callbacks=[prior_budget], verbose=2)
    prior_seconds = time.perf_counter() - start
    scores = model.evaluate(test, return_dict=True, verbose=0)

    codes = np.concatenate([keras.ops.convert_to_numpy(model.encode(batch)) for batch in test])
    frequencies = np.bincount(codes.reshape(-1), minlength=args.num_codes) / codes.size
    nonzero = frequencies[frequencies > 0]
    test_perplexity = float(np.exp(-(nonzero * np.log(nonzero)).sum()))

    model.generate(2, seed=0)  # trace the sampler
    sampling = []

    def generate(n, seed):
        begin = time.perf_counter()
        images = keras.ops.convert_to_numpy(model.generate(n, seed=seed))
        sampling.append(time.perf_counter() - begin)
        return images

    real_features = evaluation.extract_features(extractor, real)  # once, for the samples and the reconstructions
    prior_row = evaluation.evaluate_generator(generate, None, extractor, num_samples=args.samples,
                                              real_features=real_features)
    reconstructions = np.concatenate([keras.ops.convert_to_numpy(model.reconstruct(batch)) for batch in test])
    reconstruction_row = evaluation.evaluate_samples(None, reconstructions, extractor, real_features=real_features)
    grid = kerasgen.images.save_grid(keras.ops.convert_to_numpy(model.generate(64, seed=1)),
                                     os.path.splitext(args.out)[0] + "_samples.png")
    exported = common.export_model(model, args.export) if args.export else None
    result = {
        "command": common.command_line(),
        "machine": common.machine(),
        "precision": str(policy),
        "config": {k: v for k, v in model.get_config().items()
                   if k in ("num_codes", "code_dim", "filters", "num_residual_blocks", "beta", "ema",
                            "prior_filters", "prior_layers", "prior_embedding_dim")},
        "parameters": int(model.encoder.count_params() + model.decoder.count_params()
                          + model.quantizer.count_params()),
        "prior_parameters": int(model.prior.count_params()),
        "budget_minutes": args.minutes,
        "prior_budget_minutes": args.prior_minutes,
        "train_batches": budget.batches,
        "train_images_per_second": budget.batches * 128 / train_seconds,
        "prior_batches": prior_budget.batches,
        "prior_images_per_second": prior_budget.batches * 128 / prior_seconds,
        "epochs_seen": budget.batches * 128 / 60_000,
        "test_reconstruction_mse": scores["reconstruction_loss"],
        "test_codebook_usage": float((frequencies > 0).mean()),
        "test_perplexity": test_perplexity,
        "batch_perplexity": scores["perplexity"],
        "prior_bits_per_code_after_fit": joint["prior_bits_per_code"],
        "prior_bits_per_code": scores["prior_bits_per_code"],
        "samples": args.samples,
        "prior_fid": prior_row["fid"],
        "prior_kid": prior_row["kid"],
        "reconstruction_fid": reconstruction_row["fid"],
        "sample_100_seconds": 100.0 * sum(sampling) / args.samples,
        "classifier_test_accuracy": float(extractor.test_accuracy),
        "grid": os.path.relpath(grid, common.ROOT),
        "export": exported,
        "peak_rss_mib": common.peak_rss_mib(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True, default=float)
    print(json.dumps(result, indent=2, default=float))
    if not args.no_markdown:
        report(args.out)


def report(path):
    with open(path) as handle:
        r = json.load(handle)
    c = r["config"]
    common.replace_section(
        NAME,
        "## VQ-VAE on Fashion-MNIST (issue 15)\n\n"
        f"`VQVAE(num_codes={c['num_codes']}, code_dim={c['code_dim']}, filters={c['filters']}, "
        f"num_residual_blocks={c['num_residual_blocks']}, beta={c['beta']}, ema={c['ema']})` "
        f"({r['parameters']:,} parameters; the paper's K = 512 and 256 hidden units) with a PixelCNN prior "
        f"(`prior_filters={c['prior_filters']}, prior_layers={c['prior_layers']}, "
        f"prior_embedding_dim={c['prior_embedding_dim']}`, {r['prior_parameters']:,} parameters) on the 7x7 code "
        f"grid, {r['precision']}, batches of 128. `fit` for {r['budget_minutes']:g} minutes ({r['train_batches']:,} "
        f"steps, {r['epochs_seen']:.2f} epochs; eq. 3 with Adam 2e-4 and the prior alongside with Adam 1e-3), then "
        f"`fit_prior` on the frozen codes for {r['prior_budget_minutes']:g} minutes ({r['prior_batches']:,} steps). "
        f"Machine: {r['machine']}. Command: `{r['command']}`\n\n"
        "| train images/s (fit) | prior images/s (fit_prior) | test reconstruction MSE | codebook used by the "
        "test set | test code perplexity | prior bits/code (after fit, after fit_prior) | FID of prior samples | "
        "KID | FID of reconstructions | 100 samples (s) | peak RSS (MiB) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {r['train_images_per_second']:.0f} | {r['prior_images_per_second']:.0f} | "
        f"{r['test_reconstruction_mse']:.4f} | {100 * r['test_codebook_usage']:.0f}% | {r['test_perplexity']:.1f} | "
        f"{r['prior_bits_per_code_after_fit']:.3f}, {r['prior_bits_per_code']:.3f} | {r['prior_fid']:.1f} | "
        f"{r['prior_kid']:.4f} | {r['reconstruction_fid']:.1f} | {r['sample_100_seconds']:.2f} | "
        f"{r['peak_rss_mib']:.0f} |\n\n"
        f"MSE on the 10,000 test images in [-1, 1] units. FID and KID of {r['samples']:,} prior samples against the "
        "10,000 test images in the 128-d features of kerasgen's Fashion-MNIST classifier (test accuracy "
        f"{r['classifier_test_accuracy']:.3f}), the zoo table's space, not Inception FIDs; the reconstructions' FID "
        "is what a perfect prior would reach with this decoder. Perplexity is exp of the entropy of the test "
        f"set's code frequencies (at most {c['num_codes']}). Samples: `{r['grid']}`."
        + (f" Exported to `{r['export']['path']}` ({r['export']['mib']:.1f} MiB)." if r.get("export") else ""),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--prior-minutes", type=float, default=3.0)
    parser.add_argument("--num-codes", type=int, default=128)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--export", default=None, help="also export the trained model to this base directory")
    parser.add_argument("--out", default=os.path.join(common.RESULTS_DIR, f"{NAME}.json"))
    parser.add_argument("--no-markdown", action="store_true")
    parser.add_argument("--report", action="store_true")
    arguments = parser.parse_args()
    report(arguments.out) if arguments.report else run(arguments)
