"""Choosing a mixed-precision policy for the hardware at hand.

On CPUs with bfloat16 matrix units (Intel AMX, AVX512-BF16) Keras's
"mixed_bfloat16" policy computes layers in bfloat16 while keeping variables and
kerasgen's losses in float32; on this project's reference machine it doubles
VAE training throughput at the same test ELBO (see BENCHMARKS.md). Elsewhere
float32 stays the default.
"""

from __future__ import annotations

import keras
import tensorflow as tf

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_has_bfloat16_units(cpuinfo_path="/proc/cpuinfo"):
    """True if the CPU advertises AMX-BF16 or AVX512-BF16 (Linux /proc/cpuinfo flags)."""
    try:
        with open(cpuinfo_path) as handle:
            flags = set(handle.read().split())
    except OSError:
        return False
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def resolve_policy(name="auto"):
    """The policy `name` stands for: "auto" is mixed_float16 on GPUs, mixed_bfloat16 on
    CPUs with bfloat16 units, else float32."""
    if name not in POLICIES:
        raise ValueError(f"Unknown precision {name!r}; choose one of {', '.join(POLICIES)}.")
    if name != "auto":
        return name
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16_units() else "float32"


def set_precision(name="auto"):
    """Sets Keras's global dtype policy (before building models) and returns its name."""
    policy = resolve_policy(name)
    keras.mixed_precision.set_global_policy(policy)
    return policy
