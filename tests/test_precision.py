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


def test_auto_follows_the_hardware_and_names_pass_through(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: True)
    assert precision.resolve_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bfloat16_units", lambda: False)
    assert precision.resolve_policy("auto") == "float32"
    assert precision.resolve_policy("mixed_float16") == "mixed_float16"
    with pytest.raises(ValueError, match="float32"):
        precision.resolve_policy("fp8")


def test_set_precision_sets_the_global_policy():
    assert precision.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.layers.Dense(2).compute_dtype == "bfloat16"
