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
    tensors`` (global values) and the stage's LR schedule (``schedule.value(stage_step)``)."""

    name: str
    steps: int
    build: Callable[[], tuple]


def distributed_step(strategy: tf.distribute.Strategy, replica_fn: Callable) -> Callable:
    """``replica_fn(batch) -> dict of replica shares`` -> a tf.function ``iterator -> dict of global sums``."""

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
    """A worker of a multi-worker job stopped or became unreachable; the message says how to resume."""


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
