"""Run exported .tflite models through the runtimes apps ship: the TF Lite Task Library (tflite-support,
the C++ core of Android's Task Library) and MediaPipe Tasks. Runs in its own venv (tflite-support pins
protobuf 3.20, which TensorFlow 2.21 cannot share; ``make clients-venv`` builds it), called as a
subprocess with a JSON job and writing a JSON result:

    .venv-clients/bin/python android_demo/clients/run_clients.py job.json out.json

Job: ``{"metadata": [model, ...], "classifier": [{"model": path, "texts": [...]}],
"qa": [{"model": path, "cases": [{"context": ..., "question": ...}]}]}``. Texts are passed as given:
the caller normalizes them as the app does (``task_library_replay.normalize_text``). Result: per model
the MetadataDisplayer's JSON and packed files, BertNLClassifier and MediaPipe TextClassifier
probabilities by label, BertQuestionAnswerer's answers (token positions, logit, text), and each call's
latency in ms.
"""
from __future__ import annotations

import json
import sys
import time


def metadata(path: str) -> dict:
    from tflite_support import metadata as md

    displayer = md.MetadataDisplayer.with_model_file(path)
    return {"json": json.loads(displayer.get_metadata_json()), "files": sorted(displayer.get_packed_associated_file_list())}


def classify(path: str, texts: list[str]) -> dict:
    from mediapipe.tasks import python as mp_python
    from mediapipe.tasks.python import text as mp_text
    from tflite_support.task import text

    out = {"task_library": [], "mediapipe": [], "task_library_ms": [], "mediapipe_ms": []}
    classifier = text.BertNLClassifier.create_from_file(path)
    for t in texts:
        t0 = time.perf_counter()
        result = classifier.classify(t)
        out["task_library_ms"].append((time.perf_counter() - t0) * 1e3)
        # Category.index stays 0 in tflite-support's Python BertNLClassifier: match by name
        out["task_library"].append({c.category_name: c.score for c in result.classifications[0].categories})
    options = mp_text.TextClassifierOptions(base_options=mp_python.BaseOptions(model_asset_path=path))
    with mp_text.TextClassifier.create_from_options(options) as mp_classifier:  # unclosed: raises at exit
        for t in texts:
            t0 = time.perf_counter()
            result = mp_classifier.classify(t)
            out["mediapipe_ms"].append((time.perf_counter() - t0) * 1e3)
            out["mediapipe"].append({c.category_name: c.score for c in result.classifications[0].categories})
    return out


def answer(path: str, cases: list[dict]) -> dict:
    from tflite_support.task import text

    answerer = text.BertQuestionAnswerer.create_from_file(path)
    out = {"answers": [], "ms": []}
    for case in cases:
        t0 = time.perf_counter()
        result = answerer.answer(case["context"], case["question"])
        out["ms"].append((time.perf_counter() - t0) * 1e3)
        out["answers"].append([{"start": a.pos.start, "end": a.pos.end, "logit": a.pos.logit, "text": a.text}
                               for a in result.answers])
    return out


def main(job_path: str, out_path: str) -> int:
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    result = {"metadata": {p: metadata(p) for p in job.get("metadata", [])},
              "classifier": {j["model"]: classify(j["model"], j["texts"]) for j in job.get("classifier", [])},
              "qa": {j["model"]: answer(j["model"], j["cases"]) for j in job.get("qa", [])}}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: run_clients.py JOB.json OUT.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
