"""Helpers shared by the benchmark scripts: timing, peak memory, BENCHMARKS.md sections."""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import shutil
import sys
import time

import keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_MD = os.path.join(ROOT, "BENCHMARKS.md")
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch (the first one includes tracing/compilation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def timed(function):
    """`(function(), seconds it took)`."""
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


class Budget(keras.callbacks.Callback):
    """Stops training after `seconds` of wall clock (checked after each batch).

    Counts the batches (`batches`) and the seconds from the start of `fit` to the last
    batch's end (`elapsed`).
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.batches, self.elapsed = seconds, 0, 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.elapsed = time.perf_counter() - self.start
        if self.elapsed > self.seconds:
            self.model.stop_training = True


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB (Linux ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def command_line():
    """The command that is running, as one would type it from the repository root."""
    script = os.path.relpath(sys.argv[0], ROOT)
    return " ".join(["python", shlex.quote(script), *map(shlex.quote, sys.argv[1:])])


def machine():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, TF backend Keras {keras.__version__}"


def export_model(model, base_dir):
    """Exports `model` as `base_dir/1` (a TF Serving base folder) and returns {"path", "mib"}.

    The export is written to a staging folder beside `base_dir` first and moved into place
    only once complete, so an interrupted run never leaves a half-written export where an
    earlier, complete one was.
    """
    from kerasgen import export

    base_dir = os.path.abspath(base_dir)
    staging = f"{base_dir}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    export.save_for_serving(model, staging, version=1)
    if os.path.exists(base_dir):
        shutil.rmtree(base_dir)
    os.replace(staging, base_dir)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(base_dir) for f in files)
    return {"path": os.path.relpath(base_dir, ROOT) if base_dir.startswith(ROOT) else base_dir, "mib": size / 2**20}


def save_result(name, result):
    """Writes `benchmarks/results/NAME.json` and returns its path."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    with open(path, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    return path


def load_result(name):
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def replace_section(name, markdown):
    """Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in BENCHMARKS.md."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = open(BENCHMARKS_MD).read() if os.path.exists(BENCHMARKS_MD) else "# Benchmarks\n"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    temporary = BENCHMARKS_MD + ".partial"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, BENCHMARKS_MD)
