"""float32 vs mixed_bfloat16 vs mixed_float16 on this CPU: VAE and DCGAN `fit` images/s in one process.

    python benchmarks/precision.py            # measures, writes benchmarks/results/precision.json
    python benchmarks/precision.py --report   # rewrites the precision section of BENCHMARKS.md

For each model, one instance per policy (same seed, same Fashion-MNIST training images:
6,400, but only 1 batch for mixed_float16, which this CPU runs about 100 times slower)
is built under that global policy; after one warm-up epoch each, the instances' epochs
alternate `--rounds` times in this one process, and the median epoch gives the images/s. The training loss of each instance's last epoch is reported beside it as the
same-quality check (the same number of steps from the same initial weights and data).
`kerasgen.precision.resolve_policy("auto")` follows these figures (see its docstring).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import kerasgen  # noqa: E402
from benchmarks import common  # noqa: E402

SUBSET = 6_400
FLOAT16_BATCHES = 1
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
MODELS = {
    "vae": (lambda: kerasgen.models.VAE(latent_dim=16, seed=0), 128, "loss"),
    "dcgan": (lambda: kerasgen.models.DCGAN(latent_dim=100, seed=0), 64, "g_loss"),
}


def measure(name, rounds):
    build, batch_size, loss_name = MODELS[name]
    images = {p: SUBSET - SUBSET % batch_size for p in POLICIES}
    images["mixed_float16"] = FLOAT16_BATCHES * batch_size
    data = {p: kerasgen.datasets.load("fashion_mnist", batch_size=batch_size, limit=images[p], seed=0,
                                      drop_remainder=True) for p in POLICIES}
    models, timers, seconds, losses = {}, {}, {p: [] for p in POLICIES}, {}
    for policy in POLICIES:
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        models[policy] = build()
        models[policy].compile()
        timers[policy] = common.EpochTimer()
    keras.mixed_precision.set_global_policy("float32")
    for round_ in range(rounds + 1):  # round 0: warm-up (tracing)
        order = POLICIES if round_ % 2 else POLICIES[::-1]
        for policy in order:
            history = models[policy].fit(data[policy], epochs=1, verbose=0, callbacks=[timers[policy]])
            losses[policy] = float(history.history[loss_name][-1])
            if round_:
                seconds[policy].append(timers[policy].seconds[-1])
    return {
        "model": name, "batch_size": batch_size, "images": images, "rounds": rounds, "loss_name": loss_name,
        "images_per_second": {p: images[p] / statistics.median(seconds[p]) for p in POLICIES},
        "last_epoch_loss": losses,
    }


def report():
    result = common.load_result("precision")
    rows = []
    for row in result["rows"]:
        speed, loss = row["images_per_second"], row["last_epoch_loss"]
        cells = " | ".join(f"{speed[p]:.{0 if speed[p] >= 10 else 1}f} ({speed[p] / speed['float32']:.{2 if speed[p] / speed['float32'] >= 0.1 else 4}f}x)" for p in POLICIES)
        losses = ", ".join(f"{loss[p]:.3f}" for p in POLICIES[:2])
        rows.append(f"| {row['model']} | {row['batch_size']} | {cells} | {row['loss_name']} {losses} |")
    common.replace_section("precision", f"""
## Precision policies on this CPU (issue 13)

`{result['command']}` on {result['machine']} (CPU flags: {', '.join(result['cpu_flags']) or 'no bfloat16 units'}).
{result['rows'][0]['images']['float32']:,} training images (mixed_float16: {FLOAT16_BATCHES} batch), median of
{result['rows'][0]['rounds']} alternating epochs per policy in one process, one model instance per policy from
the same seed; the last column is the float32 and mixed_bfloat16 instances' training loss in their last epoch
(the same steps from the same weights and data), the same-quality check.

| model | batch | float32 images/s | mixed_bfloat16 | mixed_float16 | last-epoch loss |
|---|---|---|---|---|---|
{chr(10).join(rows)}

`--precision auto` on a CPU with bfloat16 units takes mixed_bfloat16 only where its own one-off timing
(`kerasgen.precision.measure_cpu_policies`, cached per CPU) finds it at least 10% faster than float32; on this
CPU that is mixed_bfloat16, as the table shows for both models at the same loss. mixed_float16 is the GPU
policy: this CPU has no float16 arithmetic units, so it runs in software.
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if not args.report:
        rows = [measure(name, args.rounds) for name in MODELS]
        for row in rows:
            print(row)
        flags = sorted(kerasgen.precision.cpu_flags() & {"amx_bf16", "amx_tile", "avx512_bf16"})
        common.save_result("precision", {"rows": rows, "command": common.command_line(), "machine": common.machine(),
                                         "cpu_flags": flags})
    report()


if __name__ == "__main__":
    main()
