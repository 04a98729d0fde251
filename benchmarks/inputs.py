"""Real benchmark inputs for a .tflite: its own vocab (from the metadata) or the BERT vocab, its seq len
from the input shape, SQuAD question/context pairs for QA models and SST-2 sentences otherwise."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def model_signature(data: bytes) -> dict:
    from export.tflite_io import make_interpreter

    interpreter = make_interpreter(data)
    sig = interpreter.get_signature_runner("serving_default")
    inputs = sig.get_input_details()
    outputs = sig.get_output_details()
    seq = int(inputs["ids"]["shape"][1])
    task = "qa" if "start_logits" in outputs else ("classifier" if "probability" in outputs else "encoder")
    return {"seq_len": seq, "task": task}


def real_inputs(model_path: str, n: int = 8, data_dir=None) -> list[dict[str, np.ndarray]]:
    """``n`` real tokenized examples shaped for ``model_path`` ({ids, mask, segment_ids} int32 [1, seq])."""
    from export import metadata as md
    from export import task_data
    from export.tflite_io import read_tflite
    from mobilebert_tf.paths import bert_vocab, default_data_dir
    from mobilebert_tf.tokenization import BertTokenizer

    data = read_tflite(model_path)
    sig = model_signature(data)
    _, files = md.read(data)
    data_dir = data_dir or default_data_dir()
    if "vocab.txt" in files:
        with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
            f.write(files["vocab.txt"])
        tokenizer = BertTokenizer(f.name)
        os.unlink(f.name)
    else:
        tokenizer = BertTokenizer(str(bert_vocab(data_dir)))
    if sig["task"] == "qa":
        packed = task_data.squad_inputs(tokenizer, Path(data_dir) / "squad" / "dev-v1.1-first2articles.json",
                                        n, sig["seq_len"])
    else:
        packed = task_data.sst2_inputs(tokenizer, data_dir, "dev", n, sig["seq_len"])
    return [{"ids": packed.input_ids[i:i + 1], "mask": packed.input_mask[i:i + 1],
             "segment_ids": packed.segment_ids[i:i + 1]} for i in range(min(n, len(packed)))]
