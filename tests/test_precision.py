"""Choosing the dtype policy from the hardware."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest

from kerasgen import precision


def test_bfloat16_units_are_read_from_cpu_flags(tmp_path):
    amx = tmp_path / "amx"
    amx.write_text("flags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("flags\t\t: fpu sse2 avx2\n")
    assert precision.cpu_has_bfloat16_units(str(amx))
    assert not precision.cpu_has_bfloat16_units(str(plain))
    assert not precision.cpu_has_bfloat16_units(str(tmp_path / "missing"))


def test_auto_follows_the_hardware_and_names_pass_through(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "CACHE", str(tmp_path / "precision.json"))
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: True)
    monkeypatch.setattr(precision, "measure_cpu_policies", lambda: {"float32": 1.0, "mixed_bfloat16": 0.5})
    assert precision.resolve_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: False)
    assert precision.resolve_policy("auto") == "float32"
    assert precision.resolve_policy("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="float32"):
        precision.resolve_policy("fp8")


def test_auto_on_a_bfloat16_cpu_takes_the_faster_policy_and_caches_the_verdict(monkeypatch, tmp_path):
    cache = tmp_path / "precision.json"
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: True)
    calls = []

    def measured(seconds):
        def measure():
            calls.append(seconds)
            return seconds
        return measure

    # Less than BFLOAT16_MIN_SPEEDUP (10%) faster: float32, the simpler numerics.
    monkeypatch.setattr(precision, "measure_cpu_policies", measured({"float32": 1.0, "mixed_bfloat16": 0.95}))
    assert precision.cpu_policy(str(cache)) == "float32"
    monkeypatch.setattr(precision, "measure_cpu_policies", measured({"float32": 1.0, "mixed_bfloat16": 0.5}))
    assert precision.cpu_policy(str(cache)) == "float32"  # the cached verdict for this CPU, not re-measured
    assert len(calls) == 1
    cache.unlink()
    assert precision.cpu_policy(str(cache)) == "mixed_bfloat16"
    assert len(calls) == 2


def test_measuring_the_cpu_policies_times_both_and_restores_the_global_policy():
    keras.mixed_precision.set_global_policy("float32")
    seconds = precision.measure_cpu_policies(steps=1, batch_size=8)
    assert set(seconds) == {"float32", "mixed_bfloat16"} and all(s > 0 for s in seconds.values())
    assert keras.mixed_precision.global_policy().name == "float32"


def test_set_precision_sets_the_global_policy():
    assert precision.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.layers.Dense(2).compute_dtype == "bfloat16"
