"""Every registered model on Fashion-MNIST under one budget: quality, speed, memory, size.

    python benchmarks/zoo.py                      # full run: 5 min of training per model (~1.7 h), writes BENCHMARKS.md
    python benchmarks/zoo.py --models vae wgan    # re-run some models; the table is rebuilt from every stored row
    python benchmarks/zoo.py --report             # only rebuild the BENCHMARKS.md table from stored rows
    python benchmarks/zoo.py --quick --out /tmp/zoo   # CI smoke: small configs, seconds each, no BENCHMARKS.md

Each model trains in its own process (so peak memory is its own) with the CLI defaults
(paper optimizers, `--precision auto`) for a fixed wall-clock budget, then generates
10,000 images that are scored against the 10,000 test images in the features of
kerasgen's Fashion-MNIST classifier (`kerasgen.metrics.features.train_domain_classifier`,
cached): FID, KID (with standard error), precision/recall. VAEs also report the test
negative ELBO. The table adds the real-data floor (10,000 training vs test images) and a
hand-written `tf.function` DCGAN loop (from benchmarks/gan_throughput.py) trained under
the same budget; its parameter count is the generator's, and its peak memory is not
separated from the loop's process. Each row records how many CPU cores its process could
use (run under `taskset -c 0` to measure on one core while the other is busy).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Published Inception FIDs on Fashion-MNIST (a different feature space: not comparable
# with the numbers above, listed for orientation). Lucic et al. (2018), "Are GANs Created
# Equal?", best FID per model; Hoshen et al. (2019), "Non-Adversarial Image Synthesis with
# Generative Latent Nearest Neighbors" (GLO, GLANN).
#: Models scored on fewer than the 10,000 samples (marked in the table; KID is unbiased at
#: any sample size, FID is biased upwards). Empty since PixelCNN and PixelRNN sample with
#: their cached samplers (about a second per 64 images).
SAMPLE_CAP = {}
#: Sampler settings where `generate`'s default is not what the zoo can afford: DDPM's 10,000
#: samples by deterministic DDIM with 20 steps (~1 min per 1,000 on one core; BENCHMARKS.md's
#: DDPM section compares it with the 1,000-step ancestral sampler).
SAMPLER = {"ddpm": {"steps": 20, "eta": 0.0}}
#: Test-split likelihood terms recorded for the models that report them.
LIKELIHOODS = ("neg_elbo", "bits_per_dim")
#: Other held-out terms worth a column: DDPM's noise-prediction MSE, VQ-VAE's reconstruction
#: MSE and codebook use on the test split.
TEST_TERMS = {"ddpm": ("loss",), "vqvae": ("reconstruction_loss", "codebook_usage", "perplexity")}

PUBLISHED_INCEPTION_FID = {"NS GAN": 26.5, "WGAN": 21.5, "LSGAN": 30.7, "VAE": 58.7, "GLO": 57.7, "GLANN": 13.0}


class WallClockBudget:
    """A Keras callback stopping `fit` once `seconds` have passed (checked every batch)."""

    def __new__(cls, seconds):
        import keras

        class _Budget(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.start, self.images = time.perf_counter(), 0

            def on_train_batch_end(self, batch, logs=None):
                if time.perf_counter() - self.start > seconds:
                    self.model.stop_training = True

        return _Budget()


def run_one(name, budget_seconds, num_samples, quick, classifier_kwargs, out_path):
    """Trains and scores one model in this process; writes its JSON row to `out_path`."""
    import resource

    import keras
    import numpy as np

    import kerasgen
    from kerasgen.metrics import evaluation, features

    kerasgen.precision.set_precision("auto")
    keras.utils.set_random_seed(0)
    spec = kerasgen.models.REGISTRY[name]
    model = spec.create(**(spec.small_config if quick else {}), image_shape=(28, 28, 1), seed=0)
    model.compile()
    # The CLI's batches: the model's default images per update (a GAN's fit batch holds k minibatches).
    batch = model.fit_batch_size(model.default_batch_size)
    train = spec.data.load(batch_size=batch, seed=0, value_range=model.value_range, drop_remainder=True,
                           limit=2048 if quick else None)
    budget = WallClockBudget(budget_seconds)
    seen = {"batches": 0}

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, b, logs=None):
            seen["batches"] += 1

    start = time.perf_counter()
    model.fit(train, epochs=10_000, callbacks=[budget, Count()], verbose=0)
    seconds = time.perf_counter() - start
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    extractor = features.train_domain_classifier("fashion_mnist", **classifier_kwargs)
    real = kerasgen.datasets.to_value_range(test_x, extractor.value_range)
    translation = {}
    if spec.pairing:  # translations of the test split's domain A, scored against its domain B
        translation = translation_scores(model, spec, extractor, limit=num_samples if quick else None)
        real, sources = translation.pop("real"), translation.pop("sources")
        num_samples = min(num_samples, len(sources))
        generate, scored = in_order(sources, model.translate), "translations"
    elif callable(getattr(model, "generate", None)):
        def generate(n, seed):
            return keras.ops.convert_to_numpy(model.generate(n, seed=seed, **SAMPLER.get(name, {})))
        scored = "samples"
    else:  # no prior (autoencoders): score what serving_default makes of held-out training images
        train_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train")
        pool = kerasgen.datasets.to_value_range(train_x[-num_samples:], model.value_range)
        serve = model.serving_endpoints()["serving_default"]
        generate, scored = in_order(pool, lambda batch: serve(images=batch)["images"]), "reconstructions"
    num_samples = min(num_samples, SAMPLE_CAP.get(name, num_samples))
    row = evaluation.evaluate_generator(generate, real, extractor, num_samples=num_samples,
                                        kid_subsets=20 if quick else 100, kid_subset_size=kid_subset_size(num_samples, len(real)))
    row["scored"] = scored
    if name in SAMPLER:
        row["sampler"] = SAMPLER[name]
    row.update(translation)
    row.update(model=type(model).__name__, name=name, train_seconds=seconds, train_batches=seen["batches"],
               train_images_per_second=seen["batches"] * batch / seconds, parameters=int(model.count_params()),
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
               classifier_test_accuracy=extractor.test_accuracy, cpus=len(os.sched_getaffinity(0)))
    if set(LIKELIHOODS) & set(model.trackers) or name in TEST_TERMS:  # held-out terms: on the test split
        test = spec.data.load(split="test", batch_size=1000, value_range=model.value_range)
        scores = model.evaluate(test, return_dict=True, verbose=0)
        if "neg_elbo" in scores:
            row["test_negative_elbo"] = float(scores["neg_elbo"])
        if "bits_per_dim" in scores:
            row["test_bits_per_dim"] = float(scores["bits_per_dim"])
        row.update({f"test_{term}": float(scores[term]) for term in TEST_TERMS.get(name, ())})
    row.pop("num_real", None)
    with open(out_path, "w") as handle:
        json.dump(row, handle, indent=2, default=float)
    print(f"{name}: FID {row['fid']:.2f}, {row['train_images_per_second']:.0f} img/s")


def kid_subset_size(num_fake, num_real):
    """1,000 (Binkowski et al.'s subset size), but at most half the smaller set, so that KID's
    subsets differ and its standard error means something (1,000 of 1,000 is always everything)."""
    return min(1000, num_fake // 2, num_real // 2)


def in_order(images, transform):
    """A `generate(n, seed)` for `evaluate_generator` returning `transform` of the next n `images`."""
    import keras

    offset = {"next": 0}

    def generate(n, seed):
        batch = images[offset["next"]:offset["next"] + n]
        offset["next"] += n
        return keras.ops.convert_to_numpy(transform(batch))

    return generate


def translation_scores(model, spec, extractor, limit=None):
    """Held-out figures of a translation model, and its test sources and real targets.

    Returns a dict with `real` (the test split's domain B images, what translations are
    compared with) and `sources` (domain A test images), both in the model's value range
    (the classifier's too), plus: for pix2pix, `test_l1` (mean |y - G(x)|) and
    `class_kept` (how often the classifier gives a translation its source image's class,
    the spirit of pix2pix's "FCN-score"); for CycleGAN, `test_cycle_l1` (mean of both
    cycle errors) and `target_class_rate` (how often a translated A image is classified
    as class B, e.g. a translated sneaker as an ankle boot). `limit` keeps the first N test
    images (of each domain).
    """
    import keras
    import numpy as np

    import kerasgen

    test = kerasgen.datasets.fashion_mnist_translation(
        spec.pairing, split="test", batch_size=10_000, shuffle=False, limit=limit)
    sources, real = (tensor.numpy() for tensor in next(iter(test)))
    translated = np.concatenate([keras.ops.convert_to_numpy(model.translate(sources[i:i + 500]))
                                 for i in range(0, len(sources), 500)])
    predicted = extractor.logits(translated).argmax(axis=1)
    scores = model.evaluate(test.unbatch().batch(500), return_dict=True, verbose=0)
    out = {"real": real, "sources": sources}
    if spec.pairing == "paired":
        _, labels = kerasgen.datasets.load_arrays("fashion_mnist", split="test", limit=limit)
        out.update(test_l1=float(scores["l1_loss"]), class_kept=float(np.mean(predicted == labels)))
    else:
        out.update(test_cycle_l1=float((scores["cycle_a_loss"] + scores["cycle_b_loss"]) / 2),
                   target_class_rate=float(np.mean(predicted == kerasgen.datasets.FASHION_MNIST_DOMAINS[1])))
    return out


HANDWRITTEN = "handwritten_dcgan"


def run_handwritten_dcgan(budget_seconds, num_samples, quick, classifier_kwargs, out_path):
    """The DCGAN baseline without kerasgen's train_step: benchmarks/gan_throughput.py's
    hand-written tf.function loop, trained epoch by epoch until the budget is spent."""
    import keras
    import numpy as np

    import kerasgen
    from benchmarks import gan_throughput
    from kerasgen.metrics import evaluation, features

    kerasgen.precision.set_precision("auto")
    keras.utils.set_random_seed(0)
    run_epoch = gan_throughput.loop_epoch_runner("dcgan", limit=2048 if quick else None)
    seconds, epochs = 0.0, 0
    while seconds < budget_seconds:
        seconds += run_epoch()
        epochs += 1
    generator = run_epoch.generator
    extractor = features.train_domain_classifier("fashion_mnist", **classifier_kwargs)
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")

    def generate(count, seed):
        z = np.random.default_rng(seed).normal(size=(count, 100)).astype("float32")
        return keras.ops.convert_to_numpy(keras.ops.cast(generator(z, training=False), "float32"))

    row = evaluation.evaluate_generator(generate, kerasgen.datasets.to_value_range(test_x), extractor, num_samples=num_samples)
    row.update(model="hand-written tf.function DCGAN", name=HANDWRITTEN, train_seconds=seconds,
               train_images_per_second=epochs * run_epoch.images_per_epoch / seconds,
               parameters=int(generator.count_params()), peak_rss_mib=float("nan"),
               classifier_test_accuracy=extractor.test_accuracy, cpus=len(os.sched_getaffinity(0)))
    with open(out_path, "w") as handle:
        json.dump(row, handle, indent=2, default=float)
    print(f"{HANDWRITTEN}: FID {row['fid']:.2f}")


def real_data_floor(classifier_kwargs, num_samples):
    import kerasgen
    from kerasgen.metrics import evaluation, features

    extractor = features.train_domain_classifier("fashion_mnist", **classifier_kwargs)
    train_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train", limit=num_samples)
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    to_range = kerasgen.datasets.to_value_range
    return evaluation.evaluate_samples(to_range(test_x), to_range(train_x), extractor)


def main():
    import kerasgen

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small configs, 2048 images, seconds per model")
    parser.add_argument("--budget-minutes", type=float, default=None, help="training wall-clock per model (default 5; quick 0.1)")
    parser.add_argument("--report", action="store_true", help="only rebuild the BENCHMARKS.md table from stored rows")
    parser.add_argument("--models", nargs="*", default=[*kerasgen.models.REGISTRY, HANDWRITTEN],
                        help=f"registry names and/or {HANDWRITTEN} (default: all)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "zoo"), help="folder for per-model JSON")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one model in this process
    args = parser.parse_args()
    budget = 60 * (args.budget_minutes if args.budget_minutes is not None else (0.1 if args.quick else 5.0))
    num_samples = 500 if args.quick else 10_000
    classifier_kwargs = {"epochs": 1, "limit": 2048} if args.quick else {}
    os.makedirs(args.out, exist_ok=True)
    if args.report:
        return write_report(args.out)
    if args.one:
        out_path = os.path.join(args.out, f"{args.one}.json")
        if args.one == HANDWRITTEN:
            run_handwritten_dcgan(budget, num_samples, args.quick, classifier_kwargs, out_path)
        else:
            run_one(args.one, budget, num_samples, args.quick, classifier_kwargs, out_path)
        return
    kerasgen.metrics.features.train_domain_classifier("fashion_mnist", **classifier_kwargs)  # trained once, cached
    for name in args.models:
        command = [sys.executable, os.path.abspath(__file__), "--one", name, "--out", args.out,
                   "--budget-minutes", str(budget / 60)] + (["--quick"] if args.quick else [])
        subprocess.run(command, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    floor = real_data_floor(classifier_kwargs, num_samples)
    with open(os.path.join(args.out, "real_data_floor.json"), "w") as handle:
        json.dump(floor, handle, indent=2, default=float)
    if not args.quick:
        write_report(args.out)


def write_report(folder):
    """Rebuilds the zoo section of BENCHMARKS.md from every row stored in `folder`."""
    import kerasgen
    from benchmarks import common

    order = [*kerasgen.models.REGISTRY, HANDWRITTEN]
    stored = {f[:-5]: json.load(open(os.path.join(folder, f))) for f in os.listdir(folder) if f.endswith(".json")}
    floor = stored.pop("real_data_floor")
    rows = sorted(stored.values(), key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    budget_minutes = round(min(r["train_seconds"] for r in rows) / 60)
    overshoot = {r["name"]: r["train_seconds"] for r in rows if r["train_seconds"] > 60 * budget_minutes + 20}
    cpus = sorted({r.get("cpus", os.cpu_count()) for r in rows})
    def likelihood(row):
        if "test_negative_elbo" in row:
            return f"-ELBO {row['test_negative_elbo']:.1f} nats"
        if "test_bits_per_dim" in row:
            return f"{row['test_bits_per_dim']:.3f} bits/dim"
        if "test_codebook_usage" in row:
            return (f"recon. MSE {row['test_reconstruction_loss']:.4f}; {100 * row['test_codebook_usage']:.0f}% of codes "
                    f"used, perplexity {row['test_perplexity']:.1f}")
        if row["name"] == "ddpm" and "test_loss" in row:
            return f"noise MSE {row['test_loss']:.4f}"
        if "test_l1" in row:
            return f"L1 {row['test_l1']:.3f}; class kept {100 * row['class_kept']:.0f}%"
        if "test_cycle_l1" in row:
            return f"cycle L1 {row['test_cycle_l1']:.3f}; {100 * row['target_class_rate']:.0f}% classified as B"
        return ""

    def rss(row):
        return "—" if math.isnan(row["peak_rss_mib"]) else f"{row['peak_rss_mib']:.0f}"  # NaN: not separable

    def name(row):
        if row.get("scored") == "reconstructions":
            return f"{row['name']} (recon.)"
        if row.get("scored") == "translations":
            return f"{row['name']} (transl.)"
        if row.get("num_fake", 10_000) < 10_000:
            return f"{row['name']} ({row['num_fake']:,} samples)"
        if "steps" in row.get("sampler", {}):
            return f"{row['name']} (DDIM, {row['sampler']['steps']} steps)"
        return row["name"]

    lines = [
        f"| {name(r)} | {r['fid']:.2f} | {r['kid']:.4f} ± {r['kid_std_error']:.4f} | {r['precision']:.2f} / {r['recall']:.2f} "
        f"| {r['train_images_per_second']:.0f} | {rss(r)} "
        f"| {r['parameters']:,}{' (G)' if r['name'] == HANDWRITTEN else ''} | {likelihood(r)} |"
        for r in rows
    ]
    published = ", ".join(f"{name} {fid}" for name, fid in PUBLISHED_INCEPTION_FID.items())
    common.replace_section(
        "zoo",
        "## The zoo on Fashion-MNIST (issue 5)\n\n"
        f"Command: `python benchmarks/zoo.py`. Every model trained for {budget_minutes} minutes of wall clock "
        "(fit stops at the first batch end past the budget"
        + "".join(f"; {name} stopped at {seconds:.0f} s" for name, seconds in sorted(overshoot.items()))
        + f") on {'/'.join(map(str, cpus))} CPU core(s) per model process with its "
        "paper defaults and `--precision auto`; 10,000 samples vs the 10,000 test images in the features of "
        f"kerasgen's Fashion-MNIST classifier (test accuracy {rows[0]['classifier_test_accuracy']:.3f}). "
        f"Real-data floor (training vs test images): FID {floor['fid']:.2f}. Autoencoders have no prior to sample: "
        "their rows (recon.) score reconstructions of 10,000 training images. Translation models (transl.) "
        "translate the test split's domain A and are scored against its domain B: pix2pix's edge maps of the "
        "10,000 test images against those images, CycleGAN's 1,000 test sneakers against the 1,000 test ankle "
        "boots (FID on 1,000 samples is biased upwards; KID is not); their images/s count pairs, and the last "
        "column gives the test L1 and the share of translations the classifier puts in the intended class.\n\n"
        "| model | FID (classifier) | KID | precision / recall | train images/s | peak RSS MiB | parameters | "
        "test likelihood / translation |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
        f"Published Inception FIDs on Fashion-MNIST (different feature space, not comparable): {published}.",
    )


if __name__ == "__main__":
    main()
