"""Host replay of the Android demo's question answering: the app's tokenization and the Task Library's
BertQuestionAnswerer post-processing (android_demo/host_replay/task_library_replay.py, mirrored by the
Kotlin core) run on LiteRT with a fine-tuned tiny model and real SQuAD questions.

"Fine-tuned" here means overfitted: there is no SQuAD train file in shared/data and CPU is scarce, so a
2-layer mobilebert_tiny learns 16 real dev questions (one per paragraph) for 30 Adam steps. The test
then checks the whole phone path, not the model: export -> .tflite with metadata -> the app's
pre-processing -> LiteRT -> the Task Library's n-best / max-length / offset logic -> answer text and
highlight, against the gold answers and against our Python ``postprocess_predictions``.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tf_keras as keras

from mobilebert_tf.export import android_assets
from mobilebert_tf.export.exporter import export_tflite
from mobilebert_tf.export.tflite_io import make_interpreter, read_tflite
from mobilebert_tf import MobileBertConfig, MobileBertForQuestionAnswering
from mobilebert_tf.data.glue import read_glue
from mobilebert_tf.data.squad import (convert_examples_to_features, postprocess_predictions,
                                      read_squad)
from mobilebert_tf.squad_eval import exact_match_score, normalize_answer
from mobilebert_tf.tokenization import BertTokenizer
from tests.conftest import GLUE, SHARED_DATA, SQUAD_SMALL, VOCAB
from tests.fit_utils import fit_qa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "android_demo" / "host_replay"))
import kotlin_host  # noqa: E402
import task_library_replay as replay  # noqa: E402

SEQ = 128
N_EXAMPLES = 16
STEPS = 30


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(str(VOCAB))


@pytest.fixture(scope="module")
def app_tokenizer():
    return replay.WordpieceTokenizer.from_file(VOCAB)


def _app_answerable(examples, features, app_tokenizer, n):
    """The first ``n`` questions (one per paragraph) the phone can answer as training saw them: the
    passage fits one window, the app's ids equal the training ids, and the gold answer is whole
    space-separated words up to punctuation (the Task Library returns whole words)."""
    by_example = collections.defaultdict(list)
    for f in features:
        by_example[f.example_index].append(f)
    chosen, contexts = [], set()
    for i, ex in enumerate(examples):
        fs = by_example[i]
        if len(fs) != 1 or fs[0].start_position == 0 or ex.context_text in contexts:
            continue
        f = fs[0]
        app = replay.qa_preprocess(app_tokenizer, ex.context_text, ex.question_text, SEQ)
        if (app.ids, app.mask, app.segment_ids) != (f.input_ids.tolist(), f.input_mask.tolist(),
                                                    f.segment_ids.tolist()):
            continue
        w0, w1 = app.token_to_orig_map[f.start_position + 1], app.token_to_orig_map[f.end_position + 1]
        if normalize_answer(" ".join(app.orig_tokens[w0:w1 + 1])) not in {normalize_answer(a) for a in ex.answers}:
            continue
        chosen.append((ex, f))
        contexts.add(ex.context_text)
        if len(chosen) == n:
            break
    return chosen


@pytest.fixture(scope="module")
def exported(tokenizer, app_tokenizer, tmp_path_factory):
    """(chosen [(example, feature)], exported .tflite path, manifest entry)."""
    examples = read_squad(SQUAD_SMALL, is_training=True)
    features = convert_examples_to_features(examples, tokenizer, seq_len=SEQ, is_training=True)
    chosen = _app_answerable(examples, features, app_tokenizer, N_EXAMPLES)
    assert len(chosen) == N_EXAMPLES

    keras.utils.set_random_seed(0)
    model = MobileBertForQuestionAnswering(MobileBertConfig.from_preset("mobilebert_tiny", num_hidden_layers=2))
    model.build_with_dummy()
    loss = fit_qa(model, [f for _, f in chosen], STEPS)
    assert float(loss) < 0.05, float(loss)

    tmp = tmp_path_factory.mktemp("replay")
    result = export_tflite(model, "qa", tmp / "squad_tiny_float.tflite", seq_len=SEQ, quantize="none",
                           tokenizer=tokenizer, vocab_file=str(VOCAB), data_dir=SHARED_DATA, gate_examples=4,
                           progress=False)
    entry = android_assets.install(result, tmp / "assets")
    return chosen, tmp / "assets" / entry["file"], entry


def _litert_by_name(path):
    """Run the model the way the app does: tensors found by name, not position."""
    interpreter = make_interpreter(read_tflite(path))
    inputs = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    outputs = {d["name"]: d["index"] for d in interpreter.get_output_details()}

    def run(ids, mask, segment_ids):
        for name, value in (("ids", ids), ("mask", mask), ("segment_ids", segment_ids)):
            interpreter.set_tensor(inputs[name], np.asarray([value], np.int32))
        interpreter.invoke()
        return interpreter.get_tensor(outputs["start_logits"])[0], interpreter.get_tensor(outputs["end_logits"])[0]

    return run


def test_replay_answers_real_squad_questions(exported, app_tokenizer):
    chosen, path, entry = exported
    # seq 128 is not BertQuestionAnswerer's 384: the manifest routes it to the app's Interpreter path
    assert entry["task_library"]["compatible"] is False and entry["seq_len"] == SEQ
    run = _litert_by_name(path)
    rows, logits = [], []
    for ex, _f in chosen:
        feature = replay.qa_preprocess(app_tokenizer, ex.context_text, ex.question_text, SEQ)
        start, end = run(feature.ids, feature.mask, feature.segment_ids)
        answers = replay.qa_postprocess(feature, start, end, context=ex.context_text)
        logits.append((start, end))
        assert 1 <= len(answers) <= replay.PREDICT_ANS_NUM
        for a in answers:  # the Task Library's rules, on every answer it returns
            assert a.end >= a.start and a.end - a.start + 1 <= replay.MAX_ANS_LEN
            assert (a.start + 1) in feature.token_to_orig_map and (a.end + 1) in feature.token_to_orig_map
            # the highlight covers exactly the answer's words in the original passage
            assert replay.split_context(ex.context_text[a.char_start:a.char_end]) == a.text.split(" ")
        assert [a.logit for a in answers] == sorted((a.logit for a in answers), reverse=True)
        em = max(exact_match_score(answers[0].text, g) for g in ex.answers)
        rows.append((ex.qas_id, answers[0].text, ex.answers[0], em))

    # our Python SQuAD post-processing on the same LiteRT logits (n-best 20, doc-stride windows,
    # get_final_text trimming): it must pick the same answer up to punctuation
    features = [dataclasses.replace(f, example_index=i) for i, (_, f) in enumerate(chosen)]
    preds, _, _ = postprocess_predictions([ex for ex, _ in chosen], features,
                                          np.stack([s for s, _ in logits]), np.stack([e for _, e in logits]),
                                          max_answer_length=replay.MAX_ANS_LEN)
    agree = [normalize_answer(preds[ex.qas_id]) == normalize_answer(row[1]) for (ex, _), row in zip(chosen, rows)]
    em = float(np.mean([r[3] for r in rows]))
    print(f"\nhost replay on {len(rows)} real SQuAD dev questions (seq {SEQ}): EM {em:.1%}, agreement with "
          f"postprocess_predictions {np.mean(agree):.1%}")
    for (qid, pred, gold, ok), same in zip(rows, agree):
        print(f"  {'ok ' if ok else 'MISS'} {qid}: {pred!r} (gold {gold!r}){'' if same else ' [python differs]'}")
    assert em >= 0.9
    assert np.mean(agree) >= 0.9


def _sst2_sentences(n):
    return [e.text_a for e in read_glue("sst-2", GLUE / "SST-2" / "dev.tsv", "dev")[:n]]


EDGE_TEXTS = ["Beyoncé sang at Levi's Stadium — “golden anniversary”!", "東京 is\u00a0big\u000bhere",
              "x" * 120 + " tail", "Émile Zola's café, 24–10.", "  spaced\t\tout\nlines  ", ""]


def _phone_ids(app_tokenizer, text):
    """The ids the phone feeds the model: the app's normalization, then the Task Library's tokenizer."""
    normalized = replay.normalize_text(text)[0]
    return [app_tokenizer.lookup_id(p) for p in app_tokenizer.tokenize(replay.ascii_lower(normalized))]


def test_app_tokenization_matches_training_tokenizer(tokenizer, app_tokenizer):
    """The phone normalizes text as training did (NFD, accents dropped, lower-cased) before the Task
    Library's tokenizer, so its ids equal the training ids, accented texts included. Without that step
    (the Task Library alone) accented words become other ids, e.g. [UNK]."""
    squad = read_squad(SQUAD_SMALL)
    texts = (_sst2_sentences(872) + sorted({ex.context_text for ex in squad}) + [ex.question_text for ex in squad]
             + EDGE_TEXTS[:2] + EDGE_TEXTS[3:] + ["Amélie loved the café au lait", "CAFÉ, NAÏVE, Über"])
    ours = tokenizer.encode(texts)
    accented = [i for i, t in enumerate(texts) if not t.isascii()]
    phone = [i for i, (t, ids) in enumerate(zip(texts, ours)) if _phone_ids(app_tokenizer, t) != ids]
    raw = [i for i, (t, ids) in enumerate(zip(texts, ours))
           if [app_tokenizer.lookup_id(p) for p in app_tokenizer.tokenize(replay.ascii_lower(t))] != ids]
    print(f"\nphone-path ids == training ids on {len(texts) - len(phone)}/{len(texts)} real texts "
          f"({len(accented)} with non-ASCII characters); the Task Library alone, without the app's "
          f"normalization, differs on {len(raw)}")
    assert len(accented) >= 20 and len(raw) >= 10   # the accented texts are there and do matter
    assert phone == [], [texts[i][:80] for i in phone]
    assert _phone_ids(app_tokenizer, "café au lait") == _phone_ids(app_tokenizer, "cafe au lait")


ACCENTED_TEXTS = ["Amélie is a charming café of a film.", "A NAÏVE, CLICHÉD MESS", "Émile Zola's café, 24–10.",
                  "Fryderyk Chopin was born in Żelazowa Wola", "ΣΟΦΊΑ and Über\u00a0tab\there", "東京 Pokémon"]


@pytest.mark.needs_tool("kotlinc + JUnit")
def test_kotlin_core_matches_python_replay(exported, tokenizer, app_tokenizer, tmp_path):
    """The Kotlin classes the app runs give the same ids, answers, logits and highlights as this replay."""
    kotlinc = kotlin_host.find_kotlinc()
    if kotlinc is None:
        pytest.skip("no kotlinc >= 1.6: set $KOTLINC, put kotlinc on PATH, or "
                    "`npm install -g kotlin-compiler@2.1.20` (see android_demo/README.md)")
    core = kotlin_host.compile_core(kotlinc, kotlin_host.find_junit())
    chosen, path, _ = exported
    run = _litert_by_name(path)
    rng = np.random.default_rng(0)
    cases = []
    for ex, _ in chosen[:6]:
        feature = replay.qa_preprocess(app_tokenizer, ex.context_text, ex.question_text, SEQ)
        start, end = run(feature.ids, feature.mask, feature.segment_ids)
        cases.append((ex.qas_id, ex.context_text, ex.question_text, SEQ, start, end))
    # odd passages with random logits: spacing, accents, CJK, over-long words, a context cut by the window
    for i, text in enumerate(EDGE_TEXTS[:-1]):
        context = f"{text}  {chosen[i][0].context_text}"
        cases.append((f"edge{i}", context, chosen[i][0].question_text, 64,
                      rng.normal(size=64).astype(np.float32), rng.normal(size=64).astype(np.float32)))
    payload = {"vocab_file": str(VOCAB),
               "qa": [{"id": c[0], "context": c[1], "question": c[2], "seq_len": c[3],
                       "start_logits": [float(x) for x in c[4]], "end_logits": [float(x) for x in c[5]]}
                      for c in cases],
               "classifier": [{"text": t, "seq_len": 32} for t in _sst2_sentences(20) + EDGE_TEXTS],
               "normalize": ACCENTED_TEXTS}
    (tmp_path / "cases.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    kotlin_host.run_replay_check(core, tmp_path / "cases.json", tmp_path / "out.json")
    got = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))

    n_answers = 0
    for case, k in zip(cases, got["qa"]):
        cid, context, question, seq, start, end = case
        feature = replay.qa_preprocess(app_tokenizer, context, question, seq)
        assert k["id"] == cid
        assert (k["ids"], k["mask"], k["segment_ids"]) == (feature.ids, feature.mask, feature.segment_ids), cid
        want = replay.qa_postprocess(feature, start, end, context=context)
        assert len(k["answers"]) == len(want), cid
        for ka, pa in zip(k["answers"], want):
            assert (ka["text"], ka["start"], ka["end"], ka["word_start"], ka["word_end"], ka["char_start"],
                    ka["char_end"]) == (pa.text, pa.start, pa.end, pa.word_start, pa.word_end, pa.char_start,
                                        pa.char_end), cid
            assert np.float32(ka["logit"]) == np.float32(pa.logit)
            n_answers += 1
    for case, k in zip(payload["classifier"], got["classifier"]):
        want = replay.classifier_preprocess(app_tokenizer, case["text"], case["seq_len"])
        assert (k["ids"], k["mask"]) == (want["ids"], want["mask"]), case["text"]
    # the app's TextNormalizer + tokenizer give the training ids on accented text
    training = tokenizer.encode(ACCENTED_TEXTS)
    for text, k, ids in zip(ACCENTED_TEXTS, got["normalized"], training):
        assert k["text"] == replay.normalize_text(text)[0], text
        assert k["ids"] == ids == _phone_ids(app_tokenizer, text), text
    print(f"\nKotlin core ({core.version}) == Python replay on {len(cases)} QA cases ({n_answers} answers), "
          f"{len(payload['classifier'])} classifier inputs; Kotlin phone ids == training ids on "
          f"{len(ACCENTED_TEXTS)} accented texts")


# The fixed export padded to 128 vs the dynamic export at each sentence's own length are not the same
# function: Google's attention mask (-6 on padded keys, what int8 needs) leaves padded keys a little weight.
# Same bound as the browser test's (tests/test_web_demo.py PADDING_TOL); the test prints the measured gap.
PADDING_TOL = 0.05


@pytest.mark.needs_tool("kotlinc + JUnit")
def test_kotlin_dynamic_classifier_and_fallback(app_models, tokenizer, tmp_path):
    """The app's classifier path on the dynamic exports (tests/client_models.py): the Kotlin core's
    own-length ids (what the app resizes the inputs to) are the training ids, and LiteRT on them gives the
    labels of the fixed fallback run on the Kotlin core's padded ids; the app's model choice
    (core ModelFallback on the exporter's manifest) runs the dynamic model when it loads and the fixed
    fallback, with a notice, when the dynamic file is missing or broken."""
    from tests.client_models import CLASSIFIER_SEQ, DYNAMIC_MAX_SEQ, QUANTIZATIONS, LiteRtModel, own_length_inputs

    kotlinc = kotlin_host.find_kotlinc()
    if kotlinc is None:
        pytest.skip("no kotlinc >= 1.6: set $KOTLINC, put kotlinc on PATH, or "
                    "`npm install -g kotlin-compiler@2.1.20` (see android_demo/README.md)")
    core = kotlin_host.compile_core(kotlinc, kotlin_host.find_junit())
    texts = app_models["sst2_texts"]
    assets = tmp_path / "assets"
    shutil.copytree(app_models["folder"], assets, ignore=shutil.ignore_patterns("*.json.*", "*.report.json", ".*"))

    def kotlin(extra):
        payload = {"vocab_file": str(VOCAB), "qa": [], "manifest_file": str(assets / "models.json"),
                   "assets_dir": str(assets),
                   "classifier": [{"text": replay.normalize_text(t)[0], "seq_len": seq, "own_length": own}
                                  for seq, own in ((DYNAMIC_MAX_SEQ, True), (CLASSIFIER_SEQ, False)) for t in texts],
                   **extra}
        (tmp_path / "cases.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        kotlin_host.run_replay_check(core, tmp_path / "cases.json", tmp_path / "out.json")
        return json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))

    got = kotlin({})
    own_rows, padded_rows = got["classifier"][:len(texts)], got["classifier"][len(texts):]
    training = own_length_inputs(tokenizer, texts)
    assert [r["ids"] for r in own_rows] == [f["ids"].tolist() for f in training]  # no padding: the token count
    assert all(len(r["ids"]) == CLASSIFIER_SEQ for r in padded_rows)
    dynamic_files = {app_models["classifier_dynamic"][q].name for q in QUANTIZATIONS}
    assert set(got["choices"]) >= dynamic_files and not {app_models["classifier"][q].name for q in QUANTIZATIONS} \
        & set(got["choices"])  # the picker offers the dynamic models, not their fallbacks apart
    chosen = {c["file"]: c for c in got["chosen"]}
    assert all(chosen[f]["runs"] == f and chosen[f]["notice"] is None for f in dynamic_files)

    figures = []
    for q in QUANTIZATIONS:
        dynamic, fixed = LiteRtModel(app_models["classifier_dynamic"][q]), LiteRtModel(app_models["classifier"][q])
        own = np.stack([dynamic(ids=r["ids"], mask=r["mask"], segment_ids=[0] * len(r["ids"]))["probability"]
                        for r in own_rows])
        padded = np.stack([fixed(ids=r["ids"], mask=r["mask"], segment_ids=[0] * len(r["ids"]))["probability"]
                           for r in padded_rows])
        gap = float(np.abs(own - padded).max())
        figures.append(f"{q}: labels equal on {int((own.argmax(-1) == padded.argmax(-1)).sum())}/{len(texts)}, max "
                       f"|dp| {gap:.2e}, {np.median(dynamic.ms):.2f} vs {np.median(fixed.ms):.2f} ms/inference")
        assert (own.argmax(-1) == padded.argmax(-1)).all(), q
        assert gap <= PADDING_TOL, (q, gap)
        assert len(set(own.argmax(-1))) == 2
    lengths = [len(r["ids"]) for r in own_rows]
    print(f"\nKotlin own-length ids ({min(lengths)}-{max(lengths)} tokens) on the dynamic exports vs padded to "
          f"{CLASSIFIER_SEQ} on the fixed fallbacks, {len(texts)} real SST-2 sentences: " + "; ".join(figures))

    # the dynamic model missing from assets, or broken: the fixed fallback runs, and the notice says why
    missing, broken = app_models["classifier_dynamic"]["none"].name, app_models["classifier_dynamic"]["int8-mixed"].name
    (assets / missing).unlink()
    (assets / broken).write_bytes(b"\0" * 64)
    chosen = {c["file"]: c for c in kotlin({})["chosen"]}
    for file, quantize, reason in ((missing, "none", "is not in assets"), (broken, "int8-mixed", "no TFL3 identifier")):
        fallback = app_models["classifier"][quantize].name
        assert chosen[file]["runs"] == fallback
        assert chosen[file]["notice"].startswith(f"own-length model {file} failed (") and reason in chosen[file]["notice"]
        assert f"running the fixed-length {fallback} (seq {CLASSIFIER_SEQ}) instead" in chosen[file]["notice"]
    intact = app_models["classifier_dynamic"]["dynamic"].name
    assert chosen[intact]["runs"] == intact and chosen[intact]["notice"] is None
