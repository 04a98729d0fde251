"""``mobilebert demo``: README's first command. Builds every preset, runs a forward pass on real text
and prints the parameter / FLOP table. (Later stages, training to a phone, are added as they land.)"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

HELP = "the end-to-end demo"


def configure(parser):
    from mobilebert_tf.paths import default_data_dir

    parser.add_argument("--data", default=str(default_data_dir()),
                        help="the shared data folder (vocab/, corpus/, glue/, squad/); default: %(default)s")
    parser.add_argument("--out", default="runs/demo", help="artifact folder (default: %(default)s)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--presets", default=None, help="comma-separated presets (default: all)")


def _real_ids(data: Path, seq_len: int):
    """WordPiece ids of real text (BERT's sample text) packed to ``seq_len``."""
    import numpy as np

    from mobilebert_tf.tokenization import BertTokenizer, pack_single

    vocab_file = data / "vocab" / "bert-base-uncased-vocab.txt"
    corpus = data / "corpus" / "bert_sample_text.txt"
    for f in (vocab_file, corpus):
        if not f.is_file():
            raise FileNotFoundError(f"demo data not found: {f} (pass --data DIR, the shared data folder)")
    tok = BertTokenizer(str(vocab_file))
    packed = pack_single(tok.encode([corpus.read_text(encoding="utf-8")])[0], seq_len, tok.cls_id, tok.sep_id)
    return {k: np.asarray(v)[None] for k, v in packed.items()}


def run(args) -> int:
    from tqdm import tqdm

    from mobilebert_tf import PRESETS, MobileBertConfig, MobileBertForPreTraining
    from mobilebert_tf.commands.info import info_row

    presets = args.presets.split(",") if args.presets else list(PRESETS)
    for p in presets:
        if p not in PRESETS:
            raise ValueError(f"unknown preset {p!r}; choose from {', '.join(PRESETS)}")
    inputs = _real_ids(Path(args.data), args.seq_len)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for preset in tqdm(presets, desc="build + forward", unit="model"):
        config = MobileBertConfig.from_preset(preset)
        model = MobileBertForPreTraining(config)
        model(inputs)  # build
        start = time.perf_counter()
        out = model(inputs)
        elapsed = time.perf_counter() - start
        row = info_row(preset, config, args.seq_len)
        row["eager_forward_s"] = round(elapsed, 3)
        row["mlm_top1_sample"] = int(out["mlm_logits"][0, 1].numpy().argmax())
        rows.append(row)
        del model
    header = (f"{'model':<18}{'params':>13}{'encoder':>13}{'GFLOPs':>9}{'eager fwd s':>13}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['model']:<18}{r['params_total']:>13,}{r['params_encoder']:>13,}"
                     f"{r['flops_encoder'] / 1e9:>9.2f}{r['eager_forward_s']:>13.3f}")
    lines.append(f"(seq {args.seq_len}, batch 1, TF eager on {platform.machine()} {os.cpu_count()} cores; the "
                 f"forward time is a smoke figure, not a benchmark)")
    table = "\n".join(lines)
    print(table)
    (out_dir / "models.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out_dir / "models.md").write_text(table + "\n")
    print(f"artifacts: {out_dir}/models.json, {out_dir}/models.md")
    return 0
