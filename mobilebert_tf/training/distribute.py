"""``tf.distribute`` strategies and the distributed pre-training input pipeline.

Data parallelism is TensorFlow's: variables are mirrored by the strategy, each replica runs the
step on its slice of the global batch (``strategy.run``) and the optimizer sums the gradients
across replicas. Multi-worker training reads ``TF_CONFIG`` (docs/training.md).
"""
from __future__ import annotations

import os

import tensorflow as tf

from mobilebert_tf.errors import UsageError

STRATEGY_KINDS = ("default", "mirrored", "multiworker", "tpu")


def make_strategy(kind: str = "default", devices: list[str] | None = None) -> tf.distribute.Strategy:
    """``default`` (one device), ``mirrored`` (all local GPUs, or ``devices``), ``multiworker``
    (``TF_CONFIG``), ``tpu`` (``TPUClusterResolver``; ``TPU_NAME`` or a local TPU)."""
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if kind == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise UsageError("--strategy-kind multiworker needs the TF_CONFIG environment variable "
                             "(cluster and task; see docs/training.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise UsageError(f"unknown strategy kind {kind!r}; choose one of {', '.join(STRATEGY_KINDS)}")


def worker_info(strategy: tf.distribute.Strategy) -> tuple[bool, str]:
    """``(is_chief, worker name)``. Only the chief writes models, logs and the real checkpoints."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True, "chief"
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = resolver.cluster_spec().as_dict()
    if task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster):
        return True, "chief"
    return False, f"{task_type}-{task_id}"


def check_global_batch(strategy: tf.distribute.Strategy, batch_size: int) -> None:
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UsageError(f"--batch-size {batch_size} is the global batch and must be divisible by the "
                         f"{replicas} replicas in sync")


def distributed_pretraining_dataset(strategy: tf.distribute.Strategy, data, global_batch_size: int, *,
                                    seed: int, shuffle: bool = True, skip_steps: int = 0):
    """Endless MLM + NSP batches for ``strategy``, positioned after ``skip_steps`` global steps.

    Every global step takes one per-replica batch per replica, so each input pipeline skips
    ``skip_steps * replicas / pipelines`` of its batches. The order is a function of ``seed``,
    which makes a resumed run read the batches an uninterrupted one would have read.
    """
    from mobilebert_tf.data.pretraining import make_pretraining_dataset

    check_global_batch(strategy, global_batch_size)

    def dataset_fn(ctx: tf.distribute.InputContext):
        ds = make_pretraining_dataset(data, global_batch_size, shuffle=shuffle, seed=seed, repeat=True,
                                      drop_remainder=True, input_context=ctx)
        per_pipeline = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        return ds.skip(skip_steps * per_pipeline) if skip_steps else ds

    return strategy.distribute_datasets_from_function(dataset_fn)
