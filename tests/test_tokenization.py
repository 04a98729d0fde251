"""Tokenizer: id parity with HF BertTokenizerFast on real GLUE/SQuAD text, packing, graph mode, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import CORPUS, GLUE, SQUAD_SMALL, VOCAB
from mobilebert_tf.cli import main
from mobilebert_tf.tokenization import (SPECIAL_TOKENS, BertTokenizer, TokenizerError, pack_pair, pack_single,
                                        tf_pack, truncate_pair)


def _tsv(path, column_sets, header=True, encoding="utf-8"):
    lines = path.read_text(encoding=encoding).split("\n")
    rows = [ln.split("\t") for ln in (lines[1:] if header else lines) if ln]
    return [r[c] for r in rows for c in column_sets]


def parity_texts() -> dict[str, list[str]]:
    """Every sentence of the GLUE dev sets and the SQuAD questions and contexts (SOURCES.md formats)."""
    squad = json.loads(SQUAD_SMALL.read_text(encoding="utf-8"))
    paragraphs = [p for a in squad["data"] for p in a["paragraphs"]]
    return {
        "SST-2": _tsv(GLUE / "SST-2/dev.tsv", [0]),
        "CoLA": _tsv(GLUE / "CoLA/dev.tsv", [3], header=False),       # no header
        "MRPC": _tsv(GLUE / "MRPC/dev.tsv", [3, 4], encoding="utf-8-sig"),  # BOM
        "RTE": _tsv(GLUE / "RTE/dev.tsv", [1, 2]),
        "STS-B": _tsv(GLUE / "STS-B/dev.tsv", [7, 8]),
        "SQuAD": [p["context"] for p in paragraphs] + [q["question"] for p in paragraphs for q in p["qas"]],
    }


# Characters where tensorflow-text's own lower_case differs from BERT/HF (NFKC folding, control
# characters, final sigma, byte vs character word limit), plus CJK, emoji and whitespace kinds.
EDGE_CASES = [
    "ÀÉÎÕÜ ñ Straße İstanbul ΣΊΣΥΦΟΣ δούλος Ὀδυσσεύς",
    "Iraq\u00e2\x80\x99s tab\there\x0bvt\x0cff\x85nel\u00a0nbsp\u3000ideo\u2028ls zero\u200bwidth soft\u00adhyphen",
    "中文字符測試 日本語のテキスト 한국어 텍스트 力加勝北区ᴵᴺᵀᵃছজট",
    "a" * 101 + " " + "b" * 100 + " " + "é" * 60 + " " + "é" * 101 + " " + "ü" * 100 + " x" + "😀" * 101,
    "\ufffdrep\x00nul \ue000 \U000F0000 x\u0378y",
    "emoji 😀 👍🏽 ﬁ ½ µ ² Ⅻ ｆｕｌｌ ﬀ ŉ ΐ ǅ ß ẞ Ω K Å",
    "",
    "   \n ",
    "$5+3=8 <b>|~^` hello—world… «quoted» 1,000.50",
]


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer(VOCAB)


@pytest.fixture(scope="module")
def hf_uncased():
    from transformers import BertTokenizerFast

    # transformers 5 takes the vocab path as `vocab=`; `vocab_file=` is silently ignored there and
    # leaves a 5-token vocab, so check the size.
    hf = BertTokenizerFast(vocab=str(VOCAB), do_lower_case=True)
    assert len(hf) == 30522
    return hf


def _compare(ours: list[list[int]], hf, texts: list[str]) -> tuple[int, list[str]]:
    ref = [hf(t, add_special_tokens=False)["input_ids"] for t in texts]
    diffs = [i for i, (a, b) in enumerate(zip(ours, ref)) if a != b]
    report = [f"{texts[i][:60]!r}: ours {hf.convert_ids_to_tokens(ours[i])[:12]} "
              f"hf {hf.convert_ids_to_tokens(ref[i])[:12]}" for i in diffs[:5]]
    return len(texts) - len(diffs), report


def test_special_ids(tok):
    ids = (tok.vocab_size, tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id)
    assert ids == (30522, 0, 100, 101, 102, 103)
    assert tok.vocab[1996] == "the" and tok.decode([101, 1996, 102, 0]) == ["[CLS]", "the", "[SEP]", "[PAD]"]


def test_parity_with_hf_on_glue_and_squad(tok, hf_uncased):
    per_set = parity_texts()
    assert {k: len(v) for k, v in per_set.items()} == {"SST-2": 872, "CoLA": 1043, "MRPC": 816, "RTE": 554,
                                                       "STS-B": 3000, "SQuAD": 1160}
    texts = [t for v in per_set.values() for t in v]
    same, report = _compare(tok.encode(texts), hf_uncased, texts)
    print(f"\ntokenizer parity with HF BertTokenizerFast: {same}/{len(texts)} texts identical")
    print("\n".join(report))
    assert same == len(texts) == 7445, report  # docs/data.md: 7445/7445


def test_edge_cases_match_hf(tok, hf_uncased):
    same, report = _compare(tok.encode(EDGE_CASES), hf_uncased, EDGE_CASES)
    assert same == len(EDGE_CASES), report
    # Words over 100 characters are one [UNK]; a 100-character word is not.
    ids = tok.encode(["a" * 101, "é" * 100, "é" * 101])
    assert ids[0] == [100] and ids[1] != [100] and ids[2] == [100]


def test_cased_matches_hf_without_lowercasing():
    from transformers import BertTokenizerFast

    hf = BertTokenizerFast(vocab=str(VOCAB), do_lower_case=False)
    texts = parity_texts()["RTE"] + EDGE_CASES
    same, report = _compare(BertTokenizer(VOCAB, lowercase=False).encode(texts), hf, texts)
    assert same == len(texts), report


def test_special_token_strings_in_text_stay_text(tok):
    # As Google's BERT; HF BertTokenizerFast would give [101, 103].
    assert tok.decode(tok.encode(["[CLS] [MASK]"])[0]) == ["[", "cl", "##s", "]", "[", "mask", "]"]


def test_encode_rejects_a_bare_string(tok):
    with pytest.raises(TypeError, match="list of strings"):
        tok.encode("hello")


def test_tf_encode_in_tf_data_and_tf_function(tok):
    texts = parity_texts()["MRPC"][:40]
    expected = tok.encode(texts)
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(16).map(tok.tf_encode)
    got = [row for batch in ds for row in batch.to_list()]
    assert got == expected
    assert ds.element_spec.dtype == tf.int32

    scalar = tf.function(tok.tf_encode, input_signature=[tf.TensorSpec([], tf.string)])
    assert scalar(tf.constant(texts[0])).numpy().tolist() == expected[0]

    # Packing inside the same graph equals the numpy helpers, pairs included.
    pairs = tf.data.Dataset.from_tensor_slices((texts[0::2], texts[1::2])).batch(8).map(
        lambda a, b: tok.tf_pack(tok.tf_encode(a), tok.tf_encode(b), seq_len=48))
    packed = {k: np.concatenate([b[k].numpy() for b in pairs]) for k in ("input_ids", "input_mask", "segment_ids")}
    ref = tok.encode_pair(texts[0::2], texts[1::2], seq_len=48)
    for k in ref:
        np.testing.assert_array_equal(packed[k], ref[k])
        assert packed[k].shape == (20, 48) and packed[k].dtype == np.int32


def test_pack_layout():
    single = pack_single([7, 8, 9], 6, cls_id=101, sep_id=102)
    assert single["input_ids"].tolist() == [101, 7, 8, 9, 102, 0]
    assert single["input_mask"].tolist() == [1, 1, 1, 1, 1, 0] and single["segment_ids"].tolist() == [0] * 6
    assert pack_single(list(range(1, 10)), 5, 101, 102)["input_ids"].tolist() == [101, 1, 2, 3, 102]
    pair = pack_pair([1, 2, 3, 4], [5, 6], 9, cls_id=101, sep_id=102, pad_id=0)
    assert pair["input_ids"].tolist() == [101, 1, 2, 3, 4, 102, 5, 6, 102]
    assert pair["segment_ids"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    # 6 + 6 tokens into 9 - 3 = 6: three each (ties cut b first, so 7 + 7 into 7 gives 4 + 3).
    cut = pack_pair(range(1, 7), range(11, 17), 9, 101, 102)["input_ids"].tolist()
    assert cut == [101, 1, 2, 3, 102, 11, 12, 13, 102]
    assert [len(x) for x in truncate_pair(range(7), range(7), 7)] == [4, 3]
    for v in pair.values():
        assert v.dtype == np.int32 and v.shape == (9,)


def _google_truncate(a: int, b: int, max_total: int) -> tuple[int, int]:
    while a + b > max_total:
        if a > b:
            a -= 1
        else:
            b -= 1
    return a, b


@pytest.mark.parametrize("seq_len", [3, 4, 7, 12, 15])
def test_truncation_numpy_tf_and_google_agree(seq_len):
    lens = [(a, b) for a in range(10) for b in range(10)]
    seg_a = tf.ragged.constant([list(range(1, a + 1)) for a, _ in lens], dtype=tf.int32, ragged_rank=1)
    seg_b = tf.ragged.constant([list(range(50, 50 + b)) for _, b in lens], dtype=tf.int32, ragged_rank=1)
    packed = tf_pack([seg_a, seg_b], seq_len, cls_id=101, sep_id=102)
    for row, (a, b) in enumerate(lens):
        want = _google_truncate(a, b, seq_len - 3)
        ref = pack_pair(range(1, a + 1), range(50, 50 + b), seq_len, 101, 102)
        assert int((ref["segment_ids"] == 0).sum() - (ref["input_mask"] == 0).sum()) - 2 == want[0]
        for k in ref:
            np.testing.assert_array_equal(packed[k][row].numpy(), ref[k], err_msg=f"{k} a={a} b={b}")


def test_encode_pair_matches_hf_layout_on_mrpc(tok, hf_uncased):
    rows = [ln.split("\t") for ln in (GLUE / "MRPC/dev.tsv").read_text(encoding="utf-8-sig").split("\n")[1:] if ln]
    a, b = [r[3] for r in rows], [r[4] for r in rows]
    ours = tok.encode_pair(a, b, seq_len=128)
    ref = hf_uncased(a, b, padding="max_length", max_length=128, truncation=True, return_tensors="np")
    np.testing.assert_array_equal(ours["input_ids"], ref["input_ids"])  # no pair needs truncation at 128
    np.testing.assert_array_equal(ours["segment_ids"], ref["token_type_ids"])
    np.testing.assert_array_equal(ours["input_mask"], ref["attention_mask"])
    assert ours["input_ids"].shape == (408, 128) and int(ours["input_mask"].sum()) == 21723


def test_single_truncates_the_end(tok):
    context = parity_texts()["SQuAD"][0]
    ids = tok.encode([context])[0]
    assert len(ids) > 62
    out = tok.encode_single([context, "short"], seq_len=64)
    assert out["input_ids"][0].tolist() == [101] + ids[:62] + [102]
    assert out["input_mask"][1].sum() == 3 and out["input_ids"].shape == (2, 64)


def _vocab_case(tmp_path, name):
    base = VOCAB.read_text(encoding="utf-8").split("\n")[:-1]
    path = tmp_path / "vocab.txt"
    if name == "missing":
        return path, "not found"
    if name == "directory":
        return tmp_path, "not a file"
    if name == "empty":
        path.write_text("", encoding="utf-8")
        return path, "is empty"
    if name == "no_specials":
        path.write_text("\n".join(t for t in base if t not in ("[CLS]", "[MASK]")) + "\n", encoding="utf-8")
        return path, r"missing special token\(s\) \[CLS\], \[MASK\]"
    if name == "duplicate":
        path.write_text("\n".join(base + ["the"]) + "\n", encoding="utf-8")
        return path, r"'the' appears twice \(lines 1997 and 30523\)"
    raise AssertionError(name)


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "no_specials", "duplicate"])
def test_bad_vocab_raises_tokenizer_error(tmp_path, case):
    path, problem = _vocab_case(tmp_path, case)
    with pytest.raises(TokenizerError, match=problem) as err:
        BertTokenizer(path)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)


def test_create_vocab_cli(tmp_path, capsys):
    out = tmp_path / "sub" / "vocab.txt"
    rc = main(["create-vocab", "--corpus", str(CORPUS / "bert_sample_text.txt"), "--vocab-size", "300",
               "--min-count", "2", "--out", str(out)])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    vocab = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert tuple(vocab[:5]) == SPECIAL_TOKENS and 200 <= len(vocab) <= 300 and len(set(vocab)) == len(vocab)
    assert [p.name for p in out.parent.iterdir()] == ["vocab.txt"]  # no temp file left
    tok = BertTokenizer(out)
    lines = (CORPUS / "bert_sample_text.txt").read_text(encoding="utf-8").split("\n")
    ids = [i for row in tok.encode(lines) for i in row]
    assert len(ids) > 1000 and ids.count(tok.unk_id) == 0  # every character of the corpus is covered


def test_create_vocab_cli_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert main(["create-vocab", "--corpus", str(empty), "--vocab-size", "100", "--out", str(tmp_path / "v.txt")]) == 1
    assert f"corpus file {empty}: is empty" in capsys.readouterr().err
    assert not (tmp_path / "v.txt").exists()
