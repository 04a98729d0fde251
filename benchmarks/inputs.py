"""Real benchmark inputs for a .tflite: its own vocab (from the metadata) or the BERT vocab, its seq len
from the input shape, SQuAD question/context pairs for QA models and SST-2 sentences otherwise. A
dynamic-length model gets each sentence at its own length (a sentence longer than the model's maximum
is an error, not cut).

The one input format every measuring process reads (``mobilebert_tf.benchmarks.host_worker``): a list of
{tensor name -> array} rows saved as one ``.npz`` whose keys are ``"{row}__{name}"``
(``save_inputs`` / ``load_inputs``)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def save_inputs(inputs: list[dict[str, np.ndarray]], path) -> None:
    """Write ``inputs`` (rows of {tensor name -> array}) to ``path`` (.npz) for ``load_inputs``."""
    np.savez(path, **{f"{i}__{k}": v for i, row in enumerate(inputs) for k, v in row.items()})


def load_inputs(path) -> list[dict[str, np.ndarray]]:
    """The rows ``save_inputs`` wrote, in order.

    Example:
    >>> save_inputs([{"ids": np.zeros((1, 4), np.int32)}], "/tmp/x.npz")
    >>> load_inputs("/tmp/x.npz")[0]["ids"].shape
    (1, 4)
    """
    data = np.load(path)
    rows: dict[int, dict] = {}
    for key in data.files:
        i, name = key.split("__", 1)
        rows.setdefault(int(i), {})[name] = data[key]
    return [rows[i] for i in sorted(rows)]


def model_signature(data: bytes) -> dict:
    """``seq_len`` (the fixed length, or the maximum of a dynamic model), ``dynamic`` and ``task``."""
    from mobilebert_tf.export.tflite_io import make_interpreter, seq_spec

    interpreter = make_interpreter(data)
    outputs = interpreter.get_signature_runner("serving_default").get_output_details()
    spec = seq_spec(data)
    task = "qa" if "start_logits" in outputs else ("classifier" if "probability" in outputs else "encoder")
    return {"seq_len": spec.max_len, "dynamic": spec.dynamic, "task": task}


def real_inputs(model_path: str, n: int = 8, data_dir=None) -> list[dict[str, np.ndarray]]:
    """``n`` real tokenized examples shaped for ``model_path`` ({ids, mask, segment_ids} int32 [1, seq])."""
    from mobilebert_tf.export import metadata as md
    from mobilebert_tf.export import task_data
    from mobilebert_tf.export.tflite_io import read_tflite
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
    elif sig["dynamic"]:
        max_len = sig["seq_len"] or 511  # unrecorded (not one of ours): a 512-position table less the padding slot
        packed = task_data.sst2_inputs(tokenizer, data_dir, "dev", n, max_len + 1)
        packed.check_fits(max_len)
    else:
        packed = task_data.sst2_inputs(tokenizer, data_dir, "dev", n, sig["seq_len"])
    rows = [packed.own_length(i) if sig["dynamic"] else packed.batch(i) for i in range(min(n, len(packed)))]
    return [{"ids": r["input_ids"], "mask": r["input_mask"], "segment_ids": r["segment_ids"]} for r in rows]
