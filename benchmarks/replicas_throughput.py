"""VAE training images/s on this CPU with 1 and 2 logical-device replicas (MirroredStrategy).

    python benchmarks/replicas_throughput.py
    python benchmarks/replicas_throughput.py --report

The CPU is split into two logical devices before TensorFlow starts. The same
`VAE(latent_dim=16)`, global batch 128 and 12,800 Fashion-MNIST images are trained
under the default strategy (1 replica) and a 2-replica MirroredStrategy, alternating
epochs after a warm-up epoch each; throughput is from the median of 3 epochs. Both
replicas share the same 2 physical cores, so this measures the overhead of the
distributed step (all-reduce, per-replica dispatch), not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import keras  # noqa: E402

import kerasgen  # noqa: E402
from benchmarks import common  # noqa: E402

SUBSET, ROUNDS = 12_800, 3


def epoch_runner(strategy):
    with strategy.scope():
        model = kerasgen.models.VAE(latent_dim=16, seed=0)
        model.compile()
    dataset = kerasgen.datasets.load("fashion_mnist", batch_size=128, limit=SUBSET, seed=0)
    timer = common.EpochTimer()

    def run_epoch():
        model.fit(dataset, epochs=1, callbacks=[timer], verbose=0)
        return timer.seconds[-1]

    return run_epoch


def run():
    keras.utils.set_random_seed(0)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    runners = {1: epoch_runner(tf.distribute.get_strategy()), 2: epoch_runner(kerasgen.distribute.get_strategy("mirrored", devices=devices))}
    seconds = {replicas: [] for replicas in runners}
    for replicas, run_epoch in runners.items():
        run_epoch()  # warm-up: tracing and compilation
    for _ in range(ROUNDS):
        for replicas, run_epoch in runners.items():
            seconds[replicas].append(run_epoch())
    result = {"command": common.command_line(), "machine": common.machine(),
              "images_per_second": {str(r): SUBSET / statistics.median(s) for r, s in seconds.items()},
              "epoch_seconds": {str(r): s for r, s in seconds.items()}}
    common.save_result("replicas_throughput", result)
    print(result["images_per_second"])


def report():
    r = common.load_result("replicas_throughput")
    one, two = r["images_per_second"]["1"], r["images_per_second"]["2"]
    common.replace_section(
        "replicas",
        "## Training with 1 and 2 replicas on this CPU (issue 4)\n\n"
        "`VAE(latent_dim=16)`, float32, global batch 128, 12,800 Fashion-MNIST images; the 2 physical cores split "
        "into two logical CPU devices, so the 2-replica figure shows the cost of the distributed step on the same "
        "hardware (on separate GPUs or machines each replica would bring its own compute).\n\n"
        "| replicas | strategy | train images/s | command |\n|---|---|---|---|\n"
        f"| 1 | default | {one:.0f} | `{r['command']}` |\n"
        f"| 2 | MirroredStrategy (2 logical CPUs) | {two:.0f} | `{r['command']}` |",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true")
    report() if parser.parse_args().report else run()
