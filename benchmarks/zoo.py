"""Every registered model on Fashion-MNIST at equal generator updates: quality, speed, memory.

    python benchmarks/zoo.py                         # full run: 9,360 updates per model (20 DCGAN epochs), 3 seeds
                                                     # per GAN: about a day on 2 CPU cores (WGAN-GP and SNGAN make
                                                     # ~0.9 generator updates/s there), hours on a GPU
    python benchmarks/zoo.py --updates 500 --models dcgan wgan_gp sngan   # some models; the table is rebuilt from every stored row
    python benchmarks/zoo.py --export-models sngan --export-dir saved_models  # also export seed 0 for TF Serving
    python benchmarks/zoo.py --report                # only rebuild the BENCHMARKS.md table, grids sheet and FID plot
    python benchmarks/zoo.py --quick --out /tmp/zoo  # CI smoke: small configs, a few updates, no BENCHMARKS.md
    python benchmarks/zoo.py --models dcgan --seeds 1 --updates 1872 --export-models dcgan \
        --out benchmarks/results/zoo_exports --no-markdown   # an export at another budget, outside the table

Lucic et al. (2018) compare GANs at equal generator updates, not equal wall clock: a
WGAN-GP step holds five critic updates, so a wall-clock budget hands DCGAN five times the
generator updates and ranks the models by speed. Each model here trains (in its own
process, so peak memory is its own) with its paper defaults (`compile()` with no
arguments, the CLI's batches, `--precision auto`) for exactly `--updates` updates of its
generator, or of its one optimizer for a model that has one; WGAN's warm-up is counted
through `model.optimizer_updates_after`. GANs train `--seeds` times (default 3), the others
`--other-seeds` times (default 1): at a few thousand updates a GAN's FID moves by several
units between seeds, so the table gives mean and standard deviation and ranks by the mean.

Scoring: 10,000 images against the 10,000 test images in the features of kerasgen's
Fashion-MNIST classifier (`kerasgen.metrics.features.train_domain_classifier`, cached):
FID, KID (with standard error), precision/recall; held-out likelihoods where a model has
one. GANs also record FID on 2,000 samples every `--curve-every` updates (the FID curve,
`fid_vs_updates.png`; those evaluations are not counted in the training time). Every
model writes an 8x8 grid of seed 0's samples (from its SavedModel export when it is
exported) to OUT/grids/, and the report tiles them into one contact sheet. Rows record
the CPU and the cores their process could use.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

#: 20 epochs of DCGAN's minibatch of 128 on the 60,000 training images (468 updates each).
DEFAULT_UPDATES = 20 * (60_000 // 128)
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
#: Samples per point of the GANs' FID curve (FID is biased upwards at 2,000; the points
#: compare with each other, the table's 10,000-sample FID with the table).
CURVE_SAMPLES = 2000
#: How the parent process tells each model's process the command line that ran the zoo (kept in its row).
COMMAND_VARIABLE = "KERASGEN_ZOO_COMMAND"

#: Published Inception FIDs on Fashion-MNIST, a different feature space (not comparable with
#: the table's; for orientation): Lucic et al. (2018), "Are GANs Created Equal?", best FID per
#: model (their NS GAN is the non-saturating DCGAN-style GAN), and Hoshen et al. (2019),
#: "Non-Adversarial Image Synthesis with Generative Latent Nearest Neighbors" (VAE, GLO, GLANN).
PUBLISHED_INCEPTION_FID = {"dcgan": ("NS GAN", 26.5), "wgan": ("WGAN", 21.5), "lsgan": ("LSGAN", 30.7),
                           "vae": ("VAE", 58.7), "glo": ("GLO", 57.7), "glann": ("GLANN", 13.0)}


def fit_steps_for(model, updates):
    """The fewest fit steps after which an untrained `model` has made `updates` updates.

    One per step for most models; WGAN's warm-up makes some steps critic-only, so this
    searches `model.optimizer_updates_after` (monotone in the step count).
    """
    def reached(steps):
        return model.optimizer_updates_after(steps, from_start=True) >= updates

    high = max(1, updates)
    while not reached(high):
        high *= 2
    low = 0  # not reached(low) unless updates == 0
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if reached(middle) else (middle, high)
    return 0 if updates <= 0 else high


def row_path(folder, name, seed):
    return os.path.join(folder, f"{name}_seed{seed}.json")


def run_one(name, seed, updates, num_samples, quick, classifier_kwargs, folder, curve_every=0, export_dir=None):
    """Trains `name` for `updates` updates with `seed`, scores it, writes its JSON row (and grid)."""
    import resource

    import keras

    import kerasgen
    from benchmarks import common
    from kerasgen import images
    from kerasgen.metrics import evaluation, features

    kerasgen.precision.set_precision("auto")
    keras.utils.set_random_seed(seed)
    spec = kerasgen.models.REGISTRY[name]
    model = spec.create(**(spec.small_config if quick else {}), image_shape=(28, 28, 1), seed=seed)
    model.compile()
    # The CLI's batches: the model's default images per update (a GAN's fit batch holds k minibatches).
    batch = model.fit_batch_size(model.default_batch_size)
    train = spec.data.load(batch_size=batch, seed=seed, value_range=model.value_range, drop_remainder=True,
                           limit=2048 if quick else None)
    extractor = features.train_domain_classifier("fashion_mnist", **classifier_kwargs)
    test_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="test")
    real = kerasgen.datasets.to_value_range(test_x, extractor.value_range)
    # Once, for every curve point and the final score; translation models score against
    # their own test pairs, whose features are extracted below.
    real_features = None if spec.pairing else evaluation.extract_features(extractor, real)
    steps = fit_steps_for(model, updates)
    checkpoints = {}
    if curve_every and spec.family == "gan":
        marks = [*range(curve_every, updates, curve_every), updates]
        checkpoints = {fit_steps_for(model, mark): mark for mark in marks}
    curve_samples = min(CURVE_SAMPLES, num_samples)

    def sample(n, sample_seed):
        return keras.ops.convert_to_numpy(model.generate(n, seed=sample_seed, **SAMPLER.get(name, {})))

    class Schedule(keras.callbacks.Callback):
        """Stops fit after `steps` steps; scores the FID curve's points, timing them apart."""

        def on_train_begin(self, logs=None):
            self.steps, self.curve, self.scoring_seconds = 0, [], 0.0

        def on_train_batch_end(self, batch_index, logs=None):
            self.steps += 1
            if self.steps in checkpoints:
                begin = time.perf_counter()
                point = evaluation.evaluate_generator(sample, None, extractor, num_samples=curve_samples, seed=10_000,
                                                      real_features=real_features,
                                                      kid_subsets=10, kid_subset_size=kid_subset_size(curve_samples, len(real)))
                self.curve.append([checkpoints[self.steps], float(point["fid"])])
                self.scoring_seconds += time.perf_counter() - begin
            if self.steps >= steps:
                self.model.stop_training = True

    schedule = Schedule()
    start = time.perf_counter()
    model.fit(train, epochs=10_000, callbacks=[schedule], verbose=0)
    seconds = time.perf_counter() - start - schedule.scoring_seconds
    made = model.optimizer_updates_after(0)
    if made != updates:
        raise RuntimeError(f"{name} made {made} updates, expected {updates}.")
    translation = {}
    if spec.pairing:  # translations of the test split's domain A, scored against its domain B
        translation = translation_scores(model, spec, extractor, limit=num_samples if quick else None)
        real, sources = translation.pop("real"), translation.pop("sources")
        real_features = evaluation.extract_features(extractor, real)
        num_samples = min(num_samples, len(sources))
        generate, scored = in_order(sources, model.translate), "translations"
        grid = sources[:32], keras.ops.convert_to_numpy(model.translate(sources[:32]))
        grid = [image for pair in zip(*grid) for image in pair]  # source, translation, source, ...
    elif callable(getattr(model, "generate", None)):
        generate, scored = sample, "samples"
        grid = None
    else:  # no prior (autoencoders): score what serving_default makes of held-out training images
        train_x, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train")
        pool = kerasgen.datasets.to_value_range(train_x[-num_samples:], model.value_range)
        serve = model.serving_endpoints()["serving_default"]
        generate, scored = in_order(pool, lambda batch: serve(images=batch)["images"]), "reconstructions"
        grid = [image for pair in zip(pool[:32], keras.ops.convert_to_numpy(serve(images=pool[:32])["images"]))
                for image in pair]
    num_samples = min(num_samples, SAMPLE_CAP.get(name, num_samples))
    row = evaluation.evaluate_generator(generate, None, extractor, num_samples=num_samples, real_features=real_features,
                                        kid_subsets=20 if quick else 100, kid_subset_size=kid_subset_size(num_samples, len(real)))
    row["scored"] = scored
    if name in SAMPLER:
        row["sampler"] = SAMPLER[name]
    row.update(translation)
    row.update(model=type(model).__name__, name=name, family=spec.family, seed=seed, updates=updates,
               train_batches=schedule.steps, batch_images=batch, train_seconds=seconds,
               train_images_per_second=schedule.steps * batch / seconds, parameters=int(model.count_params()),
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
               classifier_test_accuracy=extractor.test_accuracy, cpus=len(os.sched_getaffinity(0)),
               cpu=kerasgen.precision.cpu_model(),
               dtype_policy=model.dtype_policy.name, quick=quick, command=os.environ.get(COMMAND_VARIABLE, ""))
    if schedule.curve:
        row["fid_curve"] = schedule.curve
    if set(LIKELIHOODS) & set(model.trackers) or name in TEST_TERMS:  # held-out terms: on the test split
        test = spec.data.load(split="test", batch_size=1000, value_range=model.value_range)
        scores = model.evaluate(test, return_dict=True, verbose=0)
        if "neg_elbo" in scores:
            row["test_negative_elbo"] = float(scores["neg_elbo"])
        if "bits_per_dim" in scores:
            row["test_bits_per_dim"] = float(scores["bits_per_dim"])
        row.update({f"test_{term}": float(scores[term]) for term in TEST_TERMS.get(name, ())})
    if seed == 0:
        grid_path = os.path.join(folder, "grids", f"{name}.png")
        if export_dir and scored == "samples":
            row["export"] = common.export_model(model, os.path.join(export_dir, f"{name}_fashion_mnist"))
            grid = exported_samples(row["export"]["path"], 64)
        elif grid is None:
            grid = sample(64, 0)
        images.save_grid(grid, grid_path, value_range=model.value_range, columns=8)
    row.pop("num_real", None)
    with open(row_path(folder, name, seed), "w") as handle:
        json.dump(row, handle, indent=2, default=float)
    print(f"{name} seed {seed}: FID {row['fid']:.2f} after {updates} updates, {seconds:.0f} s, "
          f"{row['train_images_per_second']:.0f} img/s", flush=True)


def exported_samples(path, count):
    """`count` images drawn through an export's `serving_default` with TensorFlow alone (as `kerasgen evaluate`)."""
    from kerasgen import cli

    generate, _ = cli._saved_model_generator(os.path.join(ROOT, path) if not os.path.isabs(path) else path)
    return generate(count, 0)


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
    parser.add_argument("--quick", action="store_true", help="small configs, 2048 images, 500 samples, a few updates")
    parser.add_argument("--updates", type=int, default=None,
                        help=f"generator (or model) updates per model (default {DEFAULT_UPDATES:,}; quick 4)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per GAN (default 3)")
    parser.add_argument("--other-seeds", type=int, default=1, help="seeds per non-adversarial model (default 1)")
    parser.add_argument("--curve-every", type=int, default=None,
                        help="GANs: FID on 2,000 samples every N updates (default updates / 10; 0 = none)")
    parser.add_argument("--export-models", nargs="*", default=[], help="models whose seed-0 run is exported")
    parser.add_argument("--export-dir", default=os.path.join(ROOT, "saved_models"), help="where exports go")
    parser.add_argument("--report", action="store_true", help="only rebuild the BENCHMARKS.md table and the pictures")
    parser.add_argument("--no-markdown", action="store_true",
                        help="leave BENCHMARKS.md alone (rows, grids and pictures only; for runs outside the table)")
    parser.add_argument("--models", nargs="*", default=list(kerasgen.models.REGISTRY), help="registry names (default: all)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "zoo"), help="folder for per-run JSON")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one model in this process
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)  # internal: with --one
    args = parser.parse_args()
    unknown = sorted(set(args.models) - set(kerasgen.models.REGISTRY))
    if unknown:
        parser.error(f"unknown models {unknown}; the registry has {sorted(kerasgen.models.REGISTRY)}")
    updates = args.updates if args.updates is not None else (4 if args.quick else DEFAULT_UPDATES)
    curve_every = args.curve_every if args.curve_every is not None else max(1, updates // 10)
    num_samples = 500 if args.quick else 10_000
    classifier_kwargs = {"epochs": 1, "limit": 2048} if args.quick else {}
    os.makedirs(args.out, exist_ok=True)
    if args.report:
        return write_report(args.out)
    if args.one:
        export_dir = args.export_dir if args.one in args.export_models else None
        return run_one(args.one, args.seed, updates, num_samples, args.quick, classifier_kwargs, args.out,
                       curve_every, export_dir)
    kerasgen.metrics.features.train_domain_classifier("fashion_mnist", **classifier_kwargs)  # trained once, cached
    from benchmarks import common

    environment = dict(os.environ, PYTHONPATH=ROOT, **{COMMAND_VARIABLE: common.command_line()})
    # Seed-major order: an interrupted run has every model's first seed before any second one.
    for seed in range(max(args.seeds, args.other_seeds)):
        for name in args.models:
            family = kerasgen.models.REGISTRY[name].family
            if seed >= (args.seeds if family == "gan" else args.other_seeds):
                continue
            command = [sys.executable, os.path.abspath(__file__), "--one", name, "--seed", str(seed), "--out", args.out,
                       "--updates", str(updates), "--curve-every", str(curve_every),
                       "--export-dir", args.export_dir, "--export-models", *args.export_models]
            subprocess.run(command + (["--quick"] if args.quick else []), check=True, env=environment)
    floor = real_data_floor(classifier_kwargs, num_samples)
    with open(os.path.join(args.out, "real_data_floor.json"), "w") as handle:
        json.dump(floor, handle, indent=2, default=float)
    if args.quick or args.no_markdown:
        write_pictures(args.out)  # the pictures, without touching BENCHMARKS.md
    else:
        write_report(args.out)  # the table, which draws the pictures too


def load_rows(folder):
    """{model name: [row per seed, by seed]} from `folder`'s `NAME_seedS.json`, and the real-data floor."""
    rows = {}
    for file in sorted(os.listdir(folder)):
        if file.endswith(".json") and "_seed" in file:
            with open(os.path.join(folder, file)) as handle:
                row = json.load(handle)
            rows.setdefault(row["name"], []).append(row)
    with open(os.path.join(folder, "real_data_floor.json")) as handle:
        floor = json.load(handle)
    return {name: sorted(runs, key=lambda r: r["seed"]) for name, runs in rows.items()}, floor


def summarize(runs):
    """One table row from a model's runs: means (and the FID's sample standard deviation) over seeds."""
    mean = lambda key: statistics.fmean(r[key] for r in runs)  # noqa: E731
    fids = [r["fid"] for r in runs]
    summary = dict(runs[0])
    summary.update(fid=mean("fid"), fid_std=statistics.stdev(fids) if len(fids) > 1 else None, fids=fids,
                   kid=mean("kid"), kid_std_error=mean("kid_std_error"), precision=mean("precision"),
                   recall=mean("recall"), train_seconds=mean("train_seconds"),
                   train_images_per_second=mean("train_images_per_second"),
                   peak_rss_mib=max(r["peak_rss_mib"] for r in runs), seeds=[r["seed"] for r in runs])
    curves = [r["fid_curve"] for r in runs if r.get("fid_curve")]
    if curves:
        summary["fid_curves"] = curves
    return summary


def write_pictures(folder):
    """OUT/contact_sheet.png (every grid, in registry order, titled) and OUT/fid_vs_updates.png (the GANs' curves)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    import kerasgen

    rows, _ = load_rows(folder)
    order = [name for name in kerasgen.models.REGISTRY if name in rows]
    grids = [(name, os.path.join(folder, "grids", f"{name}.png")) for name in order]
    grids = [(name, path) for name, path in grids if os.path.exists(path)]
    written = []
    if grids:
        columns = min(6, len(grids))
        lines = math.ceil(len(grids) / columns)
        figure, axes = plt.subplots(lines, columns, figsize=(2.2 * columns, 2.5 * lines), squeeze=False,
                                    layout="constrained")
        for axis in axes.flat:
            axis.axis("off")
        for axis, (name, path) in zip(axes.flat, grids):
            axis.imshow(Image.open(path), cmap="gray", vmin=0, vmax=255)
            runs = rows[name]
            axis.set_title(f"{name}\nFID {statistics.fmean(r['fid'] for r in runs):.1f}", fontsize=8)
        written.append(save_figure(figure, os.path.join(folder, "contact_sheet.png")))
        plt.close(figure)
    curved = [(name, [r["fid_curve"] for r in rows[name] if r.get("fid_curve")]) for name in order]
    curved = [(name, curves) for name, curves in curved if curves]
    if curved:
        figure, axis = plt.subplots(figsize=(6, 4))
        for name, curves in curved:
            steps = [point[0] for point in curves[0]]
            means = [statistics.fmean(curve[i][1] for curve in curves) for i in range(len(steps))]
            line, = axis.plot(steps, means, marker="o", markersize=3, label=f"{name} ({len(curves)} seeds)")
            if len(curves) > 1:
                low = [min(curve[i][1] for curve in curves) for i in range(len(steps))]
                high = [max(curve[i][1] for curve in curves) for i in range(len(steps))]
                axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
        axis.set_xlabel("generator updates")
        axis.set_ylabel(f"FID ({CURVE_SAMPLES:,} samples, classifier features)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
        axis.set_title("GANs on Fashion-MNIST: mean over seeds, band = min..max")
        figure.tight_layout()
        written.append(save_figure(figure, os.path.join(folder, "fid_vs_updates.png")))
        plt.close(figure)
    return written


def save_figure(figure, path):
    """Saves a matplotlib figure as PNG atomically; returns `path`."""
    temporary = f"{path}.partial"
    figure.savefig(temporary, format="png", dpi=110)
    os.replace(temporary, path)
    return path


def write_report(folder):
    """Rebuilds the zoo section of BENCHMARKS.md (and the pictures) from every row stored in `folder`."""
    import kerasgen
    from benchmarks import common

    stored, floor = load_rows(folder)
    order = list(kerasgen.models.REGISTRY)
    rows = [summarize(stored[name]) for name in sorted(stored, key=lambda n: order.index(n) if n in order else len(order))]
    write_pictures(folder)
    ranked = sorted((r for r in rows if r["scored"] == "samples"), key=lambda r: r["fid"])
    rank = {r["name"]: i + 1 for i, r in enumerate(ranked)}
    updates = sorted({r["updates"] for r in rows})
    cpus = sorted({r.get("cpus", os.cpu_count()) for r in rows})
    machines = sorted({r.get("cpu", "unknown CPU") for r in rows})
    commands = sorted({run.get("command") or "(not recorded)" for runs in stored.values() for run in runs})

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

    def label(row):
        if row.get("scored") == "reconstructions":
            return f"{row['name']} (recon.)"
        if row.get("scored") == "translations":
            return f"{row['name']} (transl.)"
        if row.get("num_fake", 10_000) < 10_000:
            return f"{row['name']} ({row['num_fake']:,} samples)"
        if "steps" in row.get("sampler", {}):
            return f"{row['name']} (DDIM, {row['sampler']['steps']} steps)"
        return row["name"]

    def fid(row):
        if row["fid_std"] is None:
            return f"{row['fid']:.2f}"
        return f"{row['fid']:.2f} ± {row['fid_std']:.2f} ({', '.join(f'{f:.1f}' for f in row['fids'])})"

    def published(row):
        name, value = PUBLISHED_INCEPTION_FID.get(row["name"], (None, None))
        return f"{value} ({name})" if value else ""

    lines = [
        f"| {rank.get(r['name'], '—')} | {label(r)} | {r['updates']:,} | {len(r['seeds'])} | {fid(r)} "
        f"| {r['kid']:.4f} ± {r['kid_std_error']:.4f} | {r['precision']:.2f} / {r['recall']:.2f} "
        f"| {r['train_seconds'] / 60:.1f} | {r['train_images_per_second']:.0f} | {r['peak_rss_mib']:.0f} "
        f"| {r['parameters']:,} | {likelihood(r)} | {published(r)} |"
        for r in rows
    ]
    pictures = [f"[{f}](benchmarks/results/zoo/{f})" for f in ("contact_sheet.png", "fid_vs_updates.png")
                if os.path.exists(os.path.join(folder, f))]
    common.replace_section(
        "zoo",
        "## The zoo on Fashion-MNIST at equal generator updates (issue 17)\n\n"
        f"{', '.join(f'{u:,}' for u in updates)} generator updates per model (commands under the table). Every model trained for exactly the stated number of generator updates "
        "(a model with one optimizer: its updates) with its paper defaults and `--precision auto`, on "
        f"{'; '.join(machines)}, {'/'.join(map(str, cpus))} core(s) per model process, one process at a time. "
        "FID is the mean over seeds ± the sample standard deviation (each seed's FID in brackets); rank orders "
        "the sampled models by mean FID. Scores: 10,000 samples vs the 10,000 test images in the features of "
        f"kerasgen's Fashion-MNIST classifier (test accuracy {rows[0]['classifier_test_accuracy']:.3f}); "
        f"real-data floor (training vs test images) FID {floor['fid']:.2f}. Autoencoders (recon.) score "
        "reconstructions of 10,000 training images, translation models (transl.) their test translations. "
        "Train minutes and images/s exclude the FID-curve evaluations. The last column is the published Inception "
        "FID on Fashion-MNIST (Lucic et al. 2018; Hoshen et al. 2019): another feature space, not comparable "
        "with this table's FID, kept for the ordering.\n\n"
        "| rank | model | updates | seeds | FID (classifier) | KID | precision / recall | train min | "
        "train images/s | peak RSS MiB | parameters | test likelihood / translation | published Inception FID |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
        + "Commands:\n\n" + "\n".join(f"- `{command}`" for command in commands) + "\n\n"
        + (f"Pictures: {', '.join(pictures)} (8x8 samples of seed 0 per model; FID on 2,000 samples against "
           "generator updates, mean over seeds with the min–max band)." if pictures else ""),
    )


if __name__ == "__main__":
    main()
