"""Pre-training from scratch (the IB-BERT teacher, or a student as a baseline): MLM + NSP with LAMB.

    result = pretrain(MobileBertConfig.from_preset("ib_bert_large"), "data/", "runs/teacher",
                      PretrainConfig(steps=10_000, batch_size=256))
    MobileBertForPreTraining.from_pretrained("runs/teacher")
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training.checkpointing import CheckpointKeeper, TrainState, check_run_settings
from mobilebert_tf.training.configs import OptimizerConfig, PretrainConfig  # noqa: F401 (re-exported)
from mobilebert_tf.training.distribute import distributed_pretraining_dataset, worker_info
from mobilebert_tf.training.evaluation import PretrainingEvaluator, check_eval_data
from mobilebert_tf.training.loop import StageRun, distributed_step, run_stages
from mobilebert_tf.training.losses import masked_lm_loss, next_sentence_loss, pretraining_outputs
from mobilebert_tf.training.progress import RunLogger
from mobilebert_tf.training.schedules import WarmupLinearDecay


@dataclasses.dataclass
class TrainResult:
    """``model`` as trained so far; ``finished`` False when stopped at ``stop_at``; ``history`` one
    dict of scalars per step run by this call."""

    model: Any
    finished: bool
    history: list[dict]
    state: dict[str, int]
    out_dir: str
    evals: list[dict] = dataclasses.field(default_factory=list)  # held-out metrics, {"step", "eval"} per evaluation


def check_data(data) -> None:
    """Fail before anything is written when the data directory (or file) does not exist."""
    from mobilebert_tf.data import DataError

    if isinstance(data, (str, os.PathLike)) and not any(c in str(data) for c in "*?[") and not os.path.exists(data):
        raise DataError(f"pre-training data not found: {data}")


def data_vocab(data) -> tuple[str | None, int | None]:
    """(vocab path, vocab size) recorded in the data directory's manifest, if any."""
    from mobilebert_tf.data.pretraining import MANIFEST_NAME, read_manifest

    if not (isinstance(data, (str, os.PathLike)) and os.path.isfile(os.path.join(data, MANIFEST_NAME))):
        return None, None
    vocab = read_manifest(data).get("vocab", {})
    return vocab.get("path"), vocab.get("size")


def make_evaluator(model_config: MobileBertConfig, eval_data, eval_every: int | None, eval_examples: int | None,
                   is_chief: bool = True) -> PretrainingEvaluator | None:
    """The held-out evaluator of a training run (None without ``eval_data``, and on non-chief workers);
    checks the flags and the data before anything is written."""
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ConfigError(f"--eval-every must be a positive integer, got {eval_every!r}")
    if eval_data is None:
        if eval_every is not None:
            raise ConfigError("--eval-every needs --eval-data (a held-out create-pretraining-data directory)")
        return None
    if isinstance(eval_data, PretrainingEvaluator):  # a caller's own evaluator (e.g. to read its .seconds)
        check_eval_data(model_config, eval_data.data)
        return eval_data if is_chief else None
    check_eval_data(model_config, eval_data)
    return PretrainingEvaluator(eval_data, max_examples=eval_examples) if is_chief else None


def pretrain(model_config: MobileBertConfig | None, data, out_dir: str, config: PretrainConfig | None = None, *,
             resume: bool = False, strategy: tf.distribute.Strategy | None = None, init_from: str | None = None,
             vocab_file: str | None = None, stop_at: int | None = None, progress: bool | None = None,
             eval_data=None, eval_every: int | None = None, eval_examples: int | None = None) -> TrainResult:
    """Pre-train a ``MobileBertForPreTraining`` on MLM + NSP data (``create_pretraining_data`` output).

    ``init_from`` starts from a model directory's weights instead of random ones (``model_config``,
    if given, may differ in fields that keep the weight shapes, such as dropout). ``resume``
    continues from the latest checkpoint in ``out_dir/checkpoints`` (a fresh start when there is
    none). ``stop_at`` stops after that many global steps, saving a checkpoint (to continue later
    with ``resume``). When the run finishes, ``out_dir`` holds the model (``save_pretrained``, with
    ``vocab_file`` or the data's vocab). ``keras.utils.set_random_seed(config.seed)`` seeds Python,
    NumPy and TensorFlow first. ``eval_data`` (a held-out ``create_pretraining_data`` directory, or a
    ``PretrainingEvaluator``)
    adds held-out MLM/NSP metrics at the start, every ``eval_every`` steps and at the end
    (``eval_examples``: the first N examples only), logged as ``eval/*`` and in ``result.evals``.

    Args:
        model_config: the model (None: ``init_from``'s config).
        data: the training data directory.
        out_dir: the run directory (checkpoints/, logs/, then the model).
        config: the run's settings (None: ``PretrainConfig()``).
        resume, strategy, init_from, vocab_file, stop_at, progress, eval_data, eval_every, eval_examples: above.

    Returns:
        A ``TrainResult`` (history, held-out evaluations, final state, whether the run finished).

    Example:
        >>> pretrain(MobileBertConfig.from_preset("ib_bert_large"), "data/wiki", "runs/teacher",
        ...          PretrainConfig(steps=100_000, batch_size=256))
    """
    config = config if config is not None else PretrainConfig()
    strategy = strategy or tf.distribute.get_strategy()
    is_chief, worker = worker_info(strategy)
    out_dir = os.fspath(out_dir)
    init_overrides = {}
    if init_from is not None:
        from mobilebert_tf.models import CONFIG_FILE

        init_config = MobileBertConfig.from_json(os.path.join(init_from, CONFIG_FILE))
        model_config = model_config or init_config
        # e.g. another dropout; fields that change weight shapes fail in from_pretrained, by name
        init_overrides = {n: getattr(model_config, n) for n in MobileBertConfig.field_names()
                          if getattr(model_config, n) != getattr(init_config, n)}
    if model_config is None:
        raise ConfigError("pretrain needs a model config (or init_from)")
    check_data(data)
    evaluator = make_evaluator(model_config, eval_data, eval_every, eval_examples, is_chief)
    data_vocab_path, data_vocab_size = data_vocab(data)
    if data_vocab_size is not None and data_vocab_size > model_config.vocab_size:
        raise ConfigError(f"config field 'vocab_size' ({model_config.vocab_size}) is smaller than the data's vocab "
                          f"({data_vocab_size} tokens, {data_vocab_path})")
    vocab_file = vocab_file or (data_vocab_path if data_vocab_path and os.path.isfile(data_vocab_path) else None)
    settings = {"command": "pretrain", "model_config": model_config.to_dict(), "training": config.trajectory(),
                "data": os.path.abspath(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else str(data),
                "init_from": os.path.abspath(init_from) if init_from else None}
    has_checkpoint = check_run_settings(out_dir, settings, resume=resume, is_chief=is_chief)

    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        if init_from is not None:
            model = MobileBertForPreTraining.from_pretrained(init_from, **init_overrides)
        else:
            model = MobileBertForPreTraining(model_config).build_with_dummy()
    state = TrainState()
    keeper = CheckpointKeeper(out_dir, max_to_keep=config.keep_checkpoints, is_chief=is_chief, worker=worker)
    resume_path = keeper.restore_model_and_state(model, state) if has_checkpoint else None

    def build():
        schedule = WarmupLinearDecay(config.optimizer.learning_rate, config.steps, config.warmup)
        optimizer = config.optimizer.make(model, schedule)
        variables = model.trainable_variables
        optimizer.build(variables)

        def replica_step(batch):
            with tf.GradientTape() as tape:
                out = pretraining_outputs(model, batch, training=True)
                mlm, mlm_acc = masked_lm_loss(out["mlm_logits"], batch["masked_lm_ids"], batch["masked_lm_weights"])
                nsp, nsp_acc = next_sentence_loss(out["nsp_logits"], batch["next_sentence_labels"])
                loss = mlm + nsp
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            return {"loss": loss, "mlm_loss": mlm, "mlm_accuracy": mlm_acc, "nsp_loss": nsp, "nsp_accuracy": nsp_acc}

        return optimizer, distributed_step(strategy, replica_step), schedule

    dataset = distributed_pretraining_dataset(strategy, data, config.batch_size, seed=config.seed,
                                              shuffle=config.shuffle, skip_steps=int(state.batches.numpy()))
    logger = RunLogger(out_dir, config.steps, int(state.global_step.numpy()), log_every=config.log_every,
                       progress=progress, enabled=is_chief, description="pretrain")
    try:
        finished = run_stages(strategy, model, [StageRun("pretraining", config.steps, build)], state=state,
                              keeper=keeper, logger=logger, iterator=iter(dataset),
                              checkpoint_every=config.checkpoint_every, resume_path=resume_path, stop_at=stop_at,
                              evaluator=evaluator, eval_every=eval_every)
    finally:
        logger.close()
    if finished and is_chief:
        model.save_pretrained(out_dir, vocab_file=vocab_file, metadata={"trained_by": {
            "command": "pretrain", "steps": config.steps, "batch_size": config.batch_size,
            "replicas": strategy.num_replicas_in_sync, "data": settings["data"]}})
    return TrainResult(model=model, finished=finished, history=logger.history, state=state.as_dict(),
                       out_dir=out_dir, evals=logger.evals)
