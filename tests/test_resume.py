"""Resumable training: a run killed mid-epoch resumes from its last complete epoch."""

import json
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest

from kerasgen import callbacks, cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 2048 images in batches of 32: 64 optimizer steps per epoch.
TRAIN_ARGS = ["train", "ae", "--limit", "2048", "--batch-size", "32", "--latent-dim", "4", "--epochs", "3"]
STEPS_PER_EPOCH = 64


def _kill_during_second_epoch(run, timeout=120):
    """Starts `kerasgen train` in a process and SIGKILLs it right after epoch 1's checkpoint lands."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-m", "kerasgen.cli", *TRAIN_ARGS, "--out", str(run)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    state = run / "model.state.json"
    deadline = time.monotonic() + timeout
    try:
        while not state.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no checkpoint appeared in time"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return json.loads(state.read_text())["epochs_completed"]


def test_killed_run_resumes_with_the_same_number_of_optimizer_steps(tmp_path):
    run = tmp_path / "run"
    completed = _kill_during_second_epoch(run)
    assert completed in (1, 2)  # the kill landed after epoch 1's checkpoint, before the run ended
    model, epochs_completed = callbacks.load_checkpoint(run / "model.keras")  # the survivor is intact
    assert int(model.optimizer.iterations.numpy()) == epochs_completed * STEPS_PER_EPOCH

    cli.main([*TRAIN_ARGS, "--out", str(run), "--resume"])
    model, epochs_completed = callbacks.load_checkpoint(run / "model.keras")
    assert epochs_completed == 3
    assert int(model.optimizer.iterations.numpy()) == 3 * STEPS_PER_EPOCH  # as an uninterrupted run
    assert json.loads((run / "run.json").read_text())["initial_epoch"] == completed


def test_corrupt_or_missing_checkpoints_are_reported_clearly(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(SystemExit, match="nothing to resume"):
        cli.main([*TRAIN_ARGS, "--out", str(run), "--resume"])

    cli.main(["train", "ae", "--limit", "256", "--batch-size", "64", "--latent-dim", "4", "--epochs", "1", "--out", str(run)])
    path = run / "model.keras"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a partial copy
    with pytest.raises(SystemExit, match="corrupt or partial"):
        cli.main([*TRAIN_ARGS, "--out", str(run), "--resume"])
    with pytest.raises(callbacks.CheckpointError, match="SHA-256"):
        callbacks.load_checkpoint(path)

    (run / "model.state.json").write_text("{not json")
    with pytest.raises(callbacks.CheckpointError, match="unreadable"):
        callbacks.load_checkpoint(path)


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    run = tmp_path / "run"
    cli.main(["train", "ae", "--limit", "128", "--batch-size", "64", "--latent-dim", "4", "--epochs", "1", "--out", str(run)])
    with pytest.raises(SystemExit, match="holds a AutoEncoder model, not VAE"):
        cli.main(["train", "vae", "--limit", "128", "--epochs", "2", "--out", str(run), "--resume"])
    assert isinstance(keras.models.load_model(run / "model.keras"), keras.Model)


class _Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way up handles it."""


FAULT_ARGS = ["train", "ae", "--limit", "64", "--batch-size", "32", "--latent-dim", "4", "--epochs", "3"]


@pytest.mark.parametrize("step", callbacks.AtomicModelCheckpoint.COMMIT_STEPS)
def test_a_kill_at_any_step_of_a_checkpoint_commit_costs_at_most_that_epoch(step, tmp_path, monkeypatch):
    """Epoch 2's commit is interrupted after `step`; the next start recovers and resumes from the newest
    complete epoch, ending with the optimizer steps of an uninterrupted run (2 per epoch)."""
    run = tmp_path / "run"
    args = [*FAULT_ARGS, "--out", str(run)]

    def kill_during_epoch_2(checkpoint, done):
        if done == step and checkpoint.saved_epochs == [1]:
            raise _Killed

    monkeypatch.setattr(callbacks.AtomicModelCheckpoint, "on_commit_step", kill_during_epoch_2)
    with pytest.raises(_Killed):
        cli.main(args)
    monkeypatch.undo()
    left = sorted(name for name in os.listdir(run) if name.startswith("model."))
    expected_left = {
        "write": ["model.keras", "model.partial.keras", "model.state.json"],
        "keep_previous": ["model.partial.keras", "model.previous.keras", "model.state.json"],
        "install": ["model.keras", "model.previous.keras", "model.state.json"],
        "commit": ["model.keras", "model.previous.keras", "model.state.json"],
        "drop_previous": ["model.keras", "model.state.json"],
    }
    assert left == expected_left[step]
    survivor = 2 if step in ("commit", "drop_previous") else 1

    cli.main([*args, "--resume"])
    assert json.loads((run / "run.json").read_text())["initial_epoch"] == survivor
    assert sorted(name for name in os.listdir(run) if name.startswith("model.")) == ["model.keras", "model.state.json"]
    model, epochs_completed = callbacks.load_checkpoint(run / "model.keras")
    assert epochs_completed == 3
    assert int(model.optimizer.iterations.numpy()) == 3 * 2  # as an uninterrupted run
