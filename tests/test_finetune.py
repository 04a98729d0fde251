"""Fine-tuning on real GLUE / SQuAD examples with a 2-layer MobileBERT-Tiny: each task type overfits a handful of
examples, checkpoints round-trip exactly, runs are deterministic, and the CLI chain finetune -> evaluate -> predict
-> export needs nothing but the output directory."""
import json

import numpy as np
import pytest

from conftest import GLUE, SQUAD_SMALL, VOCAB
from mobilebert_tf import cli
from mobilebert_tf.config import ConfigError
from mobilebert_tf.finetuning import (FinetuneConfig, Predictor, get_finetune_task, init_model, load_task_data,
                                      load_task_model, train)
from mobilebert_tf.finetuning.evaluation import evaluate_task, predict_logits
from mobilebert_tf.finetuning.trainer import make_optimizer, save_checkpoint
from mobilebert_tf.tokenization import BertTokenizer

# Two layers and no attention dropout: small enough for 2 CPU cores, and memorization is not fighting noise.
TINY = {"num_hidden_layers": 2, "attention_probs_dropout_prob": 0.0}


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def _first_rows(src, dst, n):
    lines = src.read_text(encoding="utf-8").split("\n")
    dst.write_text("\n".join(lines[:n + 1]) + "\n", encoding="utf-8")
    return dst


def _overfit(task_name, tokenizer, source, n, config, tmp_path):
    task = get_finetune_task(task_name)
    data = load_task_data(task, tokenizer, source, "train", config, max_examples=n, sample_seed=0)
    model, _ = init_model(task, "random", preset="mobilebert_tiny", config_overrides=TINY, seed=config.seed)
    result = train(model, task, data, data, config, out_dir=tmp_path / "model", vocab_file=str(VOCAB), progress=False)
    return task, data, model, result


def _assert_round_trip(model, task, data, out_dir):
    """save_pretrained + load_task_model reproduces the in-memory model's outputs exactly."""
    keys = ("start_logits", "end_logits") if task.kind == "span" else ("logits",)
    save_checkpoint(model, out_dir, vocab_file=str(VOCAB), metadata={"task": task.name})
    loaded, info, _ = load_task_model(out_dir, task.name)
    before = predict_logits(model, data.inputs, keys)
    after = predict_logits(loaded, data.inputs, keys)
    for k in keys:
        np.testing.assert_array_equal(before[k], after[k])
    assert info["task"] == task.name


def test_overfit_regression_sts_b(tokenizer, tmp_path):
    config = FinetuneConfig(epochs=60, batch_size=8, seq_len=32, learning_rate=2e-3, warmup_proportion=0.0)
    task, data, model, result = _overfit("sts-b", tokenizer, GLUE, 16, config, tmp_path)
    first, last = result.history[0], result.history[-1]
    # measured: MSE 9.94 -> 0.0034, Pearson 0.9998 on the 16 training pairs
    assert last["train_loss"] < 0.1 * first["train_loss"]
    assert last["dev"]["pearson"] > 0.99
    assert result.best["dev"]["corr"] == max(h["dev"]["corr"] for h in result.history)
    _assert_round_trip(model, task, data, tmp_path / "round_trip")


def test_overfit_span_squad1(tokenizer, tmp_path):
    config = FinetuneConfig(epochs=30, batch_size=8, seq_len=128, doc_stride=64, max_query_length=32,
                            learning_rate=2e-3, warmup_proportion=0.0)
    task, data, model, result = _overfit("squad1", tokenizer, SQUAD_SMALL, 8, config, tmp_path)
    assert len(data.examples) == 8 and len(data) == 14  # 8 questions -> 14 windows of 128 tokens
    first, last = result.history[0], result.history[-1]
    # measured: loss 4.84 -> 0.0000, EM = F1 = 100 from epoch 10 on
    assert last["train_loss"] < 0.1 * first["train_loss"]
    assert last["dev"] == {"exact_match": 100.0, "f1": 100.0}
    assert result.best["dev"]["f1"] == 100.0
    info = json.loads((tmp_path / "model" / "model.json").read_text())
    assert (info["task_type"], info["seq_len"], info["doc_stride"], info["max_query_length"]) == ("qa", 128, 64, 32)
    preds = json.loads((tmp_path / "model" / "dev_predictions.json").read_text())  # official format: id -> text
    assert set(preds) == {e.qas_id for e in data.examples}
    _assert_round_trip(model, task, data, tmp_path / "round_trip")
    # the saved best answers its training questions through the command-line predictor
    predictor = Predictor(tmp_path / "model")
    ex = data.examples[0]
    answer = predictor.answer([ex.question_text], [ex.context_text])[0]
    assert answer["answer"] in ex.answers and 0 < answer["probability"] <= 1


def test_cli_classification_overfit_evaluate_predict_export(tmp_path, capsys):
    train_file = _first_rows(GLUE / "SST-2" / "train.tsv", tmp_path / "train.tsv", 16)
    out = tmp_path / "sst2"
    rc = cli.main(["finetune", "--task", "sst2", "--init", "random", "--preset", "mobilebert_tiny",
                   "--override", "num_hidden_layers=2", "--override", "attention_probs_dropout_prob=0.0",
                   "--train-file", str(train_file), "--dev-file", str(train_file), "--out", str(out),
                   "--seq-len", "32", "--batch-size", "8", "--epochs", "20", "--lr", "2e-3", "--warmup", "0",
                   "--no-progress"])
    assert rc == 0
    history = json.loads((out / "history.json").read_text())
    # measured: loss 0.68 -> 0.0000, training accuracy 1.0 from epoch 17
    assert history[-1]["train_loss"] < 0.1 * history[0]["train_loss"]
    assert history[-1]["dev"]["accuracy"] == 1.0
    info = json.loads((out / "model.json").read_text())
    assert (info["task"], info["labels"], info["seq_len"], info["task_type"]) == \
        ("sst-2", ["negative", "positive"], 32, "classification")
    assert info["dev_metrics"]["accuracy"] == 1.0 and info["best_epoch"] == min(
        h["epoch"] for h in history if h["dev"]["accuracy"] == 1.0)
    assert (out / "vocab.txt").read_bytes() == VOCAB.read_bytes()
    assert list((out / "logs").glob("events.out.tfevents.*")) and not list(out.glob(".staging-*"))
    import tensorflow as tf

    tags = {v.tag for f in (out / "logs").glob("events.out.tfevents.*")
            for event in tf.compat.v1.train.summary_iterator(str(f)) for v in event.summary.value}
    assert {"train/loss", "train/learning_rate", "dev/accuracy"} <= tags
    records = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["dev"] for r in records if "dev" in r] == [h["dev"] for h in history]  # the same run log
    assert [r["step"] for r in records if "loss" in r] == list(range(10, history[-1]["step"] + 1, 10))
    capsys.readouterr()

    assert cli.main(["evaluate", "--model", str(out), "--dev-file", str(train_file)]) == 0
    assert json.loads(capsys.readouterr().out) == {"accuracy": 1.0}

    rows = [line.split("\t") for line in train_file.read_text().splitlines()[1:]]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "text": r[0]}) + "\n" for i, r in enumerate(rows)) + "\n")
    assert cli.main(["predict", "--model", str(out), "--input", str(jsonl)]) == 0
    preds = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["id"] for p in preds] == list(range(16))
    assert [p["label"] for p in preds] == [("negative", "positive")[int(r[1])] for r in rows]
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in preds)

    # `mobilebert export --model out` finds task, labels and vocab in the directory alone
    from mobilebert_tf.export.cli import load_for_export

    args = cli.build_parser(load="export").parse_args(
        ["export", "--model", str(out), "--out", str(tmp_path / "m.tflite"), "--data", "/nonexistent"])
    model, task, vocab, labels, _ = load_for_export(args)
    assert (task, labels, vocab) == ("classifier", ["negative", "positive"], str(out / "vocab.txt"))
    assert model.num_labels == 2
    assert args.seq_len == json.loads((out / "model.json").read_text())["seq_len"]  # the fine-tuning length


def test_deterministic_for_a_seed(tokenizer):
    task = get_finetune_task("rte")
    config = FinetuneConfig(epochs=1, batch_size=8, seq_len=32, max_steps=3)
    data = load_task_data(task, tokenizer, GLUE, "train", config, max_examples=24, sample_seed=0)

    def run(seed):
        c = config.replace(seed=seed)
        model, _ = init_model(task, "random", preset="mobilebert_tiny", config_overrides={"num_hidden_layers": 1},
                              seed=seed)  # attention dropout stays on: its masks must repeat too
        result = train(model, task, data, data, c, progress=False)
        return result.history[0]["train_loss"], [v.numpy() for v in model.trainable_variables]

    loss_a, weights_a = run(0)
    loss_b, weights_b = run(0)
    loss_c, weights_c = run(1)
    assert loss_a == loss_b
    assert all(np.array_equal(a, b) for a, b in zip(weights_a, weights_b))
    assert loss_a != loss_c


@pytest.mark.parametrize("qat", [False, True])
def test_schedule_and_weight_decay_exclusion(qat):
    """make_optimizer: the training package's schedule (the values the fine-tuning results were produced with:
    warmup (t + 1) / W, then (T - t) / (T - W)) and no decay on norms and biases, also under QAT's wrappers."""
    task = get_finetune_task("sst-2")
    model, _ = init_model(task, "random", preset="mobilebert_tiny", config_overrides={"num_hidden_layers": 1},
                          qat=qat)
    opt, s = make_optimizer(model, FinetuneConfig(learning_rate=1e-3, warmup_proportion=1 / 3), total_steps=6)
    want = [5e-4, 1e-3, 1e-3, 7.5e-4, 5e-4, 2.5e-4, 0.0]
    assert [round(s.value(t), 12) for t in range(7)] == want
    assert float(opt.learning_rate) == pytest.approx(want[0], rel=1e-6)  # the optimizer runs on it
    np.testing.assert_allclose([float(s(t)) for t in range(7)], want, rtol=1e-6)
    from mobilebert_tf.weights import named_weights

    trainable = {id(v) for v in model.trainable_variables}
    decayed = sorted(n for n, v in named_weights(model).items() if id(v) in trainable and opt._use_weight_decay(v))
    assert all(n.rsplit("/", 1)[-1] in ("kernel", "word_embeddings", "position_embeddings", "token_type_embeddings")
               for n in decayed)
    assert "encoder/layer_0/attention/query/kernel" in decayed
    assert "encoder/layer_0/attention/norm/gamma" not in decayed and "classifier_head/classifier/bias" not in decayed
    assert not [n for n in decayed if n.endswith(("gamma", "beta", "bias"))]


def test_init_from_pretraining_dir_loads_encoder_only(tmp_path):
    """A pre-training (or distilled) directory gives the encoder; head and pooler are new."""
    import tf_keras as keras

    from mobilebert_tf import MobileBertConfig, MobileBertForPreTraining
    from mobilebert_tf.weights import named_weights

    config = MobileBertConfig.from_preset("mobilebert_tiny", num_hidden_layers=1, classifier_activation=True)
    keras.utils.set_random_seed(7)
    pre = MobileBertForPreTraining(config).build_with_dummy()
    pre.save_pretrained(tmp_path / "pre", vocab_file=str(VOCAB))
    pre_w = {n: v.numpy() for n, v in named_weights(pre).items()}

    model, how = init_model(get_finetune_task("mrpc"), str(tmp_path / "pre"), seed=0)
    got = {n: v.numpy() for n, v in named_weights(model).items()}
    assert "new head, new pooler" in how
    shared = [n for n in got if n.startswith("encoder/") and not n.startswith("encoder/pooler/")]
    assert len(shared) > 20 and all(np.array_equal(got[n], pre_w[n]) for n in shared)
    assert not np.array_equal(got["encoder/pooler/dense/kernel"], pre_w["encoder/pooler/dense/kernel"])

    qa, how = init_model(get_finetune_task("squad1"), str(tmp_path / "pre"), seed=0)
    assert "new head" in how
    assert np.array_equal(qa.encoder.embeddings.word_embeddings.numpy(), pre_w["encoder/embeddings/word_embeddings"])


def test_one_parse_overrides_types_values_by_config_field():
    """finetune, pretrain, distill (and export) read --override with the library's parse_overrides."""
    from mobilebert_tf.commands import finetune as finetune_command
    from mobilebert_tf.training.configs import parse_overrides

    assert finetune_command.parse_overrides is parse_overrides
    got = parse_overrides(["num_hidden_layers=4", "hidden_dropout_prob=1", "hidden_act=gelu", "use_bottleneck=False",
                           " trigram_input = 0"])
    assert got == {"num_hidden_layers": 4, "hidden_dropout_prob": 1.0, "hidden_act": "gelu", "use_bottleneck": False,
                   "trigram_input": False}
    assert type(got["hidden_dropout_prob"]) is float and type(got["num_hidden_layers"]) is int
    assert parse_overrides(None) == {} and parse_overrides([], num_layers=3) == {"num_hidden_layers": 3}
    for bad, message in (("num_hidden_layers", "expected KEY=VALUE"), ("num_layers=2", "unknown config key"),
                         ("num_hidden_layers=2.5", "type int"), ("use_bottleneck=yes", "type bool")):
        with pytest.raises(ConfigError, match=message):
            parse_overrides([bad])


def test_finetune_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="'learning_rate'"):
        FinetuneConfig(learning_rate=0)
    with pytest.raises(ConfigError, match="'batch_size'"):
        FinetuneConfig(batch_size=0)
    with pytest.raises(ConfigError, match="'warmup_proportion'"):
        FinetuneConfig(warmup_proportion=1.0)
    with pytest.raises(ConfigError, match="'seq_len'"):
        FinetuneConfig(seq_len=4)
    with pytest.raises(ConfigError, match="'max_steps'"):
        FinetuneConfig(max_steps=True)
    squad = FinetuneConfig.for_task(get_finetune_task("squad1"), epochs=None, learning_rate=3e-5)
    assert (squad.seq_len, squad.epochs, squad.learning_rate, squad.doc_stride) == (384, 5, 3e-5, 128)
    with pytest.raises(ConfigError, match="unknown key.*'epoch'"):
        FinetuneConfig.for_task(get_finetune_task("sst-2"), epoch=2)
    assert FinetuneConfig.from_json(squad.replace(epochs=2).to_json()) == squad.replace(epochs=2)  # the shared base


@pytest.mark.parametrize("task_name", ["mrpc", "cola", "sts-b"])
def test_evaluate_task_metrics_match_sklearn_and_scipy(task_name, tokenizer, tmp_path):
    """evaluate_task's metrics equal scikit-learn's / scipy's on the model's own logits and the file's labels;
    its written predictions file scores the same again."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    from mobilebert_tf.finetuning.evaluation import score_predictions, write_predictions
    from mobilebert_tf.squad_eval import load_predictions

    task = get_finetune_task(task_name)
    data = load_task_data(task, tokenizer, GLUE, "dev", FinetuneConfig(seq_len=32), max_examples=60)
    model, _ = init_model(task, "random", preset="mobilebert_tiny", config_overrides={"num_hidden_layers": 1})
    if task.kind == "classification":  # a random model gives one class everywhere: move its boundary to the median
        logits = predict_logits(model, data.inputs, ("logits",))["logits"]
        from mobilebert_tf.weights import named_weights

        bias = named_weights(model)["classifier_head/classifier/bias"]
        bias.assign_add([0.0, -float(np.median(logits[:, 1] - logits[:, 0]))])
    result = evaluate_task(task, model, data)
    logits = predict_logits(model, data.inputs, ("logits",))["logits"]
    gold = [e.label for e in data.examples]
    if task.kind == "regression":
        scores = logits[:, 0].astype(np.float64)
        want = {"pearson": pearsonr(scores, gold)[0], "spearman": spearmanr(scores, gold)[0]}
        want["corr"] = (want["pearson"] + want["spearman"]) / 2
    else:
        classes = logits.argmax(axis=-1)
        assert len(set(classes)) == 2  # both classes predicted, so F1 and MCC are not degenerate zeros
        want = {"accuracy": accuracy_score(gold, classes), "f1": f1_score(gold, classes),
                "mcc": matthews_corrcoef(gold, classes)}
        want = {k: v for k, v in want.items() if k in task.metrics}
    assert set(result.metrics) == set(want) == set(task.metrics)
    assert result.metrics == pytest.approx(want, abs=1e-9)
    path = tmp_path / "pred.json"
    write_predictions(result, str(path))
    assert score_predictions(task, data, load_predictions(path)).metrics == pytest.approx(want, abs=1e-9)


def test_best_checkpoint_is_never_half_written(tmp_path):
    """A save that fails midway (here: the vocab file vanished after the weights were staged) leaves the
    previous best untouched and no staging folder behind."""
    task = get_finetune_task("sst-2")
    model, _ = init_model(task, "random", preset="mobilebert_tiny", config_overrides={"num_hidden_layers": 1})
    out = tmp_path / "best"
    save_checkpoint(model, out, vocab_file=str(VOCAB), metadata={"task": "sst-2", "best_epoch": 1})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for v in model.trainable_variables:
        v.assign(v + 1.0)
    with pytest.raises(FileNotFoundError):
        save_checkpoint(model, out, vocab_file=str(tmp_path / "gone.txt"), metadata={"task": "sst-2", "best_epoch": 2})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(before) == ["config.json", "model.json", "vocab.txt", "weights.safetensors"]
