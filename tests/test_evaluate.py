"""Evaluation and bad input: perfect prediction files score 100 with the official metrics, and every kind of
wrong input (task name, missing file, bad label, model of another task) is one clear message, no traceback."""
import json
from pathlib import Path

import pytest

from conftest import GLUE, SQUAD_SMALL, VOCAB
from mobilebert_tf import cli
from mobilebert_tf.data import DataError
from mobilebert_tf.data.glue import read_glue
from mobilebert_tf.finetuning import FinetuneConfig, get_finetune_task, load_task_data
from mobilebert_tf.finetuning.evaluation import score_predictions
from mobilebert_tf.finetuning.tasks import TASK_NAMES


def _run(capsys, *argv):
    capsys.readouterr()
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Tiny random models saved as finetune would: an SST-2 classifier, an STS-B regressor, a squad1 QA model and a
    pre-training directory (no task head)."""
    import tf_keras as keras

    from mobilebert_tf import (MobileBertConfig, MobileBertForPreTraining, MobileBertForQuestionAnswering,
                               MobileBertForSequenceClassification)

    root = tmp_path_factory.mktemp("models")
    config = MobileBertConfig.from_preset("mobilebert_tiny", num_hidden_layers=1)
    keras.utils.set_random_seed(0)
    dirs = {}
    for name, model, meta in (
            ("sst2", MobileBertForSequenceClassification(config, num_labels=2),
             {"task": "sst-2", "labels": ["negative", "positive"], "seq_len": 32}),
            ("stsb", MobileBertForSequenceClassification(config, num_labels=1),
             {"task": "sts-b", "labels": ["score"], "seq_len": 32}),
            ("squad", MobileBertForQuestionAnswering(config), {"task": "squad1", "seq_len": 64}),
            ("pre", MobileBertForPreTraining(config), {})):
        dirs[name] = str(model.save_pretrained(root / name, vocab_file=str(VOCAB), metadata=meta))
    return dirs


# ------------------------------------------------------------------------------------------ perfect predictions

def _gold_squad(dataset):
    return {qa["id"]: qa["answers"][0]["text"] if qa["answers"] else ""
            for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]}


def test_perfect_squad1_prediction_file_scores_100(tmp_path, capsys):
    dataset = json.loads(SQUAD_SMALL.read_text())
    pred = tmp_path / "perfect.json"
    pred.write_text(json.dumps(_gold_squad(dataset)))
    rc, out, _ = _run(capsys, "evaluate", "--task", "squad1", "--data", str(SQUAD_SMALL), "--score", str(pred))
    assert rc == 0 and json.loads(out) == {"exact_match": 100.0, "f1": 100.0}
    # the first article only (--holdout-articles 1 is finetune's dev split): its questions, still 100
    rc, out, err = _run(capsys, "evaluate", "--task", "squad1", "--data", str(SQUAD_SMALL), "--score", str(pred),
                        "--holdout-articles", "1")
    n_first = sum(len(p["qas"]) for p in dataset["data"][0]["paragraphs"])
    assert rc == 0 and json.loads(out) == {"exact_match": 100.0, "f1": 100.0} and f"{n_first} examples" in err


def test_perfect_squad2_prediction_file_scores_100(tmp_path, capsys):
    """A v2.0 file made from the real excerpt: every third question turned unanswerable."""
    dataset = json.loads(SQUAD_SMALL.read_text())
    dataset["version"] = "v2.0"
    n = 0
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["is_impossible"] = n % 3 == 0
                if qa["is_impossible"]:
                    qa["answers"] = []
                n += 1
    data_file = tmp_path / "dev-v2.0.json"
    data_file.write_text(json.dumps(dataset))
    gold = _gold_squad(dataset)
    (tmp_path / "perfect.json").write_text(json.dumps(gold))
    rc, out, _ = _run(capsys, "evaluate", "--task", "squad2", "--data", str(tmp_path), "--score",
                      str(tmp_path / "perfect.json"))
    metrics = json.loads(out)
    assert rc == 0 and (metrics["exact"], metrics["f1"], metrics["NoAns_exact"]) == (100.0, 100.0, 100.0)
    assert metrics["NoAns_total"] == (n + 2) // 3 and metrics["total"] == n
    # v2.0 questions are refused by the v1.1 task
    with pytest.raises(DataError, match="squad2"):
        load_task_data(get_finetune_task("squad1"), None, data_file, "dev", FinetuneConfig())


@pytest.mark.parametrize("task_name,want", [("sst-2", {"accuracy": 1.0}), ("mrpc", {"accuracy": 1.0, "f1": 1.0}),
                                            ("cola", {"mcc": 1.0}), ("rte", {"accuracy": 1.0}),
                                            ("sts-b", {"pearson": 1.0, "spearman": 1.0, "corr": 1.0})])
def test_perfect_glue_prediction_files(task_name, want, tmp_path, capsys):
    task = get_finetune_task(task_name)
    dev = read_glue(task.glue, GLUE, "dev")
    labels = {e.guid: (e.label if task.kind == "regression" else task.labels[e.label]) for e in dev}
    pred = tmp_path / "perfect.json"
    pred.write_text(json.dumps(labels))
    rc, out, _ = _run(capsys, "evaluate", "--task", task_name, "--score", str(pred), "--data", str(GLUE))
    assert rc == 0 and json.loads(out) == pytest.approx(want, abs=1e-12)
    if task.kind == "classification":  # the file's own label strings ("0"/"1", "entailment") are accepted too
        data = load_task_data(task, None, GLUE, "dev", FinetuneConfig())
        raw = {e.guid: task.label_values[e.label] for e in dev}
        assert score_predictions(task, data, raw).metrics == pytest.approx(want)
        flipped = {g: task.labels[1 - task.labels.index(v)] for g, v in labels.items()}
        assert score_predictions(task, data, flipped).score == (-1.0 if task_name == "cola" else 0.0)


def test_glue_prediction_file_problems(tmp_path):
    task = get_finetune_task("sst-2")
    data = load_task_data(task, None, GLUE, "dev", FinetuneConfig(), max_examples=3)
    with pytest.raises(DataError, match=r"p.json: no prediction for dev-2 \(1 of 3"):
        score_predictions(task, data, {"dev-0": "positive", "dev-1": "negative"}, source="p.json")
    with pytest.raises(DataError, match=r"p.json: dev-1: prediction 'neutral' is not a label of sst-2"):
        score_predictions(task, data, {"dev-0": "positive", "dev-1": "neutral", "dev-2": 1}, source="p.json")


# ------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("command", ["finetune", "evaluate"])
def test_unknown_task_lists_the_valid_ones(command, capsys, tmp_path):
    extra = ["--init", "random", "--out", str(tmp_path / "o")] if command == "finetune" else ["--model", str(tmp_path)]
    rc, _, err = _run(capsys, command, "--task", "sst3", *extra)
    assert rc == 1 and "unknown task 'sst3'; valid tasks: " + ", ".join(TASK_NAMES) in err
    assert "Traceback" not in err


def test_missing_dev_file_names_the_path(model_dirs, tmp_path, capsys):
    empty = tmp_path / "glue"
    empty.mkdir()
    rc, _, err = _run(capsys, "evaluate", "--model", model_dirs["sst2"], "--data", str(empty))
    assert rc == 1 and f"{empty / 'dev.tsv'}: GLUE sst-2 dev file not found" in err
    rc, _, err = _run(capsys, "evaluate", "--model", model_dirs["squad"], "--data", str(empty))
    assert rc == 1 and f"{empty / 'dev-v1.1.json'}: SQuAD dev file not found" in err
    rc, _, err = _run(capsys, "finetune", "--task", "squad1", "--init", "random", "--out", str(tmp_path / "o"),
                      "--data", str(SQUAD_SMALL.parent))
    assert rc == 1 and "SQuAD train file not found" in err and "--holdout-articles" in err


def test_label_outside_the_task_set_names_the_line(tmp_path, capsys):
    rows = (GLUE / "SST-2" / "train.tsv").read_text().splitlines()[:6]
    rows[3] = rows[3].rsplit("\t", 1)[0] + "\t2"
    bad = tmp_path / "train.tsv"
    bad.write_text("\n".join(rows) + "\n")
    rc, _, err = _run(capsys, "finetune", "--task", "sst-2", "--init", "random", "--out", str(tmp_path / "o"),
                      "--train-file", str(bad), "--dev-file", str(bad))
    assert rc == 1 and f"{bad}:4: label '2' not in the sst-2 label set ['0', '1']" in err


@pytest.mark.parametrize("model,task,message", [
    ("sst2", "squad1", "(classification model fine-tuned on sst-2, 2 outputs: negative, positive) cannot be used "
                       "for squad1: squad1 needs a span QA model"),
    ("sst2", "sts-b", "cannot be used for sts-b: sts-b is a regression task and needs a model with 1 output"),
    ("stsb", "mrpc", "cannot be used for mrpc: mrpc needs a classification model with 2 outputs "
                     "(not_equivalent, equivalent)"),
    ("squad", "sst-2", "(span QA model fine-tuned on squad1) cannot be used for sst-2"),
    ("pre", "sst-2", "pretraining model MobileBertForPreTraining) has no task head; fine-tune it first"),
    ("sst2", "rte", "was fine-tuned on sst-2, not rte: its labels mean something else"),
])
def test_model_of_another_task_is_a_clear_error(model_dirs, model, task, message, capsys):
    rc, _, err = _run(capsys, "evaluate", "--model", model_dirs[model], "--task", task)
    assert rc == 1 and message in err and "Traceback" not in err


def test_allow_task_mismatch_evaluates_anyway(model_dirs, tmp_path, capsys):
    """The SST-2 model scored on RTE: its accuracy is the share of the first 20 RTE dev pairs whose gold label
    (read from the .tsv here) has the index of the class ``mobilebert predict`` gives the pair."""
    rc, out, _ = _run(capsys, "evaluate", "--model", model_dirs["sst2"], "--task", "rte", "--allow-task-mismatch",
                      "--max-eval-examples", "20")
    assert rc == 0
    rows = [line.split("\t") for line in (GLUE / "RTE" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:21]]
    jsonl = tmp_path / "rte.jsonl"
    jsonl.write_text("".join(json.dumps({"text": r[1], "text_b": r[2]}) + "\n" for r in rows))
    rc_predict, predicted, _ = _run(capsys, "predict", "--model", model_dirs["sst2"], "--input", str(jsonl))
    classes = [["negative", "positive"].index(json.loads(line)["label"]) for line in predicted.splitlines()]
    gold = [["entailment", "not_entailment"].index(r[3]) for r in rows]
    assert rc_predict == 0 and len(classes) == len(gold) == 20
    assert json.loads(out) == {"accuracy": pytest.approx(sum(c == g for c, g in zip(classes, gold)) / 20)}


def test_predict_input_problems_name_the_line(model_dirs, tmp_path, capsys):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "fine"}\n\n{"question": "who?", "context": "me"}\n')
    rc, _, err = _run(capsys, "predict", "--model", model_dirs["sst2"], "--input", str(jsonl))
    assert rc == 1 and f"{jsonl}:3: a classification model needs string field(s) 'text'" in err
    jsonl.write_text('{"text": "fine"}\n{"text": oops}\n')
    rc, _, err = _run(capsys, "predict", "--model", model_dirs["sst2"], "--input", str(jsonl))
    assert rc == 1 and f"{jsonl}:2: invalid JSON" in err
    rc, _, err = _run(capsys, "predict", "--model", model_dirs["squad"], "--text", "a sentence")
    assert rc == 1 and "a question-answering model needs string field(s) 'question', 'context'" in err


def test_predict_command_line_outputs(model_dirs, capsys):
    rc, out, _ = _run(capsys, "predict", "--model", model_dirs["stsb"], "--text", "A man plays.", "--text-b",
                      "A man is playing.")
    assert rc == 0 and list(json.loads(out)) == ["score"]
    rc, out, _ = _run(capsys, "predict", "--model", model_dirs["squad"], "--question", "Who won Super Bowl 50?",
                      "--context", "The Denver Broncos defeated the Carolina Panthers 24-10 to win Super Bowl 50.")
    answer = json.loads(out)
    assert rc == 0 and answer["answer"] in answer["nbest"][0]["text"] and len(answer["nbest"]) == 3


def test_out_dir_holding_a_model_needs_overwrite(model_dirs, capsys):
    rc, _, err = _run(capsys, "finetune", "--task", "sst-2", "--init", "random", "--out", model_dirs["sst2"])
    assert rc == 1 and "already holds a model" in err and "--overwrite" in err
    # fine-tuning a directory into itself would delete the init before reading it
    rc, _, err = _run(capsys, "finetune", "--task", "sst-2", "--init", model_dirs["sst2"], "--out", model_dirs["sst2"],
                      "--overwrite")
    assert rc == 1 and "is the --init directory" in err
    assert sorted(p.name for p in Path(model_dirs["sst2"]).iterdir()) == \
        ["config.json", "model.json", "vocab.txt", "weights.safetensors"]


def test_squad_holdout_split_is_disjoint(tmp_path):
    task = get_finetune_task("squad1")
    dev = load_task_data(task, None, SQUAD_SMALL, "dev", FinetuneConfig(), holdout_articles=1)
    train = load_task_data(task, None, SQUAD_SMALL, "train", FinetuneConfig(), holdout_articles=1)
    dataset = json.loads(SQUAD_SMALL.read_text())
    counts = [sum(len(p["qas"]) for p in a["paragraphs"]) for a in dataset["data"]]
    assert (len(dev.examples), len(train.examples)) == tuple(counts)
    assert not {e.context_text for e in dev.examples} & {e.context_text for e in train.examples}
    with pytest.raises(DataError, match="--holdout-articles 2 must be between 1 and 1"):
        load_task_data(task, None, SQUAD_SMALL, "dev", FinetuneConfig(), holdout_articles=2)
