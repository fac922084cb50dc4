"""Distribution strategies (one device, several GPUs, several workers) and GPU memory growth."""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf
from absl import logging

from clarinet_ddsp.errors import ArgumentError


def allow_memory_growth() -> list[str]:
    """Lets every visible GPU grow its memory on demand; call before any op touches a GPU.

    Returns:
        Names of the GPUs set.

    Raises:
        RuntimeError: a GPU was already initialised (memory growth must be set before first use).
    """
    gpus = tf.config.list_physical_devices('GPU')
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:
            raise RuntimeError(
                f'allow_memory_growth: cannot set memory growth on {gpu.name} because the '
                'GPU is already initialised; call it (--allow_memory_growth) before any '
                f'TensorFlow work. ({error})'
            ) from error
    if gpus:
        logging.info('Memory growth enabled on %d GPU(s): %s', len(gpus), [g.name for g in gpus])
    return [g.name for g in gpus]


def is_default_strategy(strategy: tf.distribute.Strategy) -> bool:
    """True for TensorFlow's default (no-op, single device) strategy."""
    return type(strategy).__name__ == '_DefaultDistributionStrategy'


def parse_cluster_config(cluster_config: str | dict[str, Any]) -> dict[str, Any]:
    """TF_CONFIG-style {'cluster': {'worker': [...]}, 'task': {'type': ..., 'index': ...}}.

    Raises:
        ValueError: not JSON, or missing 'cluster' / 'task'.
    """
    if isinstance(cluster_config, dict):
        config = cluster_config
    else:
        try:
            config = json.loads(cluster_config)
        except json.JSONDecodeError as error:
            raise ArgumentError(
                'parse_cluster_config',
                'cluster_config',
                cluster_config,
                f'is not JSON ({error}); give TF_CONFIG JSON like {{"cluster": {{"worker": '
                '["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}.',
            ) from error
    if (
        'cluster' not in config
        or 'task' not in config
        or 'type' not in config['task']
        or 'index' not in config['task']
    ):
        raise ArgumentError(
            'parse_cluster_config',
            'cluster_config',
            cluster_config,
            'needs "cluster" and "task" with "type" and "index", e.g. '
            '{"cluster": {"worker": ["h1:p", "h2:p"]}, "task": {"type": "worker", "index": 0}}.',
        )
    return config


def get_strategy(tpu: str = '', cluster_config: str | dict[str, Any] = '') -> tf.distribute.Strategy:
    """The strategy for this process.

    - tpu: TPUStrategy at that address.
    - cluster_config (TF_CONFIG JSON): MultiWorkerMirroredStrategy over the cluster's workers.
    - more than one GPU: MirroredStrategy over all of them.
    - otherwise the default strategy (one device; MirroredStrategy would only add per-step overhead).
    """
    if tpu:
        logging.info('Using the TPU at %s', tpu)
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if cluster_config:
        config = parse_cluster_config(cluster_config)
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            cluster_spec=tf.train.ClusterSpec(config['cluster']),
            task_type=config['task']['type'],
            task_id=int(config['task']['index']),
            num_accelerators={'GPU': len(tf.config.list_physical_devices('GPU'))},
            rpc_layer='grpc',
        )
        logging.info('MultiWorkerMirroredStrategy: %s, this task %s', config['cluster'], config['task'])
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    gpus = tf.config.list_physical_devices('GPU')
    if len(gpus) > 1:
        logging.info('MirroredStrategy over %d GPUs', len(gpus))
        return tf.distribute.MirroredStrategy()
    logging.info('One device: the default strategy.')
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker strategy."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == 'chief':
        return True
    has_chief = 'chief' in resolver.cluster_spec().as_dict()
    return task_type in (None, 'worker') and task_id == 0 and not has_chief


def task_id(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, 'cluster_resolver', None)
    return int(getattr(resolver, 'task_id', 0) or 0)
