"""Trained tiny models exported as the app ships them, and the real texts they are checked on, shared by
the runtime-client tests (tests/test_clients.py) and the browser test (tests/test_web_demo.py).

Two models are fitted here (CPU is scarce, so both are 2-layer mobilebert_tiny): a classifier on 256 real
SST-2 train sentences (seq 128, as the app's manifest) and a QA model overfitted on real SQuAD dev
questions at seq 384 (BertQuestionAnswerer pads to 384). Each is exported in the quantizations the app
lists (float, dynamic, int8-mixed) with Task Library metadata, into one folder with an Android/web
manifest (mobilebert_tf.export.android_assets); the classifier also as a dynamic-length export (``--seq-len dynamic``,
inputs [1, -1]) in each quantization, installed with the fixed export as its fallback.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tf_keras as keras

from mobilebert_tf.export import android_assets
from mobilebert_tf.export.exporter import export_tflite
from mobilebert_tf.export.task_data import sst2_inputs
from mobilebert_tf.export.tflite_io import make_interpreter, read_tflite
from mobilebert_tf import MobileBertConfig, MobileBertForQuestionAnswering, MobileBertForSequenceClassification
from mobilebert_tf.data.glue import read_glue
from mobilebert_tf.data.squad import convert_examples_to_features, read_squad
from mobilebert_tf.tokenization import BertTokenizer
from mobilebert_tf.paths import bert_vocab, default_data_dir
from tests.fit_utils import fit_classifier, fit_qa

ROOT = Path(__file__).resolve().parents[1]
# the shared data as tests/conftest.py finds it (not imported from there: conftest builds the fixture
# from this module)
SHARED_DATA = default_data_dir().resolve()
VOCAB = bert_vocab(SHARED_DATA)
GLUE = SHARED_DATA / "glue"
SQUAD_SMALL = SHARED_DATA / "squad" / "dev-v1.1-first2articles.json"
sys.path.insert(0, str(ROOT / "android_demo" / "host_replay"))
import task_library_replay as replay  # noqa: E402

QUANTIZATIONS = ("none", "dynamic", "int8-mixed")
CLASSIFIER_SEQ = 128
DYNAMIC_MAX_SEQ = 511  # a dynamic export's longest input (the 512-position table less the padding slot)
QA_SEQ = replay.MAX_SEQ_LEN
SMALL = {"num_hidden_layers": 2}
LABELS = ["negative", "positive"]
# accented sentences in SST-2's style: the app normalizes them as training did
ACCENTED = ["Amélie is a charming, whimsical café of a film.", "a naïve, clichéd mess with no élan at all",
            "CAFÉ AU LAIT: a delicious little movie", "the best Pokémon film since the original"]
CLIENTS_PYTHON = Path(os.environ.get("MOBILEBERT_CLIENTS_PYTHON") or ROOT / ".venv-clients" / "bin" / "python")
CLIENTS_SCRIPT = ROOT / "android_demo" / "clients" / "run_clients.py"


def sst2_texts(n: int = 40) -> list[str]:
    """Real SST-2 dev sentences plus the accented ones above."""
    return [e.text_a for e in read_glue("sst-2", GLUE / "SST-2" / "dev.tsv", "dev")[:n]] + ACCENTED


def _export(model, task, folder: Path, quantize, tokenizer, seq_len, labels=None, fallback=None):
    """Export into ``folder`` and install in its manifest; a dynamic export (``seq_len`` "dynamic") is
    installed with ``fallback``, the fixed export of the same model. Returns the ExportedModel."""
    suffix = "_dynlen" if seq_len == "dynamic" else ""
    name = f"mobilebert_{'sst2' if task == 'classifier' else 'squad'}_{quantize.replace('none', 'float')}{suffix}.tflite"
    result = export_tflite(model, task, folder / name, seq_len=seq_len, quantize=quantize, tokenizer=tokenizer,
                           vocab_file=str(VOCAB), labels=labels, data_dir=SHARED_DATA, calibration_examples=8,
                           gate_examples=8, allow_accuracy_drop=True, progress=False,
                           description=f"test {task} (mobilebert_tiny, 2 layers)")
    android_assets.install(result, folder, fallback=fallback)
    return result


def fit_classifier_model(tokenizer):
    keras.utils.set_random_seed(0)
    model = MobileBertForSequenceClassification(MobileBertConfig.from_preset("mobilebert_tiny", **SMALL),
                                                num_labels=2).build_with_dummy()
    fit_classifier(model, sst2_inputs(tokenizer, SHARED_DATA, "train", 256, CLASSIFIER_SEQ), steps=40)
    return model


def qa_training_examples(tokenizer, n: int = 12):
    """The first ``n`` SQuAD dev questions of distinct paragraphs whose passage fits one 384 window."""
    examples = read_squad(SQUAD_SMALL, is_training=True)
    features = convert_examples_to_features(examples, tokenizer, seq_len=QA_SEQ, is_training=True)
    counts = {}
    for f in features:
        counts[f.example_index] = counts.get(f.example_index, 0) + 1
    chosen, seen = [], set()
    for f in features:
        ex = examples[f.example_index]
        if counts[f.example_index] == 1 and f.start_position > 0 and ex.context_text not in seen:
            chosen.append((ex, f))
            seen.add(ex.context_text)
        if len(chosen) == n:
            break
    return chosen


def fit_qa_model(tokenizer, chosen, steps: int = 30):
    keras.utils.set_random_seed(0)
    model = MobileBertForQuestionAnswering(MobileBertConfig.from_preset("mobilebert_tiny", **SMALL))
    model.build_with_dummy()
    fit_qa(model, [f for _, f in chosen], steps)
    return model


def qa_cases(chosen) -> list[dict]:
    """Real SQuAD (context, question) pairs: the trained ones, and two passages joined so that the
    context fills the 384-token window (the Task Library cuts it there)."""
    cases = [{"context": ex.context_text, "question": ex.question_text} for ex, _ in chosen]
    for i in range(2):  # all the passages, the question's own first: far over the window
        passages = [chosen[(i + k) % len(chosen)][0].context_text for k in range(len(chosen))]
        cases.append({"context": " ".join(passages), "question": chosen[i][0].question_text})
    return cases


def build_models(folder: Path) -> dict:
    """Fit, export every quantization of both tasks into ``folder`` (+ models.json); returns paths and texts."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(str(VOCAB))
    classifier = fit_classifier_model(tokenizer)
    chosen = qa_training_examples(tokenizer)
    qa = fit_qa_model(tokenizer, chosen)
    out = {"folder": folder, "classifier": {}, "classifier_dynamic": {}, "qa": {}, "sst2_texts": sst2_texts(),
           "qa_cases": qa_cases(chosen)}
    for q in QUANTIZATIONS:
        fixed = _export(classifier, "classifier", folder, q, tokenizer, CLASSIFIER_SEQ, LABELS)
        out["classifier"][q] = Path(fixed.path)
        # the same classifier at each text's own length, with the fixed export as its fallback
        out["classifier_dynamic"][q] = Path(_export(classifier, "classifier", folder, q, tokenizer, "dynamic", LABELS,
                                                    fallback=fixed).path)
        out["qa"][q] = Path(_export(qa, "qa", folder, q, tokenizer, QA_SEQ).path)
    return out


def client_kernels(client: str, quantize: str, dynamic_length: bool = False) -> bool:
    """Whether ``client`` runs ``quantize`` models with XNNPACK (LiteRT's default), measured: MediaPipe
    always does; the Task Library's TF Lite (0.4.4) runs dynamic-range (hybrid) ops with the built-in
    kernels, which quantize activations differently (1.8e-4 apart on our dynamic classifier), and
    dynamic-length models ([1, -1] inputs) entirely on the built-in kernels (its probabilities equal our
    built-in run exactly, and are 4.7e-4 from XNNPACK on the int8-mixed test classifier)."""
    return not (client == "task_library" and (quantize == "dynamic" or dynamic_length))


class LiteRtModel:
    """Our own pipeline's runtime: ai-edge-litert's Interpreter (1 thread), tensors found by name. ``xnnpack=False``:
    the built-in kernels only (what the Task Library runs dynamic-range models with)."""

    def __init__(self, path, xnnpack: bool = True):
        if xnnpack:
            self.interpreter = make_interpreter(read_tflite(path), num_threads=1)  # as the page's wasm
        else:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            self.interpreter = Interpreter(model_content=read_tflite(path), num_threads=1,
                                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            self.interpreter.allocate_tensors()
        self.inputs = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.ms: list[float] = []

    def __call__(self, **feeds) -> dict[str, np.ndarray]:
        """Run one input; a dynamic-length model ([1, -1] inputs) is resized to the feeds' length first."""
        shapes = {name: [1, len(value)] for name, value in feeds.items()}
        details = {d["name"]: d for d in self.interpreter.get_input_details()}
        if any(list(details[name]["shape"]) != shape for name, shape in shapes.items()):
            for name, shape in shapes.items():
                self.interpreter.resize_tensor_input(self.inputs[name], shape, strict=True)
            self.interpreter.allocate_tensors()
        for name, value in feeds.items():
            self.interpreter.set_tensor(self.inputs[name], np.asarray([value], np.int32))
        t0 = time.perf_counter()
        self.interpreter.invoke()
        self.ms.append((time.perf_counter() - t0) * 1e3)
        return {name: self.interpreter.get_tensor(i)[0] for name, i in self.outputs.items()}


def own_length_inputs(tokenizer, texts) -> list[dict[str, np.ndarray]]:
    """Training tokenizer, each text at its own length ([CLS] tokens [SEP], no padding): the feeds of a
    dynamic-length model."""
    packed = tokenizer.encode_single(texts, DYNAMIC_MAX_SEQ + 1)
    rows = []
    for i in range(len(texts)):
        n = int(packed["input_mask"][i].sum())
        assert n <= DYNAMIC_MAX_SEQ, f"text {i} is longer than {DYNAMIC_MAX_SEQ} tokens"
        rows.append({"ids": packed["input_ids"][i, :n], "mask": packed["input_mask"][i, :n],
                     "segment_ids": packed["segment_ids"][i, :n]})
    return rows


def own_length_probs(path, feeds, xnnpack: bool = True) -> np.ndarray:
    """A dynamic-length classifier on LiteRT, each input resized to its own length: probabilities [N, labels]."""
    model = LiteRtModel(path, xnnpack)
    return np.stack([model(**feed)["probability"] for feed in feeds])


def training_classifier_probs(path, tokenizer, texts, xnnpack: bool = True) -> tuple[np.ndarray, list[list[int]]]:
    """Training tokenizer (mobilebert_tf.tokenization) -> LiteRT: probabilities [N, 2] and the ids."""
    packed = tokenizer.encode_single(texts, CLASSIFIER_SEQ)
    model = LiteRtModel(path, xnnpack)
    probs = [model(ids=packed["input_ids"][i], mask=packed["input_mask"][i], segment_ids=packed["segment_ids"][i])
             ["probability"] for i in range(len(texts))]
    return np.stack(probs), packed["input_ids"].tolist()


def replay_answers(path, app_tokenizer, cases, xnnpack: bool = True,
                   timings: list | None = None) -> list[list[replay.QaAnswer]]:
    """The host replay (the app's normalization + Task Library's QA steps) on LiteRT; each inference's
    ms is appended to ``timings`` when given."""
    model = LiteRtModel(path, xnnpack)
    model.ms = timings if timings is not None else model.ms

    def run(ids, mask, segment_ids):
        out = model(ids=ids, mask=mask, segment_ids=segment_ids)
        return out["start_logits"], out["end_logits"]

    return [replay.answer(app_tokenizer, run, c["context"], c["question"]) for c in cases]


def run_clients(job: dict, tmp: Path) -> dict:
    """run_clients.py in the clients venv (tflite-support + mediapipe) on ``job``."""
    if not CLIENTS_PYTHON.exists():
        raise FileNotFoundError(f"{CLIENTS_PYTHON}: the clients venv is missing (run `make clients-venv`)")
    (tmp / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run([str(CLIENTS_PYTHON), str(CLIENTS_SCRIPT), str(tmp / "job.json"), str(tmp / "out.json")],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"run_clients.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads((tmp / "out.json").read_text(encoding="utf-8"))
