"""SQuAD: reader, official-semantics evaluation (v1.1 and v2.0), features with doc stride, post-processing,
the ``squad-eval`` command, and DataError for bad input."""
import copy
import io
import json
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from mobilebert_tf.cli import main
from mobilebert_tf.data import DataError
from mobilebert_tf.data.squad import (SquadExample, convert_examples_to_features, features_to_arrays, get_final_text,
                                      load_json, postprocess_predictions, read_squad, split_words)
from mobilebert_tf.squad_eval import (evaluate, evaluate_v1, evaluate_v2, f1_score, load_predictions,
                                      normalize_answer)

SHARED = Path(os.environ.get("MOBILEBERT_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
DEV2 = SHARED / "squad" / "dev-v1.1-first2articles.json"
DEV_ZIP = SHARED / "squad" / "dev-v1.1.json.zip"
VOCAB = SHARED / "vocab" / "bert-base-uncased-vocab.txt"

needs_data = pytest.mark.skipif(not DEV2.is_file(), reason=f"no shared SQuAD data at {DEV2}")


@pytest.fixture(scope="module")
def tokenizer():
    if not VOCAB.is_file():
        pytest.skip(f"no vocab at {VOCAB}")
    from mobilebert_tf.tokenization import BertTokenizer

    return BertTokenizer(VOCAB, lowercase=True)


@pytest.fixture(scope="module")
def dev2():
    return load_json(DEV2) if DEV2.is_file() else pytest.skip(f"no shared SQuAD data at {DEV2}")


# ---------------------------------------------------------------------------------------------- reader

def test_split_words_offsets():
    words, offsets = split_words(" Denver  Broncos\n(NFL)")
    assert words == ["Denver", "Broncos", "(NFL)"]
    assert offsets == [-1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]


@needs_data
def test_read_real_files():
    examples = read_squad(DEV2)
    assert len(examples) == 1057 and len({e.context_text for e in examples}) == 103
    e = examples[0]
    assert (e.qas_id, e.answers, e.orig_answer_text) == ("56be4db0acb8001400a502ec", ("Denver Broncos",) * 3,
                                                          "Denver Broncos")
    assert e.doc_tokens[e.start_position:e.end_position + 1] == ("Denver", "Broncos")
    assert not e.is_impossible
    full = read_squad(DEV_ZIP)  # read from the zip in memory
    assert len(full) == 10570 and len({e.context_text for e in full}) == 2067
    assert sum(len(e.answers) for e in full) == 34726
    assert [x.qas_id for x in full[:1057]] == [x.qas_id for x in examples]


@needs_data
def test_training_target_avoids_answers_inside_words(dev2):
    # Dev question "How many appearances have the Denver Broncos made in the Super Bowl?" lists "8" located
    # inside "20–18" first; the target is the next answer that sits on word boundaries.
    examples = {e.qas_id: e for e in read_squad(dev2, is_training=True)}
    e = next(e for e in examples.values() if e.answers == ("8", "eight", "eight"))
    assert e.orig_answer_text == "eight" and e.doc_tokens[e.start_position] == "eight"


# ---------------------------------------------------------------------------------------------- evaluation

def test_normalize_and_f1():
    assert normalize_answer("The  Denver-Broncos!") == "denverbroncos"
    assert normalize_answer("a an the Cat, in THE hat.") == "cat in hat"
    assert f1_score("Broncos", "Denver Broncos") == pytest.approx(2 / 3)
    assert f1_score("Denver Broncos won", "the Denver Broncos") == pytest.approx(0.8)
    assert f1_score("", "") == 0.0 and f1_score("", "", empty_matches_empty=True) == 1.0
    assert f1_score("a", "Paris", empty_matches_empty=True) == 0.0  # "a" normalises to nothing


@needs_data
def test_v1_gold_answers_score_100(dev2):
    preds = {e.qas_id: e.answers[-1] for e in read_squad(dev2)}
    assert evaluate_v1(dev2, preds) == {"exact_match": 100.0, "f1": 100.0}


@needs_data
def test_v1_perturbations(dev2):
    examples = read_squad(dev2)
    preds = {e.qas_id: e.answers[0] for e in examples}
    q = [e.qas_id for e in examples[:4]]
    preds[q[0]] = "the Denver Broncos!"  # EM 1 after normalisation
    preds[q[1]] = "Panthers"  # gold "Carolina Panthers": P 1, R 1/2 -> F1 2/3
    preds[q[2]] = "Santa Clara"  # best gold "Santa Clara, California": P 1, R 2/3 -> F1 0.8
    del preds[q[3]]  # missing: 0, with a warning
    warn = io.StringIO()
    result = evaluate_v1(dev2, preds, warn=warn)
    assert warn.getvalue() == f"Unanswered question {q[3]} will receive score 0.\n"
    assert result["exact_match"] == pytest.approx(100 * 1054 / 1057)
    assert result["f1"] == pytest.approx(100 * (1054 + 2 / 3 + 0.8) / 1057)


def _v2_dataset():
    context = "The cat sat on the mat in Paris."
    qas = [
        {"id": "q1", "question": "Where did the cat sit?", "answers": [
            {"text": "the mat", "answer_start": 15}, {"text": "mat", "answer_start": 19}]},
        {"id": "q2", "question": "Which city?", "answers": [{"text": "Paris", "answer_start": 26}]},
        {"id": "q3", "question": "Which dog?", "answers": [], "plausible_answers": [
            {"text": "cat", "answer_start": 4}], "is_impossible": True},
        {"id": "q4", "question": "Who flew?", "answers": [], "is_impossible": True},
    ]
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}


V2_PREDS = {"q1": "mat", "q2": "in Paris", "q3": "", "q4": "cat"}
V2_NA = {"q1": 0.1, "q2": 0.3, "q3": 0.9, "q4": 0.7}


def test_v2_hand_computed():
    # Per question exact / F1: q1 1/1, q2 0/(P 1/2, R 1 -> 2/3), q3 1/1 (empty = no answer), q4 0/0.
    result = evaluate_v2(_v2_dataset(), V2_PREDS, V2_NA)
    want = {"exact": 50.0, "f1": 100 * (2 + 2 / 3) / 4, "total": 4,
            "HasAns_exact": 50.0, "HasAns_f1": 100 * (5 / 3) / 2, "HasAns_total": 2,
            "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
            # Sweep from "all abstain" (2 correct) over na 0.1 (q1 +1 -> 3), 0.3 (q2 +0 / +2/3), 0.7 (q4 answered
            # "cat": -1), 0.9 (q3 answered "": 0).
            "best_exact": 75.0, "best_exact_thresh": 0.1, "best_f1": 100 * (3 + 2 / 3) / 4, "best_f1_thresh": 0.3}
    assert list(result) == list(want)
    assert result == pytest.approx(want)
    # With threshold 0.5, q3 and q4 count as abstentions: both right.
    result = evaluate_v2(_v2_dataset(), V2_PREDS, V2_NA, na_prob_thresh=0.5)
    assert (result["exact"], result["f1"], result["NoAns_exact"]) == pytest.approx((75.0, 100 * (11 / 3) / 4, 100.0))
    # Without na-probs there are no best_* fields, as in the official script.
    assert list(evaluate(_v2_dataset(), V2_PREDS)) == list(want)[:9]


def test_squad_eval_command(tmp_path, capsys):
    data, preds, na = tmp_path / "dev-v2.0.json", tmp_path / "preds.json", tmp_path / "na.json"
    data.write_text(json.dumps(_v2_dataset()))
    preds.write_text(json.dumps(V2_PREDS))
    na.write_text(json.dumps(V2_NA))
    assert main(["squad-eval", str(data), str(preds), "--na-prob", str(na)]) == 0
    out = capsys.readouterr().out
    assert out.startswith('{\n  "exact": 50.0,\n  "f1": 66.66666666666666,\n  "total": 4,\n')
    assert json.loads(out)["best_f1_thresh"] == 0.3
    assert main(["squad-eval", str(data), str(preds), "--na-prob", str(na), "--na-prob-thresh", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["exact"] == 75.0

    if DEV_ZIP.is_file():
        gold = tmp_path / "gold.json"
        gold.write_text(json.dumps({e.qas_id: e.answers[0] for e in read_squad(DEV_ZIP)}))
        assert main(["squad-eval", str(DEV_ZIP), str(gold), "--version", "1"]) == 0
        assert capsys.readouterr().out == '{"exact_match": 100.0, "f1": 100.0}\n'

    preds.write_text('{"q1": "mat",}')
    assert main(["squad-eval", str(data), str(preds)]) == 1
    assert re.search(rf"error: {re.escape(str(preds))}:1:14: invalid JSON", capsys.readouterr().err)


# ---------------------------------------------------------------------------------------------- features

def _alnum(s: str) -> str:
    """Lower-case letters and digits without accents: what WordPiece keeps of a text, spacing aside."""
    return "".join(c for c in unicodedata.normalize("NFD", s.lower()) if c.isalnum())


@needs_data
def test_training_features_on_real_file(dev2, tokenizer):
    examples = read_squad(dev2, is_training=True)
    features = convert_examples_to_features(examples, tokenizer, is_training=True)
    assert len(features) == 1077  # 1057 questions; 20 windows more where question + context exceed 384 tokens
    arrays = features_to_arrays(features)
    assert arrays["input_ids"].shape == (1077, 384) and arrays["input_ids"].dtype == np.int32
    assert arrays["start_positions"].shape == (1077,)
    f = features[0]
    n = int(f.input_mask.sum())
    assert f.input_ids[0] == tokenizer.cls_id and f.input_ids[n - 1] == tokenizer.sep_id
    assert (f.input_ids[n:] == tokenizer.pad_id).all() and (f.segment_ids[:n] == 0).sum() == len(f.tokens) - (
        len(f.token_to_orig_map) + 1)

    answerable = [f for f in features if f.start_position > 0]
    matched = 0
    for f in answerable:
        text = " ".join(tokenizer.decode(f.input_ids[f.start_position:f.end_position + 1])).replace(" ##", "")
        matched += _alnum(text) == _alnum(examples[f.example_index].orig_answer_text)
    rate = matched / len(answerable)
    print(f"span match rate {matched}/{len(answerable)} = {rate:.4f}")
    assert len(answerable) == 1066 and rate >= 0.99

    # Oracle logits (one-hot at the gold start/end) must give back the gold answers.
    start = np.full((len(features), 384), -10.0)
    end = start.copy()
    for i, f in enumerate(features):
        start[i, f.start_position] = end[i, f.end_position] = 10.0
    preds, nbest, na_probs = postprocess_predictions(examples, features, start, end)
    result = evaluate_v1(dev2, preds)
    print(f"oracle {result}")
    assert result["exact_match"] >= 99.0 and result["f1"] >= 99.0
    assert len(nbest[examples[0].qas_id]) == 20 and na_probs == {}
    assert sum(x["probability"] for x in nbest[examples[0].qas_id]) == pytest.approx(1.0)


def _numbers_example(n_words=50, answer=(40, 41), impossible=False, qid="n"):
    # "0".."49" are single WordPiece tokens, so word i is doc token i.
    words = [str(i) for i in range(n_words)]
    context = " ".join(words)
    text = " ".join(words[answer[0]:answer[1] + 1])
    qa = {"id": qid, "question": "where ?", "answers": [] if impossible else [
        {"text": text, "answer_start": context.index(f" {text} ") + 1}], "is_impossible": impossible}
    data = {"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}
    return read_squad(data, is_training=True)


def test_doc_stride_windows(tokenizer):
    examples = _numbers_example()
    # seq 32 - 2 question tokens - 3 specials = 27 context tokens per window; stride 10: starts 0, 10, 20, 30.
    features = convert_examples_to_features(examples, tokenizer, seq_len=32, doc_stride=10, is_training=True)
    assert [f.doc_span_index for f in features] == [0, 1, 2, 3]
    assert [f.token_to_orig_map[4] for f in features] == [0, 10, 20, 30]
    assert [len(f.token_to_orig_map) for f in features] == [27, 27, 27, 20]
    # Each context token is "max context" in exactly one window: token 15 in window 0 (11 tokens of context
    # on its short side vs 5 in window 1), token 25 in window 1.
    owners = {}
    for f in features:
        for pos, is_max in f.token_is_max_context.items():
            if is_max:
                owners.setdefault(f.token_to_orig_map[pos], []).append(f.doc_span_index)
    assert sorted(owners) == list(range(50)) and all(len(v) == 1 for v in owners.values())
    assert owners[15] == [0] and owners[25] == [1] and owners[21] == [1]
    # The answer (tokens 40-41) lies inside windows 2 and 3 only; question + [CLS]/[SEP] shift by 4.
    assert [(f.start_position, f.end_position) for f in features] == [(0, 0), (0, 0), (24, 25), (14, 15)]
    assert features[2].tokens[24:26] == ("40", "41")

    assert owners[33] == [2] and owners[40] == owners[41] == [3]

    # A span may only start at a token of its window's max context: "21 22" (window 1's) scores 10 in window 2
    # but loses to "33 34" (window 2's) at 2.
    start, end = np.full((4, 32), -100.0), np.full((4, 32), -100.0)
    start[2, 5] = end[2, 6] = 5.0
    start[2, 17] = end[2, 18] = 1.0
    assert postprocess_predictions(examples, features, start, end, n_best=3)[0] == {"n": "33 34"}
    start[3, 14] = end[3, 15] = 5.0
    assert postprocess_predictions(examples, features, start, end)[0] == {"n": "40 41"}
    # A higher-scoring span longer than max_answer_length is dropped.
    start[2, 17], end[2, 18], end[2, 30] = 20.0, -100.0, 20.0
    assert postprocess_predictions(examples, features, start, end, max_answer_length=10)[0] == {"n": "40 41"}
    assert postprocess_predictions(examples, features, start, end, max_answer_length=14)[0] == {
        "n": " ".join(str(i) for i in range(33, 47))}


def test_v2_features_and_null_threshold(tokenizer):
    examples = (_numbers_example(n_words=10, impossible=True, qid="none")
                + _numbers_example(n_words=10, answer=(3, 4), qid="some"))
    features = convert_examples_to_features(examples, tokenizer, seq_len=32, is_training=True)
    assert [(f.is_impossible, f.start_position, f.end_position) for f in features] == [(True, 0, 0), (False, 7, 8)]
    start, end = np.zeros((2, 32)), np.zeros((2, 32))
    start[:, 0] = end[:, 0] = 2.0  # null score 4
    start[0, 7] = end[0, 8] = 1.0  # best span "3 4" of "none" scores 2: null - best = 2
    start[1, 7] = end[1, 8] = 3.0  # best span of "some" scores 6: null - best = -2
    preds, nbest, na = postprocess_predictions(examples, features, start, end, version_2=True)
    assert preds == {"none": "", "some": "3 4"} and na == {"none": 2.0, "some": -2.0}
    assert [x["text"] for x in nbest["some"]][:2] == ["3 4", ""] and nbest["none"][0]["text"] == ""
    preds, _, _ = postprocess_predictions(examples, features, start, end, version_2=True, null_threshold=-3.0)
    assert preds == {"none": "", "some": ""}
    preds, _, _ = postprocess_predictions(examples, features, start, end, version_2=True, null_threshold=2.0)
    assert preds == {"none": "3 4", "some": "3 4"}  # a difference equal to the threshold still answers


def test_get_final_text():
    assert get_final_text("steve smith", "Steve Smith's") == "Steve Smith"
    assert get_final_text("1895", "(1895-1943).") == "1895"
    assert get_final_text("cafe", "Café,") == "Café"
    assert get_final_text("nowhere", "Steve Smith's") == "Steve Smith's"  # no alignment: whole words


# ---------------------------------------------------------------------------------------------- bad input

@needs_data
def test_answer_start_mismatch(dev2, tmp_path):
    bad = copy.deepcopy(dev2)
    bad["data"][0]["paragraphs"][0]["qas"][2]["answers"][1]["answer_start"] += 1
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=re.escape(f"{f}: data[0].paragraphs[0].qas[2].answers[1]: answer_start 356 "
                                                  "gives \"evi's Stadium \", not the answer text \"Levi's Stadium\"")):
        read_squad(f)


def test_bad_squad_json(tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(DataError, match=rf"^{re.escape(str(f))}:2:19: invalid JSON: Expecting value$"):
        read_squad(f)
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'missing.json'))}: no such file$"):
        read_squad(tmp_path / "missing.json")
    data = {"data": [{"paragraphs": [{"qas": []}]}]}
    with pytest.raises(DataError, match=r"^<squad json>: data\[0\].paragraphs\[0\]: missing field 'context'$"):
        read_squad(data)
    data = {"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "a", "question": "q", "answers": [
        {"text": "x", "answer_start": "0"}]}]}]}]}
    with pytest.raises(DataError, match=r"qas\[0\].answers\[0\].answer_start must be int, got str$"):
        read_squad(data)
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    with pytest.raises(DataError, match=r"qas\[0\].answers: empty, but the question is not marked is_impossible$"):
        read_squad(data, is_training=True)
    z = tmp_path / "notzip.zip"
    z.write_text("plain text")
    with pytest.raises(DataError, match=rf"^{re.escape(str(z))}: not a valid zip file"):
        load_json(z)
    p = tmp_path / "preds.json"
    p.write_text('["a", "b"]')
    with pytest.raises(DataError, match="expected a JSON object mapping question id to value, got list"):
        load_predictions(p)
    with pytest.raises(DataError, match=r"predictions\['q1'\] must be a string, got int"):
        evaluate_v2(_v2_dataset(), {"q1": 1})
    with pytest.raises(DataError, match=r"na-probs: no value for 1 question\(s\), e.g. 'q4'"):
        evaluate_v2(_v2_dataset(), V2_PREDS, {k: v for k, v in V2_NA.items() if k != "q4"})


def test_example_is_frozen():
    e = SquadExample("a", "q", "c", ("c",), ("c",), "c", 0, 0)
    with pytest.raises(AttributeError):
        e.qas_id = "b"
