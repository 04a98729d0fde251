"""Distilling a MobileBERT student from a pre-trained teacher (progressive / joint / auxiliary knowledge transfer).

    distiller = Distiller("runs/teacher", MobileBertConfig.from_preset("mobilebert"), "data/", "runs/student",
                          DistillConfig(strategy="progressive", steps_per_stage=10_000, final_steps=50_000))
    result = distiller.run()       # OUT then holds the student (save_pretrained)

The teacher runs in inference mode (``training=False``) and is never in an optimizer. Embeddings
and heads are copied from it (the same 512-wide interface between blocks makes that possible).
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import tensorflow as tf
import tf_keras as keras

from mobilebert_tf.config import ConfigError, MobileBertConfig
from mobilebert_tf.distillation.layer_map import resolve_layer_map
from mobilebert_tf.distillation.losses import DistillLossConfig, distillation_targets, layer_transfer_losses
from mobilebert_tf.distillation.strategies import EMBEDDINGS, LOWER_LAYER_MODES, STRATEGIES, Stage, make_schedule
from mobilebert_tf.modeldir import ModelDir
from mobilebert_tf.models import MobileBertForPreTraining
from mobilebert_tf.training.checkpointing import CheckpointKeeper, TrainState, check_run_settings
from mobilebert_tf.training.configs import JsonConfig, OptimizerConfig, check_fields
from mobilebert_tf.training.distribute import distributed_pretraining_dataset, worker_info
from mobilebert_tf.training.loop import StageRun, distributed_step, run_stages
from mobilebert_tf.training.losses import masked_lm_loss, next_sentence_loss, pretraining_outputs
from mobilebert_tf.training.pretrain import TrainResult, check_data, data_vocab, make_evaluator
from mobilebert_tf.training.progress import RunLogger
from mobilebert_tf.training.schedules import WarmupLinearDecay
from mobilebert_tf.weights import named_weights

#: Config fields teacher and student must share so that embeddings and heads can be copied.
SHARED_FIELDS = ("hidden_size", "embedding_size", "vocab_size", "trigram_input", "max_position_embeddings",
                 "type_vocab_size", "classifier_activation")
#: Weights copied from the teacher (and frozen during transfer stages).
COPIED_PREFIXES = ("encoder/embeddings/", "encoder/pooler/", "mlm/", "nsp/")
_LAYER = re.compile(r"^encoder/layer_(\d+)/")


@dataclasses.dataclass(frozen=True)
class DistillConfig(JsonConfig):
    """Settings of a distillation run. ``steps_per_stage``: steps of each progressive stage (see
    strategies.py for joint/auxiliary); ``final_steps``: pre-training distillation steps;
    ``warmup_fraction``: LR warmup at the start of every stage (each stage has a fresh LAMB)."""

    strategy: str = "progressive"
    steps_per_stage: int = 10_000
    final_steps: int = 50_000
    batch_size: int = 256
    warmup_fraction: float = 0.1
    optimizer: OptimizerConfig = OptimizerConfig()
    layer_map: str = "uniform"
    lower_layers: str = "frozen"
    lower_lr_mult: float = 0.1
    losses: DistillLossConfig = DistillLossConfig()
    seed: int = 0
    shuffle: bool = True
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10

    def __post_init__(self):
        check_fields(self, {
            "strategy": (self.strategy in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
            "steps_per_stage": (isinstance(self.steps_per_stage, int) and self.steps_per_stage >= 1,
                                "a positive integer"),
            "final_steps": (isinstance(self.final_steps, int) and self.final_steps >= 0, "a non-negative integer"),
            "batch_size": (isinstance(self.batch_size, int) and self.batch_size >= 1, "a positive integer"),
            "warmup_fraction": (0 <= self.warmup_fraction <= 1, "in [0, 1]"),
            "lower_layers": (self.lower_layers in LOWER_LAYER_MODES, f"one of {', '.join(LOWER_LAYER_MODES)}"),
            "lower_lr_mult": (0 < self.lower_lr_mult <= 1, "in (0, 1]"),
            "checkpoint_every": (self.checkpoint_every >= 1, "a positive integer"),
            "keep_checkpoints": (self.keep_checkpoints >= 1, "a positive integer"),
            "log_every": (self.log_every >= 1, "a positive integer")})

    def stages(self, num_layers: int) -> list[Stage]:
        return make_schedule(self.strategy, num_layers, self.steps_per_stage, self.final_steps,
                             lower_layers=self.lower_layers, lower_lr_mult=self.lower_lr_mult)

    def trajectory(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("checkpoint_every", "keep_checkpoints", "log_every"):
            d.pop(k)
        return d


def check_compatible(teacher: MobileBertConfig, student: MobileBertConfig, *, attention: bool = True) -> None:
    """Raise ConfigError naming every field that keeps embeddings/heads (or, with ``attention``,
    per-head attention maps) from being shared between teacher and student."""
    fields = SHARED_FIELDS + (("num_attention_heads",) if attention else ())
    bad = [f"{n} (teacher {getattr(teacher, n)!r}, student {getattr(student, n)!r})" for n in fields
           if getattr(teacher, n) != getattr(student, n)]
    if bad:
        raise ConfigError("teacher and student must share these config fields to copy embeddings and heads"
                          f"{' and compare attention maps' if attention else ''}; mismatched: {', '.join(bad)}")


def layer_of(path: str) -> int | None:
    """Block index of a weight path, ``EMBEDDINGS`` for the embeddings, None for pooler and heads."""
    m = _LAYER.match(path)
    if m:
        return int(m.group(1))
    return EMBEDDINGS if path.startswith("encoder/embeddings/") else None


def copy_teacher_weights(teacher, student) -> tuple[list[str], dict[str, str]]:
    """Copy embeddings, pooler and heads from ``teacher`` into ``student`` (built models).

    Returns ``(copied paths, {not copied path: reason})``. The embedding norm is copied only when
    both use the same ``normalization_type``: LayerNorm's gamma/beta mean something else in NoNorm.
    """
    t_weights, s_weights = named_weights(teacher), named_weights(student)
    same_norm = teacher.config.normalization_type == student.config.normalization_type
    copied, skipped = [], {}
    for path, var in s_weights.items():
        if not path.startswith(COPIED_PREFIXES):
            continue
        if path.startswith("encoder/embeddings/norm/") and not same_norm:
            skipped[path] = (f"normalization_type differs (teacher {teacher.config.normalization_type}, "
                             f"student {student.config.normalization_type})")
        elif path not in t_weights:
            skipped[path] = "not in the teacher"
        elif tuple(t_weights[path].shape) != tuple(var.shape):
            skipped[path] = f"shape {tuple(var.shape)} vs teacher {tuple(t_weights[path].shape)}"
        else:
            var.assign(t_weights[path])
            copied.append(path)
    return copied, skipped


def load_teacher(teacher_dir: str):
    """The teacher model (ours, HF or TF1 directory); a clear error when it is missing."""
    teacher_dir = os.fspath(teacher_dir)
    if not os.path.exists(teacher_dir):
        raise FileNotFoundError(f"teacher model directory not found: {teacher_dir}")
    teacher = MobileBertForPreTraining.from_pretrained(teacher_dir)
    teacher.trainable = False
    return teacher


class Distiller:
    """One distillation run: teacher, student, stages, checkpoints. ``run()`` may be called again
    after it stopped at ``stop_at``; it continues where it stopped.

    ``truncate`` (default True): transfer-only stages run teacher and student only up to the deepest
    layer they compare (``stage_depths``); False runs both full encoders (same results, for timing).
    ``eval_data``/``eval_every``/``eval_examples``: held-out MLM/NSP metrics of the student, as in
    ``pretrain``."""

    def __init__(self, teacher_dir: str, student_config: MobileBertConfig, data, out_dir: str,
                 config: DistillConfig = DistillConfig(), *, strategy: tf.distribute.Strategy | None = None,
                 resume: bool = False, vocab_file: str | None = None, progress: bool | None = None,
                 truncate: bool = True, eval_data=None, eval_every: int | None = None,
                 eval_examples: int | None = None):
        self.config = config
        self.truncate = truncate
        self.strategy = strategy or tf.distribute.get_strategy()
        self.is_chief, worker = worker_info(self.strategy)
        self.out_dir = os.fspath(out_dir)
        self.data = data
        self.progress = progress
        self.teacher_dir = os.fspath(teacher_dir)
        check_data(data)
        self.eval_every = eval_every
        self.evaluator = make_evaluator(student_config, eval_data, eval_every, eval_examples, self.is_chief)
        self.stages = config.stages(student_config.num_hidden_layers)
        attention = config.losses.uses_attention and any(s.transfer_layers for s in self.stages)

        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.teacher = load_teacher(self.teacher_dir)
            check_compatible(self.teacher.config, student_config, attention=attention)
            self.student = MobileBertForPreTraining(student_config).build_with_dummy()
        self.layer_map = resolve_layer_map(config.layer_map, student_config.num_hidden_layers,
                                           self.teacher.config.num_hidden_layers)
        self.uses_attention = attention
        data_vocab_path, data_vocab_size = data_vocab(data)
        if data_vocab_size is not None and data_vocab_size > student_config.vocab_size:
            raise ConfigError(f"config field 'vocab_size' ({student_config.vocab_size}) is smaller than the data's "
                              f"vocab ({data_vocab_size} tokens, {data_vocab_path})")
        teacher_vocab = ModelDir.read(self.teacher_dir).vocab_file
        self.vocab_file = vocab_file or next(
            (p for p in (teacher_vocab, data_vocab_path) if p and os.path.isfile(p)), None)

        settings = {"command": "distill", "teacher": os.path.abspath(self.teacher_dir),
                    "student_config": student_config.to_dict(), "distill": config.trajectory(),
                    "layer_map": list(self.layer_map),
                    "data": os.path.abspath(os.fspath(data)) if isinstance(data, (str, os.PathLike)) else str(data)}
        has_checkpoint = check_run_settings(self.out_dir, settings, resume=resume, is_chief=self.is_chief)
        self.copied, self.not_copied = copy_teacher_weights(self.teacher, self.student)
        copied = set(self.copied)
        self._weights = [(path, v, layer_of(path), path in copied) for path, v in named_weights(self.student).items()]
        self.state = TrainState()
        self.keeper = CheckpointKeeper(self.out_dir, max_to_keep=config.keep_checkpoints, is_chief=self.is_chief,
                                       worker=worker)
        self._resume_path = (self.keeper.restore_model_and_state(self.student, self.state)
                             if has_checkpoint else None)
        dataset = distributed_pretraining_dataset(self.strategy, data, config.batch_size, seed=config.seed,
                                                  shuffle=config.shuffle, skip_steps=int(self.state.batches.numpy()))
        self._iterator = iter(dataset)

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def trainable(self, stage: Stage) -> list[tuple[str, tf.Variable, float]]:
        """``(path, variable, LR multiplier)`` of the student weights ``stage`` trains (multiplier > 0)."""
        out = []
        for path, var, layer, copied in self._weights:
            mult = stage.lr_multiplier(layer, copied)
            if mult > 0:
                out.append((path, var, mult))
        return out

    def stage_depths(self, stage: Stage) -> tuple[int | None, int | None]:
        """``(teacher layers, student layers)`` a stage runs: a transfer-only stage stops both encoders
        after the deepest layer it compares (progressive stage k: student layers 1..k); None = all."""
        if not self.truncate or stage.distill or not stage.transfer_layers:
            return None, None
        deepest = max(stage.transfer_layers)
        return max(self.layer_map[s] for s in stage.transfer_layers) + 1, deepest + 1

    def _stage_run(self, stage: Stage) -> StageRun:
        cfg, losses = self.config, self.config.losses
        teacher, student = self.teacher, self.student
        pairs = [(s, self.layer_map[s]) for s in stage.transfer_layers]
        hidden = bool(pairs)
        attention = hidden and self.uses_attention
        t_layers, s_layers = self.stage_depths(stage)

        def build():
            schedule = WarmupLinearDecay(cfg.optimizer.learning_rate, stage.steps,
                                         int(round(cfg.warmup_fraction * stage.steps)))
            optimizer = cfg.optimizer.make(student, schedule)
            chosen = self.trainable(stage)
            variables = [v for _, v, _ in chosen]
            optimizer.set_lr_multipliers([(v, m) for _, v, m in chosen if m != 1.0])
            optimizer.build(variables)

            def replica_step(batch):
                t_out = pretraining_outputs(teacher, batch, training=False, output_hidden_states=hidden,
                                            output_attentions=attention, heads=stage.distill, num_layers=t_layers)
                t_out = tf.nest.map_structure(tf.stop_gradient, t_out)
                metrics = {}
                with tf.GradientTape() as tape:
                    s_out = pretraining_outputs(student, batch, training=True, output_hidden_states=hidden,
                                                output_attentions=attention, heads=stage.distill,
                                                num_layers=s_layers)
                    loss = tf.constant(0.0)
                    if pairs:
                        terms = layer_transfer_losses(t_out, s_out, pairs, losses, mask=batch["input_mask"])
                        transfer = 0.0
                        for name, per_example in terms.items():
                            metrics[f"{name}_loss"] = tf.nn.compute_average_loss(per_example)
                            transfer += metrics[f"{name}_loss"]
                        metrics["transfer_loss"] = transfer
                        loss += transfer
                    if stage.distill:
                        targets = distillation_targets(t_out["mlm_logits"], batch["masked_lm_ids"],
                                                       losses.mlm_alpha, losses.temperature)
                        mlm, mlm_acc = masked_lm_loss(s_out["mlm_logits"], batch["masked_lm_ids"],
                                                      batch["masked_lm_weights"], targets=targets)
                        nsp, nsp_acc = next_sentence_loss(s_out["nsp_logits"], batch["next_sentence_labels"])
                        metrics.update(mlm_loss=mlm, mlm_accuracy=mlm_acc, nsp_loss=nsp, nsp_accuracy=nsp_acc)
                        loss += mlm + losses.nsp_factor * nsp
                    metrics["loss"] = loss
                grads = tape.gradient(loss, variables)
                optimizer.apply_gradients(zip(grads, variables))
                return metrics

            return optimizer, distributed_step(self.strategy, replica_step), schedule

        return StageRun(stage.name, stage.steps, build)

    def run(self, stop_at: int | None = None) -> TrainResult:
        """Run (or continue) the stages; at the end save the student into ``out_dir``."""
        logger = RunLogger(self.out_dir, self.total_steps, int(self.state.global_step.numpy()),
                           log_every=self.config.log_every, progress=self.progress, enabled=self.is_chief,
                           description=f"distill ({self.config.strategy})")
        try:
            finished = run_stages(self.strategy, self.student, [self._stage_run(s) for s in self.stages],
                                  state=self.state, keeper=self.keeper, logger=logger, iterator=self._iterator,
                                  checkpoint_every=self.config.checkpoint_every, resume_path=self._resume_path,
                                  stop_at=stop_at, evaluator=self.evaluator, eval_every=self.eval_every)
        finally:
            logger.close()
        # A later call continues mid-stage with the optimizer state saved at the stop.
        self._resume_path = None if finished else self.keeper.latest
        if finished and self.is_chief:
            self.student.save_pretrained(self.out_dir, vocab_file=self.vocab_file, metadata={"distilled_from": {
                "teacher": os.path.abspath(self.teacher_dir), "strategy": self.config.strategy,
                "stages": [s.name for s in self.stages], "steps": self.total_steps,
                "layer_map": list(self.layer_map)}})
        return TrainResult(model=self.student, finished=finished, history=logger.history,
                           state=self.state.as_dict(), out_dir=self.out_dir, evals=logger.evals)


def distill(teacher_dir: str, student_config: MobileBertConfig, data, out_dir: str,
            config: DistillConfig = DistillConfig(), **kwargs) -> TrainResult:
    """``Distiller(...).run()``; keyword arguments ``strategy``, ``resume``, ``vocab_file``,
    ``progress``, ``truncate``, ``eval_data``, ``eval_every``, ``eval_examples`` go to
    :class:`Distiller`, ``stop_at`` to ``run``."""
    stop_at = kwargs.pop("stop_at", None)
    return Distiller(teacher_dir, student_config, data, out_dir, config, **kwargs).run(stop_at=stop_at)
