"""Agreement of the runtimes on the same weights: probabilities of torch, ORT and our TFLite exports on
real inputs, unpadded (several SST-2 sentences packed to fill the sequence) and padded."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mobilebert_tf.benchmarks.peers.runtimes import INPUT_NAMES, ort_session


def packed_inputs(vocab_file, data_dir, n: int, seq_len: int) -> list[dict[str, np.ndarray]]:
    """``n`` unpadded real inputs: consecutive SST-2 dev sentences joined until they fill ``seq_len``."""
    from mobilebert_tf.data.glue import read_glue
    from mobilebert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(str(vocab_file))
    sentences = [e.text_a for e in read_glue("sst-2", Path(data_dir) / "glue" / "SST-2" / "dev.tsv", "dev")]
    texts, i = [], 0
    for _ in range(n):
        words = []
        while len(tokenizer.encode_single([" ".join(words)], 4 * seq_len)["input_mask"][0].nonzero()[0]) < seq_len:
            words.append(sentences[i % len(sentences)])
            i += 1
        texts.append(" ".join(words))
    packed = tokenizer.encode_single(texts, seq_len)
    if not packed["input_mask"].all():
        raise RuntimeError("packed inputs are padded")
    return [{"ids": packed["input_ids"][j:j + 1].astype(np.int32), "mask": packed["input_mask"][j:j + 1].astype(np.int32),
             "segment_ids": packed["segment_ids"][j:j + 1].astype(np.int32)} for j in range(n)]



def run_tflite_outputs(path, inputs, threads: int = 2) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    return np.concatenate([runner(**row)["probability"] for row in inputs])


def run_torch_outputs(wrapped, inputs) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.concatenate([wrapped(*(torch.from_numpy(row[k]) for k in INPUT_NAMES)).numpy() for row in inputs])


def run_ort_outputs(path, inputs, threads: int = 2) -> np.ndarray:
    session = ort_session(path, threads)
    return np.concatenate([session.run(["probability"], {k: row[k] for k in INPUT_NAMES})[0] for row in inputs])


def _log_odds(p):
    p = np.clip(p.astype(np.float64), 1e-30, 1)
    return np.log(p[:, 1]) - np.log(p[:, 0])


def agreement(outputs: dict[str, np.ndarray], reference: str = "torch fp32") -> dict:
    """Max abs difference of each output set to ``reference``: probabilities and log-odds (a logit gap)."""
    ref = outputs[reference]
    out = {}
    for name, p in outputs.items():
        if name == reference:
            continue
        out[name] = {"max_abs_diff_probability": float(np.abs(p - ref).max()),
                     "max_abs_diff_log_odds": float(np.abs(_log_odds(p) - _log_odds(ref)).max()),
                     "same_argmax": float((p.argmax(-1) == ref.argmax(-1)).mean())}
    return out

