"""Distributed training: `kerasgen.distribute.get_strategy`, per-replica noise,
global-batch gradient averaging, metric aggregation, synchronized custom
variable updates (WGAN clipping, EMA, spectral-norm `u`) and two real
MultiWorkerMirroredStrategy worker processes on 127.0.0.1.

The 2-replica `mirrored_strategy` fixture (conftest.py) is the only
MirroredStrategy of this process; strategies of their own run in subprocesses.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasgen  # noqa: E402
from kerasgen.distribute import STRATEGY_NAMES, get_strategy  # noqa: E402
from kerasgen.layers import SpectralNormalization  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
RTOL, ATOL = 1e-5, 1e-6


# ------------------------------------------------------------------ helpers
def fashion_images(limit, value_range=(-1.0, 1.0)):
    images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train", limit=limit)
    return kerasgen.datasets.to_value_range(images, value_range)


def replica_copies(variable):
    """NumPy values of each replica's copy of a (Keras) variable created under a strategy."""
    value = getattr(variable, "value", variable)
    assert isinstance(value, tf.distribute.DistributedValues), f"{variable.path} is not mirrored"
    return [np.asarray(copy.numpy()) for copy in value.values]


def assert_replicas_identical(variables, what):
    assert variables, f"no {what} to check"
    for variable in variables:
        copies = replica_copies(variable)
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[1], copies[0], err_msg=f"{what}: {variable.path}")


def as_numpy(values):
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]


def subprocess_env(**extra):
    env = dict(os.environ)
    # gRPC (multi-worker) honours proxy variables; the workers only talk over loopback.
    for key in ("http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY", "GRPC_PROXY"):
        env.pop(key, None)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


# ------------------------------------------------------------ get_strategy
def test_auto_and_default_give_the_default_strategy_on_a_cpu_machine():
    assert not tf.config.list_logical_devices("GPU")
    for name in ("auto", "default"):
        strategy = get_strategy(name)
        assert strategy is tf.distribute.get_strategy()
        assert strategy.num_replicas_in_sync == 1
        assert not isinstance(strategy, tf.distribute.MirroredStrategy)


def test_multi_worker_without_or_with_a_bad_tf_config_says_what_json_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match=r'TF_CONFIG is not set.*"cluster": \{"worker"'):
        get_strategy("multi_worker")
    bad_configs = {
        "{not json": "not valid JSON",
        json.dumps({"task": {"type": "worker", "index": 0}}): '"worker" list',
        json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}): "host:port",
        json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"type": "chief", "index": 0}}): '"type"',
        json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 1}}): r"\[0, 1\)",
    }
    for raw, message in bad_configs.items():
        monkeypatch.setenv("TF_CONFIG", raw)
        with pytest.raises(ValueError, match=message) as error:
            get_strategy("multi_worker")
        assert "TF_CONFIG" in str(error.value) and '"task": {"type": "worker", "index": i}' in str(error.value)


def test_unknown_name_and_misplaced_devices_are_refused():
    with pytest.raises(ValueError, match=r"'tpu'.*'auto', 'default', 'mirrored', 'multi_worker'"):
        get_strategy("tpu")
    assert STRATEGY_NAMES == ("auto", "default", "mirrored", "multi_worker")
    with pytest.raises(ValueError, match="devices= is only used by get_strategy\\('mirrored'\\)"):
        get_strategy("auto", devices=["/cpu:0"])


_MIRRORED_SCRIPT = """
import json
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kerasgen.distribute import get_strategy

strategy = get_strategy("mirrored")
ids = strategy.run(lambda: tf.distribute.get_replica_context().replica_id_in_sync_group)
single = get_strategy("mirrored", devices=[tf.config.list_logical_devices("CPU")[0].name])
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "devices": list(strategy.extended.worker_devices),
    "ids": [int(i) for i in strategy.experimental_local_results(ids)],
    "single_replicas": single.num_replicas_in_sync,
    "single_devices": list(single.extended.worker_devices),
}))
"""


def test_mirrored_uses_every_logical_cpu_and_accepts_explicit_devices():
    # A second MirroredStrategy in this process could collide with the fixture's
    # collective keys, so this one is built in a fresh interpreter.
    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT], env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in report["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert report["ids"] == [0, 1]
    assert report["single_replicas"] == 1 and report["single_devices"][0].endswith("device:CPU:0")


# ------------------------------------------------------- per-replica noise
def test_replicas_draw_different_noise_and_keep_identical_seed_state(mirrored_strategy):
    plain = keras.random.SeedGenerator(5)
    with mirrored_strategy.scope():
        model = kerasgen.models.GAN(latent_dim=4, seed=5)

    @tf.function
    def draw():
        return keras.random.normal((4,), seed=model.seed_generator), model.sample_latents(3)

    first, second = (
        as_numpy(mirrored_strategy.experimental_local_results(values))
        for values in mirrored_strategy.run(draw)
    )
    assert not np.allclose(first[0], first[1]), "both replicas drew the same noise"
    assert not np.allclose(second[0], second[1]), "both replicas drew the same latents"
    # Replica 0 keeps the plain SeedGenerator's stream; the state advanced by two
    # draws on both replicas and stays mirrored.
    np.testing.assert_array_equal(first[0], keras.ops.convert_to_numpy(keras.random.normal((4,), seed=plain)))
    np.testing.assert_array_equal(
        second[0], keras.ops.convert_to_numpy(keras.random.normal((3, 4), seed=plain))
    )
    assert_replicas_identical([model.seed_generator.state], "seed state")
    np.testing.assert_array_equal(replica_copies(model.seed_generator.state)[0], [5, 2])


def test_single_device_noise_is_bit_identical_to_a_plain_seed_generator():
    plain = keras.random.SeedGenerator(11)
    model = kerasgen.models.VAE(latent_dim=4, seed=11)
    assert isinstance(model.seed_generator, keras.random.SeedGenerator)
    for shape in ((4,), (2, 3), (5,)):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(keras.random.normal(shape, seed=model.seed_generator)),
            keras.ops.convert_to_numpy(keras.random.normal(shape, seed=plain)),
        )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.sample_latents(6)),
        keras.ops.convert_to_numpy(keras.random.normal((6, 4), seed=plain)),
    )
    # Inside a traced function too (the path fit takes).
    traced = tf.function(lambda: keras.random.uniform((3,), seed=model.seed_generator))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(traced()), keras.ops.convert_to_numpy(keras.random.uniform((3,), seed=plain))
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.seed_generator.state), [11, 5])


# ----------------------------------------------- equivalence to one device
def _autoencoder_pair(strategy):
    """The same AutoEncoder (SGD) on one device and, with copied weights, under `strategy`."""
    single = kerasgen.models.AutoEncoder(latent_dim=4, seed=0)
    single.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    with strategy.scope():
        mirrored = kerasgen.models.AutoEncoder(latent_dim=4, seed=0)
        mirrored.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    mirrored.set_weights(single.get_weights())
    return single, mirrored


def test_one_step_on_two_replicas_equals_one_step_on_one_device(mirrored_strategy):
    images = fashion_images(64)
    single, mirrored = _autoencoder_pair(mirrored_strategy)
    initial = single.get_weights()
    fit = dict(batch_size=64, shuffle=False, epochs=1, verbose=0)
    single_loss = single.fit(images, **fit).history["loss"]
    mirrored_loss = mirrored.fit(images, **fit).history["loss"]

    assert int(mirrored.optimizer.iterations.numpy()) == int(single.optimizer.iterations.numpy()) == 1
    largest_update = 0.0
    for expected, actual, before in zip(single.get_weights(), mirrored.get_weights(), initial):
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
        largest_update = max(largest_update, float(np.abs(expected - before).max()))
    # Updates are far above the tolerance: summing instead of averaging the
    # replicas' gradients (a 2x step) could not pass.
    assert largest_update > 100 * ATOL
    for variable in mirrored.trainable_variables:
        assert_replicas_identical([variable], "autoencoder weight")
    # The reported training loss is the global-batch mean too.
    np.testing.assert_allclose(mirrored_loss, single_loss, rtol=RTOL)


def test_evaluate_loss_is_aggregated_over_replicas(mirrored_strategy):
    images = fashion_images(128)
    single, mirrored = _autoencoder_pair(mirrored_strategy)
    expected = single.evaluate(images, batch_size=64, verbose=0, return_dict=True)["loss"]
    actual = mirrored.evaluate(images, batch_size=64, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(actual, expected, rtol=RTOL)
    # Sensitivity: replica 0 sees the first half of each batch, whose loss is
    # clearly different, so reporting one replica's loss could not pass.
    first_halves = single.evaluate(np.concatenate([images[:32], images[64:96]]), batch_size=64, verbose=0)
    assert abs(first_halves - expected) > 1e-3 * expected


# ------------------------------------------ synchronized custom updates
@pytest.fixture(scope="module")
def fitted_wgan(mirrored_strategy):
    """(WGAN fitted 1 step = 2 critic updates under the 2-replica strategy, its initial critic weights)."""
    keras.utils.set_random_seed(0)
    images = fashion_images(64)
    with mirrored_strategy.scope():
        model = kerasgen.models.WGAN(latent_dim=8, base_filters=8, discriminator_steps=2, seed=0)
        model.compile()
    initial = as_numpy(model.critic.trainable_variables)
    model.fit(images, batch_size=64, shuffle=False, epochs=1, verbose=0)
    return model, initial


def test_wgan_clipping_keeps_critic_replicas_identical_and_in_range(fitted_wgan):
    model, initial = fitted_wgan
    assert int(model.discriminator_optimizer.iterations.numpy()) == 2
    critic = model.critic.trainable_variables
    assert_replicas_identical(critic, "critic weight")
    for variable in critic:
        for copy in replica_copies(variable):
            assert np.abs(copy).max() <= 0.01 + 1e-7, variable.path
    # The kernels (and batch-norm gammas) start well outside [-c, c]: clipping had work to do.
    assert sum(np.abs(before).max() > 0.01 for before in initial) >= len(initial) // 2


def test_wgan_warmup_schedule_runs_under_two_replicas(mirrored_strategy):
    """The warm-up's steps with and without a generator update are two train functions, since a
    generator update (synchronized batch norm, gradient aggregation) cannot sit in a tf.cond."""
    images = fashion_images(64 * 8)
    with mirrored_strategy.scope():
        model = kerasgen.models.WGAN(latent_dim=8, base_filters=8, discriminator_steps=2, warmup_critic_steps=4,
                                     warmup_generator_steps=1, seed=0)
        model.compile()
    model.fit(images, batch_size=64, shuffle=False, epochs=1, verbose=0)
    # 8 steps of 2 critic updates; generator updates once 4, 6, 8, ... critic updates are done
    assert int(model.discriminator_optimizer.iterations.numpy()) == 16
    assert int(model.optimizer.iterations.numpy()) == 7
    assert_replicas_identical(model.generator.trainable_variables, "generator weight")
    assert_replicas_identical(model.critic.trainable_variables, "critic weight")


def test_batch_norm_moving_statistics_are_identical_on_replicas(fitted_wgan):
    model, _ = fitted_wgan
    statistics = [v for v in model.critic.non_trainable_variables if "moving" in v.path]
    assert statistics
    assert_replicas_identical(statistics, "critic batch-norm statistic")


def test_ema_generator_replicas_stay_identical(mirrored_strategy):
    images = fashion_images(128)
    with mirrored_strategy.scope():
        model = kerasgen.models.GAN(latent_dim=8, ema_decay=0.9, seed=0)
        model.compile()
    initial = as_numpy(model.ema_generator.weights)
    model.fit(images, batch_size=64, shuffle=False, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2

    ema = model.ema_generator.weights
    assert_replicas_identical(ema, "EMA weight")
    assert_replicas_identical(model.generator.weights, "generator weight")
    moved = [not np.array_equal(replica_copies(v)[0], b) for v, b in zip(ema, initial)]
    assert all(moved), "every EMA weight should have moved"
    # theta_ema lags theta: it is an average, not a copy.
    for average, weight in zip(ema, model.generator.weights):
        assert not np.array_equal(replica_copies(average)[0], replica_copies(weight)[0])


def test_spectral_norm_u_vectors_replicas_stay_identical_and_update(mirrored_strategy):
    images = fashion_images(64)
    with mirrored_strategy.scope():
        model = kerasgen.models.SNGAN(latent_dim=8, base_filters=8, discriminator_steps=2, seed=0)
        model.compile()
    wrappers = [layer for layer in model.discriminator.layers if isinstance(layer, SpectralNormalization)]
    assert sum(layer.u.shape[-1] > 1 for layer in wrappers) >= 2
    initial = [replica_copies(layer.u)[0] for layer in wrappers]
    model.fit(images, batch_size=64, shuffle=False, epochs=1, verbose=0)

    assert_replicas_identical([layer.u for layer in wrappers], "spectral-norm u")
    assert_replicas_identical(model.discriminator.trainable_variables, "discriminator weight")
    for layer, before in zip(wrappers, initial):
        after = replica_copies(layer.u)[0]
        np.testing.assert_allclose(np.linalg.norm(after), 1.0, rtol=1e-4)
        if after.size > 1:  # a (1, 1) u (the score layer) is +-1 for ever
            assert not np.allclose(after, before), f"{layer.name}.u was not updated"


def test_cyclegan_image_pools_stay_identical_on_replicas(mirrored_strategy):
    """Each replica queries the pool with its own fakes; the first replica's pool is kept on all."""
    images = fashion_images(64)
    with mirrored_strategy.scope():
        model = kerasgen.models.CycleGAN(base_filters=4, num_blocks=1, pool_size=8, seed=0)
        model.compile()
    model.fit(images, images[::-1], batch_size=32, shuffle=False, epochs=1, verbose=0)  # 2 steps
    assert int(model.optimizer.iterations.numpy()) == int(model.discriminator_optimizer.iterations.numpy()) == 2
    pools = [model.pool_a, model.pool_b]
    assert_replicas_identical([v for pool in pools for v in (pool.images, pool.count)], "image pool")
    assert_replicas_identical(model.generator_variables + model.discriminator_variables, "weight")
    for pool in pools:
        assert replica_copies(pool.count)[0] == 8  # 16 fakes per replica and step: full after the first
        stored = replica_copies(pool.images)[0]
        assert np.abs(stored).max() <= 1.0 and stored.reshape(8, -1).std(axis=1).min() > 0  # fakes, no empty slots


# ------------------------------------------------------------ multi-worker
_WORKER_SCRIPT = """
import json
import os
import sys

import numpy as np
import tensorflow as tf

import kerasgen

strategy = kerasgen.distribute.get_strategy("multi_worker")  # first: before any other TF op
import keras

keras.utils.set_random_seed(0)
out_dir, index = sys.argv[1], json.loads(os.environ["TF_CONFIG"])["task"]["index"]
images, _ = kerasgen.datasets.load_arrays("fashion_mnist", split="train", limit=96)
images = kerasgen.datasets.to_value_range(images, (-1.0, 1.0))
dataset = tf.data.Dataset.from_tensor_slices(images).batch(32)  # global batch 32, 3 steps
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = dataset.with_options(options)

with strategy.scope():
    model = kerasgen.models.AutoEncoder(latent_dim=4, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
flat = lambda weights: np.concatenate([np.ravel(w) for w in weights])
np.save(os.path.join(out_dir, f"initial_{index}.npy"), flat(model.get_weights()))
history = model.fit(dataset, epochs=1, verbose=0)
np.save(os.path.join(out_dir, f"final_{index}.npy"), flat(model.get_weights()))
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "steps": int(model.optimizer.iterations.numpy()),
    "loss": history.history["loss"],
}))
"""


def _free_loopback_ports(count):
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_two_multi_worker_processes_train_in_sync(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER_SCRIPT))
    workers = [f"127.0.0.1:{port}" for port in _free_loopback_ports(2)]
    processes, logs = [], []
    try:
        for index in range(2):
            tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            log = open(tmp_path / f"worker_{index}.log", "w+")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [sys.executable, str(script), str(tmp_path)],
                    env=subprocess_env(TF_CONFIG=json.dumps(tf_config)),
                    stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path,
                )
            )
        deadline = time.monotonic() + 180
        outputs = []
        for index, process in enumerate(processes):
            try:
                out, _ = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"multi-worker training timed out after 180 s; worker {index} stderr:\n{_tail(logs[index])}")
            assert process.returncode == 0, f"worker {index} failed:\n{_tail(logs[index])}"
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs:
            log.close()

    for report in outputs:
        assert report["replicas"] == 2 and report["steps"] == 3
        assert np.all(np.isfinite(report["loss"]))
    # Both workers report the globally aggregated loss.
    np.testing.assert_allclose(outputs[0]["loss"], outputs[1]["loss"], rtol=RTOL)
    initial = [np.load(tmp_path / f"initial_{i}.npy") for i in range(2)]
    final = [np.load(tmp_path / f"final_{i}.npy") for i in range(2)]
    np.testing.assert_array_equal(initial[0], initial[1])
    np.testing.assert_allclose(final[0], final[1], rtol=RTOL, atol=ATOL)
    assert np.abs(final[0] - initial[0]).max() > 1e-3, "training did not change the weights"


def _tail(log, chars=3000):
    log.flush()
    log.seek(0)
    return log.read()[-chars:]
