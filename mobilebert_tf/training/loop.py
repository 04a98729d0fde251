"""The checkpointed, resumable training loop shared by ``pretrain`` (one stage) and ``distill`` (stages)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import tensorflow as tf

from mobilebert_tf.errors import MobileBertError
from mobilebert_tf.training.checkpointing import CheckpointKeeper, TrainState
from mobilebert_tf.training.progress import RunLogger


@dataclasses.dataclass
class StageRun:
    """One stage of a run. ``build()`` (called in the strategy's scope when the stage starts) returns
    ``(optimizer, train_step, schedule)``: a built optimizer, a function ``iterator -> dict of scalar
    tensors`` (global values) and the stage's LR schedule (``schedule.value(stage_step)``).

    ``pretrain`` has one stage; ``distill`` one per layer-wise stage plus the final pre-training
    distillation. A stage's optimizer is new (the previous stage's slots are not carried over).

    Args:
        name: str. The stage's name, logged with every step when the run has several stages.
        steps: int. Training steps of the stage (each one global batch).
        build: callable ``() -> (optimizer, train_step, schedule)``; ``train_step`` is typically
            :func:`distributed_step`'s result.

    Example:
        >>> stage = StageRun("pretraining", 10_000, build)  # doctest: +SKIP
        >>> run_stages(strategy, model, [stage], state=state, keeper=keeper, logger=logger,
        ...            iterator=iter(dataset), checkpoint_every=1000)  # doctest: +SKIP
        True
    """

    name: str
    steps: int
    build: Callable[[], tuple]


def distributed_step(strategy: tf.distribute.Strategy, replica_fn: Callable) -> Callable:
    """``replica_fn(batch) -> dict of replica shares`` -> a tf.function ``iterator -> dict of global sums``.

    Each call of the returned step reads one distributed batch (``next(iterator)``), runs ``replica_fn``
    on every replica with its per-replica batch (``strategy.run``) and sums each returned value over the
    replicas (``strategy.reduce(SUM, axis=None)``). With losses written as replica shares
    (:mod:`mobilebert_tf.training.losses`), the sums are the global values. Traced without autograph.

    Args:
        strategy: tf.distribute.Strategy. The strategy the model and optimizer were created under.
        replica_fn: callable ``batch -> dict[str, scalar tf.Tensor]``, one training step on one replica
            (forward, gradients, ``optimizer.apply_gradients``).

    Returns:
        A ``tf.function`` ``iterator -> dict[str, scalar tf.Tensor]``: the global sums, under the keys
        ``replica_fn`` returns.

    Example:
        >>> train_step = distributed_step(strategy, replica_step)  # doctest: +SKIP
        >>> sorted(train_step(iterator))  # doctest: +SKIP
        ['loss', 'mlm_accuracy', 'mlm_loss', 'nsp_accuracy', 'nsp_loss']
    """

    # No autograph: the step has no tensor-dependent Python control flow, and converting every
    # Keras layer's call costs more than half of the tracing time.
    @tf.function(autograph=False)
    def step(iterator):
        per_replica = strategy.run(replica_fn, args=(next(iterator),))
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

    return step


# What a collective op raises when another worker died or cannot be reached (MultiWorkerMirroredStrategy).
PEER_FAILURES = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
                 tf.errors.AbortedError)


class WorkerLostError(MobileBertError):
    """A worker of a multi-worker job stopped or became unreachable; the message says how to resume.

    Raised by :func:`run_stages` in place of one of ``PEER_FAILURES`` under ``MultiWorkerMirroredStrategy``.
    A ``MobileBertError``: the CLI prints its message (naming the last checkpoint) and exits with 1.
    """


def run_stages(strategy: tf.distribute.Strategy, model, stages: list[StageRun], *, state: TrainState,
               keeper: CheckpointKeeper, logger: RunLogger, iterator, checkpoint_every: int,
               resume_path: str | None = None, stop_at: int | None = None,
               evaluator: Callable | None = None, eval_every: int | None = None) -> bool:
    """Run ``stages`` from where ``state`` stands. Saves a checkpoint every ``checkpoint_every``
    global steps, at the end of every stage and when stopping at global step ``stop_at``.

    ``evaluator(model) -> dict of floats`` (held-out metrics, see training/evaluation.py) runs before
    the first step of a fresh run, every ``eval_every`` global steps and after the last step; its
    results go to ``logger.eval``.

    Returns True when every stage is done, False when stopped early at ``stop_at``. Raises WorkerLostError
    when another worker of the cluster is gone (every worker then restarts with ``--resume``).

    Stages before ``state.stage`` are skipped and the current one starts at ``state.stage_step``; its
    optimizer is restored from ``resume_path`` when the run resumes inside the stage. Every step logs
    the step's metrics (as floats) plus ``step_seconds``, ``lr`` and, with several stages, ``stage_index``
    through ``logger.step``.

    Args:
        strategy: tf.distribute.Strategy. The strategy of ``model``; each stage is built in its scope.
        model: the model being trained (what checkpoints and ``evaluator`` see).
        stages: list of StageRun. All stages of the run, in order (also those already done).
        state: TrainState. Where the run stands; advanced after every step.
        keeper: CheckpointKeeper. Saves the checkpoints.
        logger: RunLogger. Receives ``step`` and ``eval`` records.
        iterator: an iterator over the distributed dataset (``iter(distributed_pretraining_dataset(...))``),
            already positioned at ``state.batches``.
        checkpoint_every: int. Save a checkpoint every this many global steps.
        resume_path: str or None. The checkpoint the model and state were restored from (to restore the
            current stage's optimizer); None for a fresh run.
        stop_at: int or None. Stop (after saving a checkpoint) once ``state.global_step`` reaches it.
        evaluator: callable ``model -> dict[str, float]`` or None. Held-out evaluation.
        eval_every: int or None. Evaluate every this many global steps (None: at the start and end only).

    Returns:
        bool. True when every stage is done, False when stopped at ``stop_at``.

    Raises:
        WorkerLostError: under ``MultiWorkerMirroredStrategy``, a collective op failed with one of
            ``PEER_FAILURES`` (other strategies re-raise the TensorFlow error).

    Example:
        >>> finished = run_stages(strategy, model, [StageRun("pretraining", 100, build)], state=state,
        ...                       keeper=keeper, logger=logger, iterator=iter(dataset),
        ...                       checkpoint_every=50, stop_at=60)  # doctest: +SKIP
        >>> finished, int(state.global_step.numpy())  # doctest: +SKIP
        (False, 60)
    """
    try:
        return _run_stages(strategy, model, stages, state=state, keeper=keeper, logger=logger, iterator=iterator,
                           checkpoint_every=checkpoint_every, resume_path=resume_path, stop_at=stop_at,
                           evaluator=evaluator, eval_every=eval_every)
    except PEER_FAILURES as e:
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise
        last = keeper.latest
        raise WorkerLostError(
            f"a worker of the cluster stopped or is unreachable ({type(e).__name__}: "
            f"{(str(e).splitlines() or [''])[0][:200]}); the last checkpoint is "
            f"{last or 'none (the run starts over)'}: restart every worker with the same command and --resume"
        ) from e


def _run_stages(strategy, model, stages, *, state, keeper, logger, iterator, checkpoint_every, resume_path,
                stop_at, evaluator, eval_every) -> bool:
    eval_every = eval_every or 0
    if evaluator is not None and int(state.global_step.numpy()) == 0:
        logger.eval(0, evaluator(model))
    for index in range(int(state.stage.numpy()), len(stages)):
        stage = stages[index]
        with strategy.scope():
            optimizer, train_step, schedule = stage.build()
        start = int(state.stage_step.numpy())
        if resume_path is not None and start > 0:
            keeper.restore_optimizer(optimizer, resume_path)
        resume_path = None
        for stage_step in range(start, stage.steps):
            if stop_at is not None and int(state.global_step.numpy()) >= stop_at:
                keeper.save(model, state, optimizer)
                return False
            started = time.perf_counter()
            metrics = {k: float(v) for k, v in train_step(iterator).items()}
            # wall time of the step (the stage's first one includes tracing); tokens/s = batch * seq / this
            metrics["step_seconds"] = time.perf_counter() - started
            metrics["lr"] = schedule.value(stage_step)
            if len(stages) > 1:
                metrics["stage_index"] = float(index)  # marks the stage boundaries in TensorBoard
            state.advance()
            stage_done = stage_step + 1 == stage.steps
            if stage_done:
                state.next_stage()
            step = int(state.global_step.numpy())
            logger.step(step, metrics, stage.name if len(stages) > 1 else None)
            if evaluator is not None and ((eval_every and step % eval_every == 0)
                                          or (stage_done and index + 1 == len(stages))):
                logger.eval(step, evaluator(model))
            if step % checkpoint_every == 0 or stage_done or step == stop_at:
                keeper.save(model, state, optimizer)
        if stop_at is not None and int(state.global_step.numpy()) >= stop_at and index + 1 < len(stages):
            return False
    return True
