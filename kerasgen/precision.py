"""Choosing a mixed-precision policy for the hardware at hand.

`resolve_policy("auto")`, what `--precision auto` and `set_precision("auto")` use:

- on a GPU, "mixed_float16" (every optimizer is then loss-scaled, see
  `GenerativeModel.apply_gradients`);
- on a CPU without bfloat16 units, "float32";
- on a CPU with bfloat16 units (Intel AMX, AVX512-BF16), whichever of "float32" and
  "mixed_bfloat16" trains faster on this CPU: `measure_cpu_policies` times a small
  convolutional training step under both once (about a second or two) and the
  verdict is cached per CPU model and flags in `~/.cache/kerasgen/precision.json`.
  mixed_bfloat16 must be at least 10% faster to be chosen, since float32 is
  simpler numerics. The two reach the same loss (BENCHMARKS.md, "Precision
  policies on this CPU"), which also has the figures that led here: bfloat16
  roughly doubled VAE throughput on the first AMX machine, while whether
  AVX512-BF16 without AMX gains depends on the CPU, so it is measured, not assumed.
"""

from __future__ import annotations

import json
import os
import time

import keras
import tensorflow as tf

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "kerasgen", "precision.json")
#: mixed_bfloat16 is chosen on a CPU only when its step is at least this much faster.
BFLOAT16_MIN_SPEEDUP = 1.1


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
    """The CPU feature flags Linux lists in /proc/cpuinfo (an empty set elsewhere)."""
    try:
        with open(cpuinfo_path) as handle:
            return set(handle.read().split())
    except OSError:
        return set()


def cpu_has_bfloat16_units(cpuinfo_path="/proc/cpuinfo"):
    """True if the CPU advertises AMX-BF16 or AVX512-BF16 (Linux /proc/cpuinfo flags)."""
    return bool(cpu_flags(cpuinfo_path) & {"amx_bf16", "avx512_bf16"})


def cpu_model():
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def measure_cpu_policies(steps=5, batch_size=64):
    """Seconds per training step of a small conv net under "float32" and "mixed_bfloat16" (a dict).

    Restores the global policy it found. The net is a 28x28 encoder-decoder like
    kerasgen's default VAE networks, trained by plain `train_on_batch` after one
    warm-up step.
    """
    previous = keras.mixed_precision.global_policy()
    images = tf.random.stateless_uniform((batch_size, 28, 28, 1), seed=(0, 0))
    seconds = {}
    try:
        for policy in ("float32", "mixed_bfloat16"):
            keras.mixed_precision.set_global_policy(policy)
            model = keras.Sequential([
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
                keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
                keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
                keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same"),
                keras.layers.Activation("linear", dtype="float32"),
            ])
            model.compile(keras.optimizers.Adam(1e-3), "mse")
            model.train_on_batch(images, images)  # tracing
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(images, images)
            seconds[policy] = (time.perf_counter() - start) / steps
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return seconds


def cpu_policy(cache_path=None):
    """The faster of float32 and mixed_bfloat16 on this CPU (cached; see the module docstring)."""
    if not cpu_has_bfloat16_units():
        return "float32"
    cache_path = cache_path or CACHE
    key = f"{cpu_model()} | {' '.join(sorted(cpu_flags() & {'amx_bf16', 'amx_tile', 'avx512_bf16'}))}"
    try:
        with open(cache_path) as handle:
            cached = json.load(handle)
    except (OSError, ValueError):
        cached = {}
    if key not in cached:
        seconds = measure_cpu_policies()
        faster = seconds["float32"] / seconds["mixed_bfloat16"] >= BFLOAT16_MIN_SPEEDUP
        cached[key] = {"policy": "mixed_bfloat16" if faster else "float32", "seconds_per_step": seconds}
        try:
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            temporary = f"{cache_path}.{os.getpid()}.partial"
            with open(temporary, "w") as handle:
                json.dump(cached, handle, indent=2)
            os.replace(temporary, cache_path)
        except OSError:
            pass  # a read-only home: measure again next time
    return cached[key]["policy"]


def resolve_policy(name="auto"):
    """The policy `name` stands for: "auto" is mixed_float16 on GPUs and, on CPUs, the faster of
    float32 and mixed_bfloat16 (`cpu_policy`)."""
    if name not in POLICIES:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(POLICIES)}.")
    if name != "auto":
        return name
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return cpu_policy()


def set_precision(name="auto"):
    """Sets Keras's global dtype policy (before building models) and returns its name."""
    policy = resolve_policy(name)
    keras.mixed_precision.set_global_policy(policy)
    return policy
