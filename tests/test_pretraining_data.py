"""Pre-training data: masking/NSP statistics on real text, TFRecord round trip, determinism, reader
under tf.distribute, bad inputs and the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import CORPUS, VOCAB
from mobilebert_tf.cli import main
from mobilebert_tf.data import DataError
from mobilebert_tf.data.pretraining import (MANIFEST_NAME, PretrainingDataConfig, create_instances,
                                            create_pretraining_data, make_pretraining_dataset, read_corpus,
                                            tokenize_documents)
from mobilebert_tf.tokenization import BertTokenizer, TokenizerError

SAMPLE = CORPUS / "bert_sample_text.txt"
WIKI = CORPUS / "wikitext-2-wiki.valid.tokens"
REPO = Path(__file__).resolve().parents[1]
KEYS = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights",
        "next_sentence_labels")


def wiki_slice(tmp_dir: Path, n_lines: int) -> Path:
    """The first n_lines of WikiText-2 valid (whole articles: 1200 lines = 22 articles)."""
    path = tmp_dir / f"wiki-{n_lines}.tokens"
    path.write_text("\n".join(WIKI.read_text(encoding="utf-8").split("\n")[:n_lines]) + "\n", encoding="utf-8")
    return path


def read_all(data) -> dict[str, np.ndarray]:
    ds = make_pretraining_dataset(data, batch_size=512, shuffle=False, drop_remainder=False)
    batches = list(ds.as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in batches]) for k in KEYS}


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer(VOCAB)


@pytest.fixture(scope="module")
def wiki_data(tmp_path_factory):
    """WikiText slice + BERT sample text, seq 128, dupe 2, 3 shards (1,220 examples)."""
    tmp = tmp_path_factory.mktemp("wiki")
    corpus = [wiki_slice(tmp, 1200), SAMPLE]
    config = PretrainingDataConfig(seq_len=128, max_predictions=20, dupe_factor=2, seed=7, shards=3)
    manifest = create_pretraining_data(corpus, VOCAB, tmp / "out", config)
    return {"dir": tmp / "out", "corpus": corpus, "config": config, "manifest": manifest,
            "records": read_all(tmp / "out")}


def test_manifest_and_shards(wiki_data):
    m, out = wiki_data["manifest"], wiki_data["dir"]
    assert json.loads((out / MANIFEST_NAME).read_text()) == m
    assert [f["name"] for f in m["files"]] == [f"part-{k:05d}-of-00003.tfrecord" for k in range(3)]
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_NAME] + [f["name"] for f in m["files"]])
    assert sum(f["instances"] for f in m["files"]) == m["num_instances"] == len(wiki_data["records"]["input_ids"])
    assert m["vocab"]["sha256"] == "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
    assert [(c["format"], c["documents"]) for c in m["corpus"]] == [("wikitext", 22), ("lines", 3)]
    assert m["num_instances"] == 1220  # a pure function of corpus, vocab and settings (seed 7)


def test_masking_and_nsp_statistics(wiki_data, tok):
    r = wiki_data["records"]
    ids, mask, pos, labels, w = (r[k] for k in ("input_ids", "input_mask", "masked_lm_positions", "masked_lm_ids",
                                                "masked_lm_weights"))
    real = w > 0
    n_masked = int(real.sum())
    candidates = int(mask.sum()) - 3 * len(ids)  # all real tokens but [CLS] and two [SEP]
    at = np.take_along_axis(ids, pos, axis=1)[real]
    frac = {"masked": n_masked / candidates, "[MASK]": np.mean(at == tok.mask_id),
            "kept": np.mean(at == labels[real]), "random": np.mean((at != tok.mask_id) & (at != labels[real])),
            "random_next": float(np.mean(r["next_sentence_labels"]))}
    print("\nmasking stats:", {k: round(float(v), 4) for k, v in frac.items()}, f"over {n_masked} predictions")
    assert n_masked > 20_000
    assert abs(frac["masked"] - 0.15) < 0.005
    assert abs(frac["[MASK]"] - 0.80) < 0.015
    assert abs(frac["random"] - 0.10) < 0.01 and abs(frac["kept"] - 0.10) < 0.01
    # Google's algorithm makes every one-sentence chunk a random-next example, hence a bit above 0.5.
    assert 0.45 < frac["random_next"] < 0.60
    stats = wiki_data["manifest"]["stats"]
    assert stats["masked"] == n_masked and stats["mask_token"] == int(np.sum(at == tok.mask_id))


def test_special_and_padding_positions_are_never_masked(wiki_data, tok):
    r = wiki_data["records"]
    real = r["masked_lm_weights"] > 0
    n_real = r["input_mask"].sum(axis=1)
    pos = r["masked_lm_positions"]
    assert np.all(pos[real] >= 1) and np.all(pos < n_real[:, None])
    assert not np.isin(r["masked_lm_ids"][real], [tok.cls_id, tok.sep_id, tok.pad_id]).any()
    # Layout: [CLS] first, two [SEP] (at the segment switch and at the end), zero padding.
    ids = r["input_ids"]
    assert np.all(ids[:, 0] == tok.cls_id)
    assert np.all(np.take_along_axis(ids, n_real[:, None] - 1, 1) == tok.sep_id)
    assert np.all((ids == tok.sep_id).sum(1) == 2) and np.all(ids[r["input_mask"] == 0] == 0)
    first_b = np.argmax(r["segment_ids"], axis=1)
    assert np.all(np.take_along_axis(ids, first_b[:, None] - 1, 1) == tok.sep_id)
    # Positions are sorted and unique; padding of the prediction slots is all zero.
    assert np.all(np.diff(np.where(real, pos, 10**6), axis=1)[real[:, 1:]] > 0)
    assert not pos[~real].any() and not r["masked_lm_ids"][~real].any()


def test_round_trip_records_equal_instances(wiki_data, tok):
    config = wiki_data["config"]
    documents = []
    for path in wiki_data["corpus"]:
        fmt, docs = read_corpus(path)
        documents += tokenize_documents(tok, docs, "<unk>" if fmt == "wikitext" else None)
    instances, _ = create_instances(documents, tok, config)
    r = wiki_data["records"]
    assert len(instances) == len(r["input_ids"])
    for k in KEYS:
        want = np.stack([inst.features()[k] for inst in instances])
        np.testing.assert_array_equal(r[k], want[:, 0] if k == "next_sentence_labels" else want, err_msg=k)
    assert r["input_ids"].dtype == np.int32 and r["masked_lm_weights"].dtype == np.float32
    assert r["input_ids"].shape[1] == 128 and r["masked_lm_positions"].shape[1] == 20


def test_reader_batches_shuffles_and_shards(wiki_data):
    out, n = wiki_data["dir"], wiki_data["manifest"]["num_instances"]
    ds = make_pretraining_dataset(out, batch_size=32, seed=3, repeat=True)
    assert ds.element_spec["input_ids"].shape.as_list() == [32, 128]
    assert ds.element_spec["next_sentence_labels"].shape.as_list() == [32]
    first = next(iter(ds))["input_ids"].numpy()
    again = next(iter(make_pretraining_dataset(out, batch_size=32, seed=3)))["input_ids"].numpy()
    unshuffled = wiki_data["records"]["input_ids"][:32]
    np.testing.assert_array_equal(first, again)  # seeded shuffling is reproducible
    assert not np.array_equal(first, unshuffled)
    # A glob of the shards (manifest beside them) reads the same records as the directory.
    by_glob = read_all(str(out / "part-*.tfrecord"))
    np.testing.assert_array_equal(by_glob["masked_lm_ids"], wiki_data["records"]["masked_lm_ids"])
    # Two input pipelines (multi-worker) read disjoint files that together hold every example.
    seen = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid, num_replicas_in_sync=2)
        part = make_pretraining_dataset(out, batch_size=8, shuffle=False, drop_remainder=False, input_context=ctx)
        assert part.element_spec["input_ids"].shape.as_list() == [None, 128]
        seen.append({row.tobytes() for b in part.as_numpy_iterator() for row in b["input_ids"]})
    assert not seen[0] & seen[1] and len(seen[0]) + len(seen[1]) == n


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mobilebert_tf.data.pretraining import make_pretraining_dataset
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
dist = strategy.distribute_datasets_from_function(
    lambda ctx: make_pretraining_dataset(sys.argv[1], batch_size=16, seed=1, input_context=ctx))
batch = next(iter(dist))
step = tf.function(lambda b: tf.reduce_sum(b["masked_lm_weights"]))
per_replica = strategy.experimental_local_results(strategy.run(step, args=(batch,)))
ids = [t.numpy() for t in strategy.experimental_local_results(batch["input_ids"])]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "shapes": [list(t.shape) for t in ids],
                  "devices": [t.device for t in strategy.experimental_local_results(batch["input_ids"])],
                  "same": bool((ids[0] == ids[1]).all()), "weights": [float(x) for x in per_replica]}))
"""


def test_reader_under_mirrored_strategy_with_two_cpus(wiki_data):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(wiki_data["dir"])], capture_output=True, text=True,
                          env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["replicas"] == 2 and res["shapes"] == [[8, 128], [8, 128]] and not res["same"]
    assert [d[-5:] for d in res["devices"]] == ["CPU:0", "CPU:1"]
    assert all(100 <= w <= 160 for w in res["weights"])  # 8 examples x up to 20 predictions


def _write_sample(tmp_path: Path, name: str, seed: int, **kw) -> Path:
    config = PretrainingDataConfig(seq_len=64, max_predictions=10, dupe_factor=3, seed=seed, shards=2, **kw)
    create_pretraining_data([SAMPLE], VOCAB, tmp_path / name, config)
    return tmp_path / name


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = (_write_sample(tmp_path, n, s) for n, s in (("a", 11), ("b", 11), ("c", 12)))
    for name in ("part-00000-of-00002.tfrecord", "part-00001-of-00002.tfrecord"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()
    ma, mb = (json.loads((d / MANIFEST_NAME).read_text()) for d in (a, b))
    assert ma["files"] == mb["files"] and ma["stats"] == mb["stats"]


def test_whole_word_masking_masks_whole_words(tmp_path, tok):
    corpus = wiki_slice(tmp_path, 400)
    config = PretrainingDataConfig(seq_len=64, max_predictions=10, dupe_factor=1, seed=5, whole_word_masking=True)
    create_pretraining_data([corpus], VOCAB, tmp_path / "wwm", config)
    r = read_all(tmp_path / "wwm")
    is_sub = np.array([t.startswith("##") for t in tok.vocab])
    words_checked = 0
    for i in range(len(r["input_ids"])):
        real = r["masked_lm_weights"][i] > 0
        original = r["input_ids"][i].copy()
        original[r["masked_lm_positions"][i][real]] = r["masked_lm_ids"][i][real]
        masked = np.zeros(len(original), bool)
        masked[r["masked_lm_positions"][i][real]] = True
        # A continuation piece is masked exactly when the piece before it is (same word).
        cont = is_sub[original] & (np.arange(len(original)) > 0) & ~np.isin(np.roll(original, 1), [101, 102])
        assert np.array_equal(masked[1:][cont[1:]], masked[:-1][cont[1:]]), i
        words_checked += int((masked[1:] & cont[1:]).sum())
    assert words_checked > 50


def test_wikitext_documents_and_unk(tmp_path, tok):
    path = wiki_slice(tmp_path, 200)
    lines = path.read_text(encoding="utf-8").split("\n")
    titles = [ln for ln in lines if ln.startswith(" = ") and not ln.startswith(" = = ")]
    fmt, docs = read_corpus(path)
    assert fmt == "wikitext" and len(docs) == len(titles) == 5
    sentences = [s for d in docs for s in d]
    assert not any("@-@" in s or "@,@" in s or s.startswith("=") for s in sentences)
    first = ("Homarus gammarus , known as the European lobster or common lobster , is a species of <unk> lobster "
             "from the eastern Atlantic Ocean , Mediterranean Sea and parts of the Black Sea .")
    assert sentences[0] == first
    ids = tokenize_documents(tok, docs, "<unk>")
    left, right = first.split(" <unk> ")
    assert ids[0][0] == tok.encode([left])[0] + [tok.unk_id] + tok.encode([right])[0]
    assert read_corpus(SAMPLE)[0] == "lines" and len(read_corpus(SAMPLE)[1]) == 3


@pytest.mark.parametrize("case", ["missing", "empty", "blank_lines"])
def test_bad_corpus_raises_data_error(tmp_path, case):
    path = tmp_path / "corpus.txt"
    if case == "empty":
        path.write_text("", encoding="utf-8")
    elif case == "blank_lines":
        path.write_text("\n  \n\t\n", encoding="utf-8")
    with pytest.raises(DataError, match="not found" if case == "missing" else "is empty") as err:
        create_pretraining_data([SAMPLE, path], VOCAB, tmp_path / "out", PretrainingDataConfig(dupe_factor=1))
    assert str(path) in str(err.value)
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


def test_bad_vocab_and_settings(tmp_path):
    empty = tmp_path / "vocab.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TokenizerError, match=f"vocab file {empty}: is empty"):
        create_pretraining_data([SAMPLE], empty, tmp_path / "out")
    with pytest.raises(ValueError, match="PretrainingDataConfig.masked_lm_prob must be in"):
        PretrainingDataConfig(masked_lm_prob=1.5)
    with pytest.raises(DataError, match="no manifest.json"):
        make_pretraining_dataset(tmp_path, batch_size=2)
    shard = _write_sample(tmp_path, "d", 1) / "part-00000-of-00002.tfrecord"
    lone = tmp_path / "lone.tfrecord"
    lone.write_bytes(shard.read_bytes())
    with pytest.raises(DataError, match="pass seq_len"):
        make_pretraining_dataset([lone], batch_size=2)
    with pytest.raises(DataError, match="seq_len=128 but the data was written with seq_len=64"):
        make_pretraining_dataset(shard.parent, batch_size=2, seq_len=128)
    assert next(iter(make_pretraining_dataset([lone], 2, seq_len=64, max_predictions=10)))["input_ids"].shape == (2, 64)


def test_cli_create_pretraining_data(tmp_path, capsys):
    out = tmp_path / "data"
    rc = main(["create-pretraining-data", "--corpus", str(SAMPLE), str(wiki_slice(tmp_path, 300)),
               "--vocab", str(VOCAB), "--out", str(out), "--seq-len", "64", "--max-predictions", "10",
               "--dupe-factor", "2", "--seed", "3", "--shards", "2", "--whole-word-masking", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert f"wrote {manifest['num_instances']} examples in 2 file(s)" in printed
    assert manifest["settings"]["whole_word_masking"] is True and manifest["seq_len"] == 64
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    batch = next(iter(make_pretraining_dataset(out, batch_size=4)))
    assert batch["input_ids"].shape == (4, 64) and batch["masked_lm_ids"].shape == (4, 10)

    missing = tmp_path / "nope.txt"
    rc = main(["create-pretraining-data", "--corpus", str(missing), "--vocab", str(VOCAB),
               "--out", str(tmp_path / "x")])
    assert rc == 1 and f"corpus file {missing}: not found" in capsys.readouterr().err
