"""`tf.distribute` strategies for training kerasgen models on several devices.

Every kerasgen model trains under a strategy with plain `fit`: gradients are
averaged over the GLOBAL batch (`GenerativeModel.apply_gradients`), reported
losses are aggregated over replicas, and each replica draws its own noise
(`kerasgen.models.base.ReplicaSeedGenerator`).

    import kerasgen

    strategy = kerasgen.distribute.get_strategy("auto")    # all local GPUs, or the default strategy
    with strategy.scope():                                 # build AND compile inside the scope
        model = kerasgen.models.DCGAN(latent_dim=100)
        model.compile()
    # fit outside the scope, with the GLOBAL batch size: each of the
    # strategy.num_replicas_in_sync replicas gets batch_size / num_replicas.
    model.fit(kerasgen.datasets.load("fashion_mnist", batch_size=128 * strategy.num_replicas_in_sync), epochs=5)

Several workers (`"multi_worker"`): start the same script on every machine,
each with its own `TF_CONFIG`, and create the strategy at the very start of
the program, before any other TensorFlow op:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' python train.py   # index 1 on host2

Every worker must feed the same dataset (tf.data shards it between workers),
and only one of them (index 0) should write checkpoints and samples.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

__all__ = ["STRATEGY_NAMES", "get_strategy"]

#: Names `get_strategy` accepts.
STRATEGY_NAMES = ("auto", "default", "mirrored", "multi_worker")

_TF_CONFIG_HELP = (
    "MultiWorkerMirroredStrategy reads the cluster from the TF_CONFIG environment variable, a JSON "
    'object like {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}: '
    "the same worker list on every worker, and on each worker its own index i into it."
)


def _local_device_names(device_type):
    return [device.name for device in tf.config.list_logical_devices(device_type)]


def _is_scalar(value):
    parts = value.values if isinstance(value, tf.distribute.DistributedValues) else (value,)
    return all(getattr(part, "shape", None) is not None and part.shape.rank == 0 for part in parts)


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce(..., axis=0)` accepts scalars.

    Keras 3's `fit`/`evaluate` reduce each step's (scalar) metric results
    with `strategy.reduce("MEAN", value, axis=0)` in multi-worker mode, which
    TensorFlow refuses ("Invalid reduction dimension 0 for input with 0
    dimensions"; keras-team/keras#20585, tensorflow/tensorflow#72388). A
    scalar has no batch axis, so it is reduced across replicas only (axis
    None); the metric results are synchronized already, so their mean over
    replicas is the value itself. Everything else is the stock strategy.
    """

    def reduce(self, reduce_op, value, axis=None):
        if axis is not None and _is_scalar(value):
            axis = None
        return super().reduce(reduce_op, value, axis=axis)


def _check_tf_config():
    """Validates the TF_CONFIG environment variable; returns the parsed dict."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        raise ValueError(f"get_strategy('multi_worker'): TF_CONFIG is not set. {_TF_CONFIG_HELP}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"get_strategy('multi_worker'): TF_CONFIG is not valid JSON ({error}). {_TF_CONFIG_HELP}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    problem = None
    if not isinstance(cluster, dict) or not cluster.get("worker"):
        problem = 'it has no "cluster" with a non-empty "worker" list'
    elif not all(
        isinstance(jobs, list) and jobs and all(isinstance(address, str) and ":" in address for address in jobs)
        for jobs in cluster.values()
    ):
        problem = 'every job in "cluster" must be a list of "host:port" strings'
    elif not isinstance(task, dict) or task.get("type") not in cluster:
        problem = f'its "task" must have a "type" among the cluster\'s jobs {sorted(cluster)}'
    elif (
        not isinstance(task.get("index"), int)
        or isinstance(task.get("index"), bool)
        or not 0 <= task["index"] < len(cluster[task["type"]])
    ):
        problem = f'its "task" "index" must be an integer in [0, {len(cluster[task["type"]])})'
    if problem:
        raise ValueError(f"get_strategy('multi_worker'): TF_CONFIG={raw!r} is invalid: {problem}. {_TF_CONFIG_HELP}")
    return config


def get_strategy(name="auto", devices=None):
    """Returns a `tf.distribute.Strategy` to build, compile and fit models under.

    Args:
        name: one of
            - "auto": a `MirroredStrategy` over all local GPUs when there are
              two or more, else the default strategy (one device, no-op).
            - "default": the default strategy, `tf.distribute.get_strategy()`.
            - "mirrored": a `MirroredStrategy` (synchronous data parallelism on
              one machine) over `devices` if given, else all local GPUs, else
              all logical CPUs (a single device works too).
            - "multi_worker": a `MultiWorkerMirroredStrategy` over the cluster
              in the `TF_CONFIG` environment variable (see the module docstring);
              create it at the start of the program. (A thin subclass that
              lets Keras 3's `fit` reduce scalar metrics; see
              `_MultiWorkerMirroredStrategy`.)
        devices: device names for "mirrored", e.g. `["/gpu:0", "/gpu:1"]`.

    Build and compile the model inside `strategy.scope()`, then call `fit`
    (outside the scope is fine) with the GLOBAL batch size:

        strategy = kerasgen.distribute.get_strategy("mirrored")
        with strategy.scope():
            vae = kerasgen.models.VAE(latent_dim=16)
            vae.compile()
        vae.fit(images, batch_size=64 * strategy.num_replicas_in_sync, epochs=10)

    Raises:
        ValueError: unknown `name`, `devices` with a name other than
            "mirrored", or a missing or invalid `TF_CONFIG` for "multi_worker".
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"Unknown strategy name {name!r}; valid names are {', '.join(map(repr, STRATEGY_NAMES))}.")
    if devices is not None and name != "mirrored":
        raise ValueError(f"devices= is only used by get_strategy('mirrored'), got name={name!r} and devices={devices!r}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "auto":
        gpus = _local_device_names("GPU")
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) >= 2 else tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is not None:
            devices = list(devices)
            if not devices:
                raise ValueError("get_strategy('mirrored', devices=[]): give at least one device, or devices=None.")
        else:
            devices = _local_device_names("GPU") or _local_device_names("CPU")
        return tf.distribute.MirroredStrategy(devices)
    _check_tf_config()
    return _MultiWorkerMirroredStrategy()
