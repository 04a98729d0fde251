"""The exported models in the runtimes apps ship, against our own pipeline.

- TF Lite Task Library (tflite-support 0.4.4, the C++ core of Android's Task Library): MetadataDisplayer
  reads our metadata; BertNLClassifier gives the labels and probabilities of our pipeline (training
  tokenizer -> LiteRT) to 1e-5 on real SST-2 sentences; BertQuestionAnswerer gives the same top-5 answer
  spans as android_demo/host_replay on real SQuAD passages, some filling the 384-token window.
- MediaPipe Tasks (mediapipe 1.2.3) TextClassifier: same labels and probabilities to 1e-5.
- Dynamic-length classifiers (``--seq-len dynamic``, inputs [1, -1]): both clients resize the inputs to the
  token count; they give the labels they give on the fixed export, and the probabilities of our LiteRT run
  at each sentence's own length to 1e-5 (same kernels, same inputs: only float summation order may differ;
  the Task Library's TF Lite runs [1, -1] models on its built-in kernels, not XNNPACK: client_kernels).

"Our pipeline" runs LiteRT with the kernels the client uses (client_models.client_kernels): XNNPACK,
except the Task Library's dynamic-range models, which its TF Lite runs on the built-in hybrid kernels.

Both run in the clients venv (`make clients-venv`; tflite-support pins protobuf 3.20) through
android_demo/clients/run_clients.py. Texts reach them normalized as the app does (replay.normalize_text),
so their ids are the training ids; models are trained (tests/client_models.py), every quantization the
app lists.
"""
from __future__ import annotations

import numpy as np
import pytest

from mobilebert_tf.tokenization import BertTokenizer
from tests.client_models import (CLIENTS_PYTHON, LABELS, QA_SEQ, QUANTIZATIONS, client_kernels, own_length_inputs,
                                 own_length_probs, replay, replay_answers, run_clients, training_classifier_probs)
from tests.conftest import VOCAB

pytestmark = [pytest.mark.slow, pytest.mark.needs_tool("the clients venv (make clients-venv)")]
PROB_TOL = 1e-5


@pytest.fixture(scope="module")
def clients(app_models, tmp_path_factory):
    if not CLIENTS_PYTHON.exists():
        pytest.skip(f"{CLIENTS_PYTHON} missing: run `make clients-venv` (tflite-support + mediapipe)")
    texts = [replay.normalize_text(t)[0] for t in app_models["sst2_texts"]]
    cases = [{"context": replay.normalize_text(c["context"])[0], "question": replay.normalize_text(c["question"])[0]}
             for c in app_models["qa_cases"]]
    classifiers = [app_models[kind][q] for kind in ("classifier", "classifier_dynamic") for q in QUANTIZATIONS]
    job = {"metadata": [str(p) for p in classifiers] + [str(app_models["qa"][q]) for q in QUANTIZATIONS],
           "classifier": [{"model": str(p), "texts": texts} for p in classifiers],
           "qa": [{"model": str(app_models["qa"][q]), "cases": cases} for q in QUANTIZATIONS]}
    return run_clients(job, tmp_path_factory.mktemp("clients"))


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(str(VOCAB))


def test_metadata_displayer_reads_our_metadata(app_models, clients):
    for q in QUANTIZATIONS:
        for kind in ("classifier", "classifier_dynamic", "qa"):
            got = clients["metadata"][str(app_models[kind][q])]
            expected_files = ["vocab.txt"] if kind == "qa" else ["labels.txt", "vocab.txt"]
            assert got["files"] == expected_files
            meta = got["json"]["subgraph_metadata"][0]
            assert sorted(t["name"] for t in meta["input_tensor_metadata"]) == ["ids", "mask", "segment_ids"]
            process_units = meta["input_process_units"]
            assert process_units[0]["options_type"] == "BertTokenizerOptions"
            assert process_units[0]["options"]["vocab_file"][0]["name"] == "vocab.txt"


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_classifiers_agree_with_our_pipeline(app_models, clients, tokenizer, quantize):
    path = app_models["classifier"][quantize]
    texts = app_models["sst2_texts"]
    got = clients["classifier"][str(path)]
    figures = []
    for client in ("task_library", "mediapipe"):
        ours, _ = training_classifier_probs(path, tokenizer, texts, client_kernels(client, quantize))
        ours_labels = [LABELS[i] for i in ours.argmax(-1)]
        probs = np.array([[scores[label] for label in LABELS] for scores in got[client]])
        labels = [max(scores, key=scores.get) for scores in got[client]]
        diff = float(np.abs(probs - ours).max())
        agree = sum(a == b for a, b in zip(labels, ours_labels))
        figures.append(f"{client}: labels {agree}/{len(texts)}, max prob diff {diff:.2e}, "
                       f"{np.median(got[client + '_ms']):.2f} ms/inference")
        assert agree == len(texts), client
        assert diff <= PROB_TOL, (client, diff)
    assert len(set(ours_labels)) == 2  # a trained model: both labels occur
    print(f"\n{path.name} on {len(texts)} real SST-2 sentences ({sum(not t.isascii() for t in texts)} accented): "
          + "; ".join(figures))


def _client_probs(rows) -> tuple[np.ndarray, list[str]]:
    probs = np.array([[scores[label] for label in LABELS] for scores in rows])
    return probs, [max(scores, key=scores.get) for scores in rows]


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_clients_run_dynamic_exports_at_own_length(app_models, clients, tokenizer, quantize):
    """BertNLClassifier and MediaPipe's TextClassifier on the dynamic export: the labels they give on the
    fixed export, and our own-length LiteRT probabilities to PROB_TOL. The dynamic and the fixed export are
    not the same function (Google's -6 attention mask leaves padded keys a little weight), so probabilities
    are compared with the own-length run, labels with the fixed export."""
    fixed, dynamic = app_models["classifier"][quantize], app_models["classifier_dynamic"][quantize]
    texts = app_models["sst2_texts"]
    feeds = own_length_inputs(tokenizer, texts)
    figures = []
    for client in ("task_library", "mediapipe"):
        ours = own_length_probs(dynamic, feeds, client_kernels(client, quantize, dynamic_length=True))
        dyn_probs, dyn_labels = _client_probs(clients["classifier"][str(dynamic)][client])
        fixed_probs, fixed_labels = _client_probs(clients["classifier"][str(fixed)][client])
        diff = float(np.abs(dyn_probs - ours).max())
        padding = float(np.abs(dyn_probs - fixed_probs).max())
        dyn_ms = np.median(clients["classifier"][str(dynamic)][client + "_ms"])
        fixed_ms = np.median(clients["classifier"][str(fixed)][client + "_ms"])
        figures.append(f"{client}: labels == fixed export's on {sum(a == b for a, b in zip(dyn_labels, fixed_labels))}"
                       f"/{len(texts)}, max prob diff vs own-length LiteRT {diff:.2e} (vs fixed {padding:.2e}), "
                       f"{dyn_ms:.2f} ms/inference (fixed export: {fixed_ms:.2f})")
        assert dyn_labels == fixed_labels, client
        assert dyn_labels == [LABELS[i] for i in ours.argmax(-1)], client
        assert diff <= PROB_TOL, (client, diff)
    assert len(set(dyn_labels)) == 2
    lengths = [len(f["ids"]) for f in feeds]
    print(f"\n{dynamic.name} on {len(texts)} real SST-2 sentences ({min(lengths)}-{max(lengths)} tokens): "
          + "; ".join(figures))


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_bert_question_answerer_agrees_with_host_replay(app_models, clients, quantize):
    path = app_models["qa"][quantize]
    cases = app_models["qa_cases"]
    app_tokenizer = replay.WordpieceTokenizer.from_file(VOCAB)
    ours = replay_answers(path, app_tokenizer, cases, client_kernels("task_library", quantize))
    got = clients["qa"][str(path)]["answers"]
    full = 0
    same_spans = 0
    for case, mine, theirs in zip(cases, ours, got):
        feature = replay.qa_preprocess(app_tokenizer, replay.normalize_text(case["context"])[0],
                                       replay.normalize_text(case["question"])[0])
        full += sum(feature.mask) == QA_SEQ
        spans = [(a["start"], a["end"]) for a in theirs]
        if spans == [(a.start, a.end) for a in mine]:
            same_spans += 1
        assert spans == [(a.start, a.end) for a in mine], case["question"]
        assert [a["text"] for a in theirs] == [a.text for a in mine]
        np.testing.assert_allclose([a["logit"] for a in theirs], [a.logit for a in mine], atol=1e-3)
    assert full >= 2  # passages that fill the 384-token window
    print(f"\n{path.name}: top-5 spans equal on {same_spans}/{len(cases)} real SQuAD passages ({full} fill "
          f"{QA_SEQ} tokens); BertQuestionAnswerer {np.median(clients['qa'][str(path)]['ms']):.1f} ms/answer")
