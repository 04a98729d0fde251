"""``mobilebert info``: parameters and FLOPs of a preset (or a model directory's config)."""
from __future__ import annotations

import json
from mobilebert_tf.argtypes import positive_int
from mobilebert_tf.errors import UsageError

HELP = "print parameter and FLOP counts of a preset"


def configure(parser):
    """Flags of ``mobilebert info`` (README.md, "The model family"): preset or config, seq length, JSON, all."""
    from mobilebert_tf.config import PRESETS

    src = parser.add_mutually_exclusive_group()
    src.add_argument("--preset", default="mobilebert", choices=list(PRESETS), help="model preset (default: %(default)s)")
    src.add_argument("--config", help="a config.json (ours) instead of a preset")
    parser.add_argument("--seq-len", type=positive_int, default=128, help="sequence length for FLOPs (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--all", action="store_true", help="one row per preset")


def info_row(name, config, seq_len):
    """One row of ``mobilebert info``: parameter counts and forward-pass FLOPs of ``config`` at ``seq_len``.

    Args:
        name: str. The row's ``model`` label (a preset name or a config path).
        config: MobileBertConfig. The architecture.
        seq_len: int. Sequence length of the FLOP counts.

    Returns:
        dict. ``model``, ``seq_len``, ``params_total`` / ``params_encoder`` / ``params_heads``
        (``count_params``: encoder = embeddings + layers; heads = pooler + MLM + NSP), ``flops_encoder``
        (one encoder forward pass), ``flops_encoder_dense`` (its dense layers only, without the attention
        score and context products) and ``flops_pretraining`` (with the MLM head at every position + NSP).

    Example:
        >>> from mobilebert_tf.config import MobileBertConfig
        >>> row = info_row("mobilebert", MobileBertConfig.from_preset("mobilebert"), 128)
        >>> sorted(row)[:3]
        ['flops_encoder', 'flops_encoder_dense', 'flops_pretraining']
    """
    from mobilebert_tf.flops import count_flops, count_params

    params = count_params(config)
    enc = count_flops(config, seq_len)
    pre = count_flops(config, seq_len, heads="pretraining")
    return {"model": name, "seq_len": seq_len, "params_total": params["total"], "params_encoder": params["encoder"],
            "params_heads": params["heads"], "flops_encoder": enc.total(), "flops_encoder_dense": enc.dense(),
            "flops_pretraining": pre.total()}


def format_table(rows) -> str:
    """The rows of :func:`info_row` as a fixed-width text table (parameters with thousands separators, GFLOPs).

    Args:
        rows: list of dict. :func:`info_row` results, one line each.

    Returns:
        str. A header, a rule and one line per row, joined by newlines (no final newline).

    Example:
        >>> rows = [info_row(p, MobileBertConfig.from_preset(p), 128) for p in ("mobilebert", "bert_base")]
        >>> print(format_table(rows))  # doctest: +SKIP
        model                 seq       params      encoder       heads  GFLOPs enc  GFLOPs +MLM
        ...
    """
    head = f"{'model':<20}{'seq':>5}{'params':>13}{'encoder':>13}{'heads':>12}{'GFLOPs enc':>12}{'GFLOPs +MLM':>13}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<20}{r['seq_len']:>5}{r['params_total']:>13,}{r['params_encoder']:>13,}"
                     f"{r['params_heads']:>12,}{r['flops_encoder'] / 1e9:>12.2f}{r['flops_pretraining'] / 1e9:>13.2f}")
    return "\n".join(lines)


def run(args) -> int:
    """Run ``mobilebert info``: print the parameter / FLOP table (or JSON); returns the exit code."""
    from mobilebert_tf.config import PRESETS, MobileBertConfig

    if args.seq_len < 1:
        raise UsageError(f"--seq-len must be positive, got {args.seq_len}")
    if args.all:
        rows = [info_row(p, MobileBertConfig.from_preset(p), args.seq_len) for p in PRESETS]
    elif args.config:
        rows = [info_row(args.config, MobileBertConfig.from_json(args.config), args.seq_len)]
    else:
        rows = [info_row(args.preset, MobileBertConfig.from_preset(args.preset), args.seq_len)]
    for r in rows:
        cfg = MobileBertConfig.from_preset(r["model"]) if r["model"] in PRESETS else None
        if cfg is not None and args.seq_len > cfg.max_position_embeddings:
            raise UsageError(f"--seq-len {args.seq_len} exceeds max_position_embeddings {cfg.max_position_embeddings}")
    print(json.dumps(rows if len(rows) > 1 else rows[0], indent=2) if args.json else format_table(rows))
    return 0
