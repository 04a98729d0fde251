"""``mobilebert distill``: train a MobileBERT student from a pre-trained teacher by knowledge transfer.

    mobilebert distill --teacher runs/teacher --student-preset mobilebert --data data/wiki --out runs/student \\
        --strategy progressive --steps-per-stage 10000 --final-steps 50000
"""
from __future__ import annotations

import os
from mobilebert_tf.argtypes import non_negative_float, non_negative_int, positive_float, positive_int, probability

HELP = "distill a student from a teacher (progressive / joint / auxiliary knowledge transfer)"


def configure(parser):
    """Flags of ``mobilebert distill`` (docs/training.md): teacher, student, strategy, stages, loss factors, and
    ``add_model_args`` / ``add_run_args``."""
    from mobilebert_tf.commands.pretrain import add_model_args, add_run_args
    from mobilebert_tf.config import PRESETS
    from mobilebert_tf.distillation import DistillConfig, DistillLossConfig
    from mobilebert_tf.distillation.strategies import LOWER_LAYER_MODES, STRATEGIES

    d, lo = DistillConfig(), DistillLossConfig()
    parser.add_argument("--teacher", required=True, metavar="MODEL_DIR", help="pre-trained teacher model directory")
    parser.add_argument("--student-preset", default="mobilebert", choices=list(PRESETS),
                        help="student preset (default: %(default)s)")
    add_model_args(parser, what="student")
    parser.add_argument("--strategy", default=d.strategy, choices=list(STRATEGIES),
                        help="knowledge-transfer strategy (default: %(default)s)")
    parser.add_argument("--steps-per-stage", type=positive_int, default=d.steps_per_stage,
                        help="steps of each layer-wise stage; joint: x layers, auxiliary: x layers + final "
                             "(default: %(default)s)")
    parser.add_argument("--final-steps", type=non_negative_int, default=d.final_steps,
                        help="pre-training distillation steps at the end (default: %(default)s)")
    parser.add_argument("--warmup-fraction", type=probability, default=d.warmup_fraction,
                        help="LR warmup at the start of each stage, as a fraction of it (default: %(default)s)")
    parser.add_argument("--layer-map", default=d.layer_map,
                        help="student->teacher layers: uniform, last, or pairs like '0:1,1:3' (default: %(default)s)")
    parser.add_argument("--lower-layers", choices=LOWER_LAYER_MODES, default=d.lower_layers,
                        help="progressive: layers below the current one are frozen (paper) or trained at "
                             "--lower-lr-mult x LR (Google's code) (default: %(default)s)")
    parser.add_argument("--lower-lr-mult", type=non_negative_float, default=d.lower_lr_mult,
                        help="LR multiplier of the lower layers with --lower-layers lr-mult (default: %(default)s)")
    parser.add_argument("--hidden-factor", type=non_negative_float, default=lo.hidden_factor, help="feature-map transfer factor")
    parser.add_argument("--attention-factor", type=non_negative_float, default=lo.attention_factor, help="attention transfer factor")
    parser.add_argument("--beta-factor", type=non_negative_float, default=lo.beta_factor, help="mean matching factor")
    parser.add_argument("--gamma-factor", type=non_negative_float, default=lo.gamma_factor, help="variance matching factor")
    parser.add_argument("--alpha", type=probability, default=lo.mlm_alpha,
                        help="weight of the ground truth in the MLM target; the rest is the teacher's "
                             "(default: %(default)s)")
    parser.add_argument("--temperature", type=positive_float, default=lo.temperature, help="teacher softmax temperature")
    add_run_args(parser)


def run(args) -> int:
    """Run ``mobilebert distill`` (docs/training.md) through ``pretrain.locked_run``; returns the exit code."""
    from mobilebert_tf.commands.pretrain import locked_run

    if not os.path.isdir(args.teacher):
        raise FileNotFoundError(f"teacher model directory not found: {args.teacher}")
    return locked_run(args, _train)


def _train(args, strategy) -> int:
    from mobilebert_tf.commands.pretrain import optimizer_config, print_summary
    from mobilebert_tf.config import MobileBertConfig
    from mobilebert_tf.distillation import DistillConfig, DistillLossConfig, Distiller
    from mobilebert_tf.training.configs import parse_overrides

    overrides = parse_overrides(args.override, args.num_layers)
    teacher_config = os.path.join(args.teacher, "config.json")
    if "vocab_size" not in overrides and os.path.isfile(teacher_config):
        # the student must share the teacher's vocab; take it unless told otherwise
        overrides["vocab_size"] = MobileBertConfig.from_json(teacher_config).vocab_size
    student = MobileBertConfig.from_preset(args.student_preset, **overrides)
    losses = DistillLossConfig(hidden_factor=args.hidden_factor, attention_factor=args.attention_factor,
                               beta_factor=args.beta_factor, gamma_factor=args.gamma_factor, mlm_alpha=args.alpha,
                               temperature=args.temperature)
    config = DistillConfig(strategy=args.strategy, steps_per_stage=args.steps_per_stage, final_steps=args.final_steps,
                           batch_size=args.batch_size, warmup_fraction=args.warmup_fraction,
                           optimizer=optimizer_config(args), layer_map=args.layer_map, lower_layers=args.lower_layers,
                           lower_lr_mult=args.lower_lr_mult, losses=losses, seed=args.seed,
                           shuffle=not args.no_shuffle, checkpoint_every=args.checkpoint_every,
                           keep_checkpoints=args.keep_checkpoints, log_every=args.log_every)
    distiller = Distiller(args.teacher, student, args.data, args.out, config, strategy=strategy, resume=args.resume,
                          progress=False if args.no_progress else None, eval_data=args.eval_data,
                          eval_every=args.eval_every, eval_examples=args.eval_examples)
    stages = distiller.stages
    print(f"distill: {config.strategy}, {len(stages)} stage(s), {distiller.total_steps} steps; student layer -> "
          f"teacher layer {dict(enumerate(distiller.layer_map))}; copied {len(distiller.copied)} weights from the "
          f"teacher" + (f", not copied: {', '.join(distiller.not_copied)}" if distiller.not_copied else ""))
    result = distiller.run(stop_at=args.stop_at)
    print_summary(result, "distill")
    return 0
