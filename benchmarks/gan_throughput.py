"""DCGAN and WGAN-GP on Fashion-MNIST: training images/s of `fit` vs a hand-written loop.

    python benchmarks/gan_throughput.py --precision float32
    python benchmarks/gan_throughput.py --precision mixed_bfloat16
    python benchmarks/gan_throughput.py --report     # rewrites the GAN section of BENCHMARKS.md

For each model, the same networks (kerasgen.networks builders), optimizers, minibatch
size m = 64 and n_critic are trained twice on the same 12,800 training images: once
with `model.fit` (kerasgen's `train_step`), once with a plain `tf.function(jit_compile=True)`
loop written out below. After one warm-up epoch each (tracing and XLA compilation), fit
and loop epochs alternate three times; throughput is real images consumed per second in
the median epoch of each. Run one precision per process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import tensorflow as tf

import kerasgen
from benchmarks import common

MINIBATCH = 64
SUBSET = 12_800
ROUNDS = 3


def build(name):
    if name == "dcgan":
        return kerasgen.models.DCGAN(latent_dim=100, seed=0)
    return kerasgen.models.WGANGP(latent_dim=128, seed=0)


def data(k, limit=SUBSET):
    return kerasgen.datasets.load("fashion_mnist", split="train", batch_size=MINIBATCH * k, limit=limit, seed=0, drop_remainder=True)


def fit_epoch_runner(name):
    """A function running one `fit` epoch of a fresh model and returning its seconds."""
    model = build(name)
    model.compile()
    dataset = data(model.discriminator_steps)
    timer = common.EpochTimer()

    def run_epoch():
        model.fit(dataset, epochs=1, callbacks=[timer], verbose=0)
        return timer.seconds[-1]

    return run_epoch


def loop_epoch_runner(name, limit=SUBSET):
    """A function running one epoch of the same algorithm written by hand, returning its seconds.

    No kerasgen train_step: explicit tapes in one `tf.function(jit_compile=True)`. The epoch
    covers the first `limit` training images (None: all 60,000); the returned function has
    `generator` (the trained network) and `images_per_epoch` attributes.
    """
    reference = build(name)
    generator, critic = reference.generator, reference.discriminator
    g_optimizer, d_optimizer = reference.default_optimizers()
    g_optimizer.build(generator.trainable_variables)
    d_optimizer.build(critic.trainable_variables)
    k, latent_dim, wasserstein = reference.discriminator_steps, reference.latent_dim, name == "wgan_gp"

    def d_loss_fn(real, fake):
        real_scores = tf.cast(critic(real, training=True), tf.float32)
        fake_scores = tf.cast(critic(fake, training=True), tf.float32)
        if not wasserstein:
            return tf.reduce_mean(tf.nn.softplus(-real_scores) + tf.nn.softplus(fake_scores))
        epsilon = tf.random.uniform([tf.shape(real)[0], 1, 1, 1])
        mixed = epsilon * real + (1.0 - epsilon) * fake
        with tf.GradientTape() as inner:
            inner.watch(mixed)
            mixed_scores = tf.reduce_sum(tf.cast(critic(mixed, training=True), tf.float32))
        norms = tf.sqrt(tf.reduce_sum(tf.square(inner.gradient(mixed_scores, mixed)), axis=[1, 2, 3]) + 1e-12)
        return tf.reduce_mean(fake_scores - real_scores) + 10.0 * tf.reduce_mean(tf.square(norms - 1.0))

    @tf.function(jit_compile=True)
    def iteration(batch):
        for step in range(k):
            real = batch[step * MINIBATCH : (step + 1) * MINIBATCH]
            fake = tf.cast(generator(tf.random.normal([MINIBATCH, latent_dim]), training=True), tf.float32)
            with tf.GradientTape() as tape:
                d_loss = d_loss_fn(real, fake)
            d_optimizer.apply_gradients(zip(tape.gradient(d_loss, critic.trainable_variables), critic.trainable_variables))
        with tf.GradientTape() as tape:
            scores = tf.cast(critic(generator(tf.random.normal([MINIBATCH, latent_dim]), training=True), training=True), tf.float32)
            g_loss = tf.reduce_mean(-scores if wasserstein else tf.nn.softplus(-scores))
        g_optimizer.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables), generator.trainable_variables))
        return d_loss, g_loss

    dataset = data(k, limit)

    def run_epoch():
        start = time.perf_counter()
        for batch in dataset:
            losses = iteration(batch)
        float(losses[0])  # wait for the last step
        return time.perf_counter() - start

    run_epoch.generator = generator  # for scoring the hand-trained model (benchmarks/zoo.py)
    run_epoch.images_per_epoch = int(dataset.cardinality()) * MINIBATCH * k
    return run_epoch


def run(precision):
    keras.mixed_precision.set_global_policy(precision)
    results = {}
    for name in ("dcgan", "wgan_gp"):
        keras.utils.set_random_seed(0)
        run_fit, run_loop = fit_epoch_runner(name), loop_epoch_runner(name)
        run_fit(), run_loop()  # warm-up epochs: tracing and XLA compilation
        # Alternate the two so that drifts in this shared machine's speed hit both alike.
        fit_seconds, loop_seconds = [], []
        for _ in range(ROUNDS):
            fit_seconds.append(run_fit())
            loop_seconds.append(run_loop())
        results[name] = {
            "fit_images_per_second": SUBSET / statistics.median(fit_seconds),
            "loop_images_per_second": SUBSET / statistics.median(loop_seconds),
            "fit_epoch_seconds": fit_seconds,
            "loop_epoch_seconds": loop_seconds,
        }
        r = results[name]
        print(f"{name} {precision}: fit {r['fit_images_per_second']:.0f} img/s, loop {r['loop_images_per_second']:.0f} img/s, "
              f"ratio {r['fit_images_per_second'] / r['loop_images_per_second']:.2f}")
    common.save_result(f"gan_throughput_{precision}", {"command": common.command_line(), "machine": common.machine(),
                                                        "precision": precision, "results": results})


def report():
    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        saved = common.load_result(f"gan_throughput_{precision}")
        if not saved:
            continue
        for name, r in saved["results"].items():
            ratio = r["fit_images_per_second"] / r["loop_images_per_second"]
            rows.append(f"| {name} | {precision} | {r['fit_images_per_second']:.0f} | {r['loop_images_per_second']:.0f} | {ratio:.2f} | `{saved['command']}` |")
    common.replace_section(
        "gan_throughput",
        "## GAN training throughput: `fit` vs a hand-written loop (issue 3)\n\n"
        "Real images consumed per second, median of 3 alternating epochs of 12,800 Fashion-MNIST images, m = 64 "
        "(DCGAN: k = 1, batches of 64; WGAN-GP: n_critic = 5, batches of 320). Same networks, optimizers and "
        "batch sizes; the loop is a `tf.function(jit_compile=True)` with explicit tapes. Each precision was "
        "measured in one process, fit and loop epochs alternating.\n\n"
        "| model | precision | fit images/s | hand-written loop images/s | fit / loop | command |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--report", action="store_true")
    arguments = parser.parse_args()
    report() if arguments.report else run(arguments.precision)
