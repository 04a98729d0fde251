"""GLUE readers: the real files in shared/data/glue, synthetic files in the official layout for the tasks we
don't have, and DataError for each kind of bad input."""
import os
import re
from pathlib import Path

import pytest

from mobilebert_tf.data import DataError
from mobilebert_tf.data.glue import TASKS, GlueExample, get_task, read_glue

SHARED = Path(os.environ.get("MOBILEBERT_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
GLUE = SHARED / "glue"

# Data rows of the real files (SOURCES.md), and label counts worth pinning.
REAL = {
    "sst-2": (67349, 872, 1821),
    "mrpc": (3668, 408, 1725),
    "rte": (2490, 277, 3000),
    "cola": (8551, 1043, 1063),
    "sts-b": (5749, 1500, 1379),
}


@pytest.mark.parametrize("task", list(REAL))
def test_real_files_row_counts(task):
    if not GLUE.is_dir():
        pytest.skip(f"no shared GLUE data at {GLUE}")
    for split, want in zip(("train", "dev", "test"), REAL[task]):
        examples = read_glue(task, GLUE, split)
        assert len(examples) == want, (task, split)
        labels = [e.label for e in examples]
        if split == "test":
            assert set(labels) == {None}
        elif get_task(task).is_regression:
            assert all(0.0 <= x <= 5.0 for x in labels)
        else:
            assert set(labels) == set(range(get_task(task).num_labels))
        assert all(e.text_a for e in examples)
        assert (examples[0].text_b is None) == (get_task(task).text_b is None)
        assert len({e.guid for e in examples}) == len(examples)


def test_real_file_contents():
    if not GLUE.is_dir():
        pytest.skip(f"no shared GLUE data at {GLUE}")
    mrpc = read_glue("mrpc", GLUE / "MRPC", "dev")  # task folder works too
    # The BOM must not leak into the first column name, and the unbalanced quote must stay text.
    assert mrpc[0] == GlueExample("dev-0", "He said the foodservice pie business doesn't fit the company's long-term "
                                  "growth strategy.", '"The foodservice pie business does not fit our long-term '
                                  "growth strategy.", 1)
    assert sum(e.label for e in mrpc) == 279  # 68.4% positive, the known MRPC dev balance
    cola = read_glue("CoLA", GLUE / "CoLA" / "dev.tsv", "dev")  # headerless, no trailing newline
    assert cola[-1].label in (0, 1) and sum(e.label for e in cola) == 721
    rte = read_glue("rte", GLUE, "dev")
    assert rte[0].label == TASKS["rte"].labels.index("not_entailment") == 1
    sts = read_glue("sts-b", GLUE, "dev")
    assert sts[1] == GlueExample("dev-1", "A young child is riding a horse.", "A child is riding a horse.", 4.75)
    sst = read_glue("sst-2", GLUE, "test")
    assert sst[1820].guid == "test-1820"


def _write(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


MNLI_HEAD = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
             "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]


def _mnli_row(i, s1, s2, labels=()):
    return [str(i), "31193", f"{i}n", "government", "( ( x ) )", "( y )", "(ROOT x)", "(ROOT y)", s1, s2, *labels]


@pytest.fixture
def synthetic_glue(tmp_path):
    """QQP, MNLI, QNLI, WNLI in the exact official column layout."""
    _write(tmp_path / "QQP" / "train.tsv", [
        ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
        ["133273", "213221", "213222", "How is the life of a math student?", "Which level of prepration ...?", "0"],
        ["402555", "536040", "536041", "How do I control my horny emotions?", "How do you control your horniness?",
         "1"]])
    _write(tmp_path / "QQP" / "test.tsv", [["id", "question1", "question2"],
                                           ["0", "Why am I mentally very lonely?", "Find me a friend?"]])
    train = MNLI_HEAD + ["label1", "gold_label"]
    dev = MNLI_HEAD + ["label1", "label2", "label3", "label4", "label5", "gold_label"]
    _write(tmp_path / "MNLI" / "train.tsv", [train, _mnli_row(0, "Conceptually cream skimming ...",
                                                              "Product and geography ...", ["neutral", "neutral"]),
                                             _mnli_row(1, "you know during the season", "You lose the things",
                                                       ["entailment", "entailment"])])
    five = ["contradiction", "contradiction", "neutral", "contradiction", "contradiction"]
    _write(tmp_path / "MNLI" / "dev_matched.tsv",
           [dev, _mnli_row(0, "The new rights", "Everyone hates", five + ["contradiction"])])
    _write(tmp_path / "MNLI" / "dev_mismatched.tsv", [dev, _mnli_row(0, "Your gift", "Hundreds of", ["neutral"] * 6),
                                                      _mnli_row(1, "yes now", "August", ["entailment"] * 6)])
    _write(tmp_path / "MNLI" / "test_matched.tsv", [MNLI_HEAD, _mnli_row(0, "Hierbas", "Hierbas is a name")])
    _write(tmp_path / "QNLI" / "dev.tsv", [["index", "question", "sentence", "label"],
                                           ["0", "What came into force after the new constitution?", "The Treaty.",
                                            "entailment"],
                                           ["1", "What is the first major city?", "It is hot.", "not_entailment"]])
    _write(tmp_path / "WNLI" / "train.tsv", [["index", "sentence1", "sentence2", "label"],
                                             ["0", "I stuck a pin through a carrot.", "The carrot had a hole.", "1"],
                                             ["1", "John couldn't see the stage.", "John is so tall.", "0"]])
    return tmp_path


def test_synthetic_tasks(synthetic_glue):
    qqp = read_glue("qqp", synthetic_glue, "train")
    assert [e.label for e in qqp] == [0, 1]
    assert qqp[0].guid == "train-133273" and qqp[1].text_b == "How do you control your horniness?"
    assert read_glue("qqp", synthetic_glue, "test") == [
        GlueExample("test-0", "Why am I mentally very lonely?", "Find me a friend?", None)]

    mnli = read_glue("mnli", synthetic_glue, "train")
    assert [e.label for e in mnli] == [2, 1]  # contradiction, entailment, neutral
    assert mnli[1].text_a == "you know during the season"
    m = read_glue("mnli", synthetic_glue, "dev")
    mm = read_glue("mnli-mm", synthetic_glue, "dev")
    assert [e.label for e in m] == [0] and [e.label for e in mm] == [2, 1]  # gold_label, not label1
    assert read_glue("mnli", synthetic_glue, "test")[0].label is None

    qnli = read_glue("qnli", synthetic_glue, "dev")
    assert [(e.text_a[:4], e.label) for e in qnli] == [("What", 0), ("What", 1)]
    wnli = read_glue("WNLI", synthetic_glue / "WNLI", "train")
    assert [e.label for e in wnli] == [1, 0] and wnli[1].text_b == "John is so tall."


def test_task_registry():
    assert list(TASKS) == ["cola", "sst-2", "mrpc", "sts-b", "qqp", "mnli", "mnli-mm", "qnli", "rte", "wnli"]
    assert get_task("SST2") is get_task("sst_2") is TASKS["sst-2"]
    assert get_task("STS-B").num_labels == 1 and get_task("mnli").num_labels == 3
    assert get_task("MNLI_mismatched").file_name("dev") == "dev_mismatched.tsv"
    assert hash(get_task("cola"))  # frozen and hashable
    with pytest.raises(DataError, match=r"unknown GLUE task 'foo'; valid names: cola, sst-2, mrpc, sts-b, qqp, mnli, "
                                        r"mnli-mm, qnli, rte, wnli"):
        get_task("foo")
    with pytest.raises(DataError, match="task rte has no split 'validation'; valid splits: train, dev, test"):
        read_glue("rte", GLUE, "validation")


# ---------------------------------------------------------------------------------------------- bad input

RTE_HEAD = ["index", "sentence1", "sentence2", "label"]


def test_wrong_column_count(tmp_path):
    f = _write(tmp_path / "dev.tsv", [RTE_HEAD, ["0", "a", "b", "entailment"], ["1", "a", "b\tc", "entailment"]])
    with pytest.raises(DataError, match=rf"^{re.escape(str(f))}:3: expected 4 tab-separated fields, got 5$"):
        read_glue("rte", f, "dev")
    cola = _write(tmp_path / "cola.tsv", [["gj04", "1", "", "Fine."], ["gj04", "1", "Too few."]])
    with pytest.raises(DataError, match=rf"^{re.escape(str(cola))}:2: expected 4 tab-separated fields, got 3$"):
        read_glue("cola", cola, "train")


def test_missing_column(tmp_path):
    f = _write(tmp_path / "dev.tsv", [["index", "sentence1", "label"], ["0", "a", "entailment"]])
    with pytest.raises(DataError, match=rf"^{re.escape(str(f))}:1: missing column 'sentence2' "
                                        r"\(header has index, sentence1, label\)$"):
        read_glue("rte", f, "dev")
    nolabel = _write(tmp_path / "nolabel.tsv", [["index", "sentence1", "sentence2"], ["0", "a", "b"]])
    with pytest.raises(DataError, match=rf"^{re.escape(str(nolabel))}:1: missing column 'label'"):
        read_glue("rte", nolabel, "train")


def test_label_outside_set(tmp_path):
    f = _write(tmp_path / "dev.tsv", [RTE_HEAD, ["0", "a", "b", "entailment"], ["1", "a", "b", "neutral"]])
    with pytest.raises(DataError, match=rf"^{re.escape(str(f))}:3: label 'neutral' not in the rte label set "
                                        r"\['entailment', 'not_entailment'\]$"):
        read_glue("rte", f, "dev")
    sts_head = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2",
                "score"]
    sts = _write(tmp_path / "sts.tsv", [sts_head, ["0", "g", "f", "y", "0", "n", "n", "a", "b", "5.5"]])
    with pytest.raises(DataError, match=rf"^{re.escape(str(sts))}:2: score '5.5' outside the sts-b range "
                                        r"\[0.0, 5.0\]$"):
        read_glue("sts-b", sts, "train")
    sts.write_text(sts.read_text().replace("5.5", "high"))
    with pytest.raises(DataError, match=rf"^{re.escape(str(sts))}:2: score 'high' is not a number$"):
        read_glue("sts-b", sts, "train")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'nope.tsv'))}: no such file or folder"):
        read_glue("rte", tmp_path / "nope.tsv", "dev")
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path / 'dev.tsv'))}: GLUE rte dev file not found "
                                        rf"\(also looked for {re.escape(str(tmp_path / 'RTE' / 'dev.tsv'))}\)$"):
        read_glue("rte", tmp_path, "dev")


def test_not_utf8(tmp_path):
    f = tmp_path / "dev.tsv"
    f.write_bytes(b"index\tsentence1\tsentence2\tlabel\n0\ta\xff\tb\tentailment\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(f))}: not UTF-8 text"):
        read_glue("rte", f, "dev")
