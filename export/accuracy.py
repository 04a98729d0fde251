"""The accuracy gate: the .tflite against the Keras model on real examples, side by side.

Agreement per task: classifier, same argmax class; qa, same start and same end argmax; encoder,
cosine similarity of the whole sequence output >= 0.99. Users have lost 90% -> 49% accuracy
silently after conversion (tensorflow/tensorflow#44306): every export prints and stores this.
"""
from __future__ import annotations

import numpy as np

from export.exporter import keras_outputs, run_tflite
from export.tflite_io import make_interpreter

KERAS_BATCH = 16


def _keras_all(model, task, inputs):
    outs = []
    for start in range(0, len(inputs), KERAS_BATCH):
        batch = {k: getattr(inputs, k)[start:start + KERAS_BATCH] for k in ("input_ids", "input_mask", "segment_ids")}
        outs.append(keras_outputs(model, task, batch))
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def _tflite_all(data, inputs, progress):
    from tqdm import tqdm

    interpreter = make_interpreter(data)
    outs = []
    for i in tqdm(range(len(inputs)), desc="accuracy gate (TFLite)", unit="ex", disable=not progress, leave=False):
        b = inputs.batch(i)
        outs.append(run_tflite(interpreter, {"ids": b["input_ids"], "mask": b["input_mask"],
                                             "segment_ids": b["segment_ids"]}))
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def _squad_scores(inputs, start, end):
    from mobilebert_tf.data.squad import postprocess_predictions
    from mobilebert_tf.squad_eval import exact_match_score, f1_score

    preds, _, _ = postprocess_predictions(inputs.squad_examples, inputs.squad_features, start, end)
    em = f1 = 0.0
    for ex in inputs.squad_examples:
        golds = list(ex.answers) or [""]
        em += max(float(exact_match_score(preds[ex.qas_id], g)) for g in golds)
        f1 += max(f1_score(preds[ex.qas_id], g) for g in golds)
    n = max(1, len(inputs.squad_examples))
    return {"exact_match": 100 * em / n, "f1": 100 * f1 / n}


def compare(model, data: bytes, task: str, inputs, progress: bool = True) -> dict:
    """Run both on ``inputs`` (export.task_data.TaskInputs); returns the report dict."""
    ref = _keras_all(model, task, inputs)
    got = _tflite_all(data, inputs, progress)
    report = {"examples": len(inputs), "data": inputs.source}
    if task == "classifier":
        report["max_abs_diff"] = {"probability": float(np.abs(ref["probability"] - got["probability"]).max())}
        pred_ref, pred_got = ref["probability"].argmax(-1), got["probability"].argmax(-1)
        report["agreement"] = float((pred_ref == pred_got).mean())
        if inputs.labels is not None:
            report["metric"] = {"name": "accuracy", "float": float((pred_ref == inputs.labels).mean()),
                                "tflite": float((pred_got == inputs.labels).mean())}
    elif task == "qa":
        report["max_abs_diff"] = {k: float(np.abs(ref[k] - got[k]).max()) for k in ("start_logits", "end_logits")}
        same = (ref["start_logits"].argmax(-1) == got["start_logits"].argmax(-1)) & \
               (ref["end_logits"].argmax(-1) == got["end_logits"].argmax(-1))
        report["agreement"] = float(same.mean())
        report["metric"] = {"name": "squad_v1.1 exact_match/f1",
                            "float": _squad_scores(inputs, ref["start_logits"], ref["end_logits"]),
                            "tflite": _squad_scores(inputs, got["start_logits"], got["end_logits"])}
    else:
        report["max_abs_diff"] = {k: float(np.abs(ref[k] - got[k]).max()) for k in ("sequence_output", "pooled_output")}
        a = ref["sequence_output"].reshape(len(inputs), -1)
        b = got["sequence_output"].reshape(len(inputs), -1)
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
        report["agreement"] = float((cos >= 0.99).mean())
        report["min_cosine"] = float(cos.min())
    return report
