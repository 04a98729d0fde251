"""The accuracy gate: the .tflite against the Keras model on real examples, side by side.

Agreement per task: classifier, same argmax class; qa, same start and same end argmax; encoder,
cosine similarity of the whole sequence output >= 0.99. Users have lost 90% -> 49% accuracy
silently after conversion (tensorflow/tensorflow#44306): every export prints and stores this.
Dynamic-length exports run each example at its own length, on both sides.
"""
from __future__ import annotations

import numpy as np

from mobilebert_tf.export.serving import MODEL_INPUT_NAMES, keras_outputs, signature_feed
from mobilebert_tf.export.tflite_io import make_interpreter, run_tflite

KERAS_BATCH = 16


def _keras_all(model, task, inputs):
    outs = []
    for start in range(0, len(inputs), KERAS_BATCH):
        batch = {k: getattr(inputs, k)[start:start + KERAS_BATCH] for k in MODEL_INPUT_NAMES}
        outs.append(keras_outputs(model, task, batch))
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def _keras_own_length(model, task, inputs):
    """Keras outputs per example at its own length (examples of one length batched together)."""
    lengths = inputs.lengths()
    outs = [None] * len(inputs)
    for n in np.unique(lengths):
        idx = np.flatnonzero(lengths == n)
        for start in range(0, len(idx), KERAS_BATCH):
            sel = idx[start:start + KERAS_BATCH]
            batch = {k: getattr(inputs, k)[sel, :n] for k in MODEL_INPUT_NAMES}
            o = keras_outputs(model, task, batch, dynamic=True)
            for j, i in enumerate(sel):
                outs[i] = {k: v[j:j + 1] for k, v in o.items()}
    return _stack(outs)


def _stack(outs):
    """Per-example outputs -> arrays, except outputs whose length varies (dynamic ``sequence_output``),
    which stay lists of [1, n, ...]."""
    stacked = {}
    for k in outs[0]:
        if len({o[k].shape for o in outs}) == 1:
            stacked[k] = np.concatenate([o[k] for o in outs])
        else:
            stacked[k] = [o[k] for o in outs]
    return stacked


def _tflite_all(data, inputs, progress, dynamic=False):
    from tqdm import tqdm

    interpreter = make_interpreter(data)
    outs = []
    for i in tqdm(range(len(inputs)), desc="accuracy gate (TFLite)", unit="ex", disable=not progress, leave=False):
        b = inputs.own_length(i) if dynamic else inputs.batch(i)
        outs.append(run_tflite(interpreter, signature_feed(b)))
    return _stack(outs)


def _rows(x):
    """[N, ...] array or list of N [1, ...] arrays -> N flat float64 vectors."""
    return [np.asarray(r, dtype=np.float64).reshape(-1) for r in x]


def _max_abs_diff(a, b) -> float:
    return float(max(np.abs(x - y).max() for x, y in zip(_rows(a), _rows(b))))


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


def compare(model, data: bytes, task: str, inputs, progress: bool = True, dynamic: bool = False) -> dict:
    """Run both on ``inputs`` (mobilebert_tf.export.task_data.TaskInputs); returns the report dict.

    Args:
      model: the Keras model.
      data: the .tflite bytes.
      task: classifier | qa | encoder.
      inputs: the gate's examples, padded to the model's length (dynamic: to at least the longest one).
      progress: show a progress bar.
      dynamic: run every example at its own length (a dynamic-length export), Keras as well.
    Returns:
      examples, data, max_abs_diff, agreement, and metric / min_cosine per task.
    Example:
      ``compare(model, data, "classifier", gate_inputs(...))["agreement"]``
    """
    ref = _keras_own_length(model, task, inputs) if dynamic else _keras_all(model, task, inputs)
    got = _tflite_all(data, inputs, progress, dynamic=dynamic)
    report = {"examples": len(inputs), "data": inputs.source}
    if dynamic:
        lengths = inputs.lengths()
        report["lengths"] = {"min": int(lengths.min()), "mean": float(lengths.mean()), "max": int(lengths.max())}
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
        report["max_abs_diff"] = {k: _max_abs_diff(ref[k], got[k]) for k in ("sequence_output", "pooled_output")}
        cos = np.array([(a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
                        for a, b in zip(_rows(ref["sequence_output"]), _rows(got["sequence_output"]))])
        report["agreement"] = float((cos >= 0.99).mean())
        report["min_cosine"] = float(cos.min())
    return report


def padded_reference(model, task: str, inputs, seq_len: int) -> dict:
    """What dropping the padding changes in the model itself (not a conversion error): Keras at each
    example's own length against Keras on the same examples padded to ``seq_len``. With the default
    ``google`` attention mask a padded key keeps score -6 (weight e^-6 relative to a zero score), so
    the two differ slightly; with ``additive`` they agree. Examples longer than ``seq_len`` are left out.

    Args:
      model: the Keras model.
      task: classifier | encoder (qa is exported fixed).
      inputs: gate examples (mobilebert_tf.export.task_data.TaskInputs).
      seq_len: the padded length, e.g. 128.
    Returns:
      seq_len, examples, max_abs_diff and, for classifiers, agreement (same class).
    Example:
      ``padded_reference(model, "classifier", gate, 128)["agreement"]``
    """
    keep = np.flatnonzero(inputs.lengths() <= seq_len)
    own = _keras_own_length(model, task, inputs)
    padded = {k: getattr(inputs, k)[keep, :seq_len] for k in MODEL_INPUT_NAMES}
    chunks = [keras_outputs(model, task, {k: v[s:s + KERAS_BATCH] for k, v in padded.items()})
              for s in range(0, len(keep), KERAS_BATCH)]
    key = "probability" if task == "classifier" else "pooled_output"
    ref = np.concatenate([c[key] for c in chunks])
    got = own[key][keep]
    out = {"seq_len": seq_len, "examples": int(len(keep)), "mask_mode": model.config.attention_mask_mode,
           "max_abs_diff": {key: float(np.abs(ref - got).max())}}
    if task == "classifier":
        out["agreement"] = float((ref.argmax(-1) == got.argmax(-1)).mean())
    return out
