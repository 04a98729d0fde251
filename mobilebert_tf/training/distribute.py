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
    (``TF_CONFIG``), ``tpu`` (``TPUClusterResolver``; ``TPU_NAME`` or a local TPU).

    Make it before any other TensorFlow work: ``multiworker`` and ``tpu`` set up the runtime (``tpu``
    connects to the cluster and initializes the TPU system here).

    Args:
        kind: str. One of ``STRATEGY_KINDS`` (``--strategy-kind``). ``default`` returns
            ``tf.distribute.get_strategy()``, the strategy in effect (outside any scope: one device).
        devices: list of str or None. ``mirrored`` only: the devices to mirror over (None: all local GPUs,
            else the CPU).

    Returns:
        tf.distribute.Strategy. Create the model and optimizer in its ``scope()``.

    Raises:
        UsageError: an unknown ``kind``, or ``multiworker`` without the ``TF_CONFIG`` environment variable.

    Example:
        >>> make_strategy("mirrored", ["/cpu:0", "/cpu:1"]).num_replicas_in_sync  # doctest: +SKIP
        2
    """
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
    """``(is_chief, worker name)``. Only the chief writes models, logs and the real checkpoints.

    Every strategy but ``MultiWorkerMirroredStrategy`` (with a cluster resolver) is its own chief. In a
    cluster the chief is the task of type ``chief``, or worker 0 when the cluster has no ``chief`` task
    (a task type of None also counts as chief).

    Args:
        strategy: tf.distribute.Strategy. The run's strategy (``make_strategy``).

    Returns:
        tuple. ``(is_chief, name)``: bool, and ``"chief"`` for the chief, else ``"<task type>-<task id>"``
        (e.g. ``"worker-1"``), the name of its scratch checkpoint folder.

    Example:
        >>> worker_info(tf.distribute.get_strategy())
        (True, 'chief')
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True, "chief"
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = resolver.cluster_spec().as_dict()
    if task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster):
        return True, "chief"
    return False, f"{task_type}-{task_id}"


def check_global_batch(strategy: tf.distribute.Strategy, batch_size: int) -> None:
    """Check that the global ``batch_size`` splits evenly over the replicas of ``strategy``.

    Args:
        strategy: tf.distribute.Strategy. Its ``num_replicas_in_sync`` divides the batch.
        batch_size: int. The global batch (``--batch-size``).

    Raises:
        UsageError: ``batch_size`` is not a multiple of ``strategy.num_replicas_in_sync``.

    Example:
        >>> check_global_batch(tf.distribute.get_strategy(), 256)  # one replica: any batch passes
    """
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

    Each pipeline reads its share of the files (``make_pretraining_dataset(..., input_context=ctx)``),
    shuffled with ``seed`` (or in the order written), repeated and batched by the per-replica batch
    (``global_batch_size / replicas``, remainders dropped). Elements are the feature dicts of
    ``make_pretraining_dataset``: ``input_ids``, ``input_mask``, ``segment_ids`` int32 [b, seq_len];
    ``masked_lm_positions``, ``masked_lm_ids`` int32 and ``masked_lm_weights`` float32 [b, max_predictions];
    ``next_sentence_labels`` int32 [b], with b the per-replica batch.

    Args:
        strategy: tf.distribute.Strategy. The strategy the batches are distributed over.
        data: str, path or list of files. ``create_pretraining_data`` output: its directory, or TFRecord
            files / glob patterns next to its ``manifest.json``.
        global_batch_size: int. Examples per global step, over all replicas.
        seed: int. Seed of the shuffle order.
        shuffle: bool. Shuffle files and records (False: the order they were written).
        skip_steps: int. Global steps already trained (``TrainState.batches``): those batches are skipped.

    Returns:
        tf.distribute.DistributedDataset. Iterate it (``iter(...)``) and pass the iterator to
        :func:`mobilebert_tf.training.loop.run_stages`.

    Raises:
        UsageError: ``global_batch_size`` is not divisible by the replicas in sync.
        DataError: no TFRecord files at ``data``, or plain files without a ``manifest.json`` beside them.

    Example:
        >>> dataset = distributed_pretraining_dataset(strategy, "data/wiki", 256, seed=0,
        ...                                           skip_steps=int(state.batches.numpy()))  # doctest: +SKIP
        >>> iterator = iter(dataset)  # doctest: +SKIP
    """
    from mobilebert_tf.data.pretraining import make_pretraining_dataset

    check_global_batch(strategy, global_batch_size)

    def dataset_fn(ctx: tf.distribute.InputContext):
        ds = make_pretraining_dataset(data, global_batch_size, shuffle=shuffle, seed=seed, repeat=True,
                                      drop_remainder=True, input_context=ctx)
        per_pipeline = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        return ds.skip(skip_steps * per_pipeline) if skip_steps else ds

    return strategy.distribute_datasets_from_function(dataset_fn)
