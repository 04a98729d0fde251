"""Pre-training data: text corpus -> MLM + NSP TFRecords (writer) and a ``tf.data`` reader.

Corpus formats (``fmt``, per file; ``"auto"`` picks ``"wikitext"`` when the first non-blank line is
a `` = Title = `` heading, else ``"lines"``):

* ``lines`` (Google BERT's sample_text): one sentence per line, a blank line ends a document.
* ``wikitext`` (WikiText-2 ``.tokens``): a top-level `` = Title = `` heading starts a document;
  section headings (`` = = Section = = ``) and blank lines are dropped; each paragraph line is split
  into sentences after a standalone ``.``/``?``/``!`` token (in-number dots are written ``@.@``, so
  they never split); `` @-@ ``, `` @,@ ``, `` @.@ `` are joined back to ``-``, ``,``, ``.``; ``<unk>``
  becomes one ``[UNK]`` token (kept, so that sentences stay grammatical around it).

Every file also ends a document. Instances follow Google BERT's ``create_pretraining_data.py``:
documents are shuffled, each is cut into chunks of about ``seq_len - 3`` tokens (with probability
``short_seq_prob`` a shorter random target), a chunk is split at a random sentence boundary into
A and B; with probability 0.5 (always, if the chunk has one sentence) B is replaced by text from a
random other document (``next_sentence_labels`` = 1 = "random", 0 = "actual next"). The pair is cut
to fit by removing tokens from the front or back of the longer member at random. Masking: of the
non-special tokens, ``round(masked_lm_prob * n)`` (at most ``max_predictions``) are chosen; of
those 80% become ``[MASK]``, 10% a random non-special vocab token, 10% stay. ``[CLS]``, ``[SEP]`` and
padding are never chosen. Whole-word masking chooses a word's pieces (``##`` continuations) together.

Output: ``part-KKKKK-of-NNNNN.tfrecord`` shards (instance ``i`` -> shard ``i % N``) with
``tf.train.Example`` features ``input_ids``, ``input_mask``, ``segment_ids`` (int64 [seq_len]),
``masked_lm_positions``, ``masked_lm_ids`` (int64 [max_predictions]), ``masked_lm_weights`` (float
[max_predictions], 1.0 for real predictions, 0.0 for padding) and ``next_sentence_labels`` (int64
[1]); then ``manifest.json`` (settings, counts, statistics, vocab and shard sha256), written last,
atomically. Everything is a function of ``seed`` (one ``random.Random``): same seed, same bytes.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import random
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from mobilebert_tf.data import DataError
from mobilebert_tf.errors import UsageError
from mobilebert_tf.fileio import atomic_write_json, atomic_write_text, path_errors

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "mobilebert-tf/pretraining-tfrecord/v1"
CORPUS_FORMATS = ("auto", "lines", "wikitext")
WIKITEXT_UNK = "<unk>"

_HEADING = re.compile(r"^\s*(=(?: =)*) (.*\S) \1\s*$")  # " = Title = ", " = = Section = = "
_WIKITEXT_JOIN = re.compile(r" @(.)@ ")  # " @-@ " -> "-", " @,@ " -> ",", " @.@ " -> "."
_SENTENCE_END = re.compile(r"(?<= [.!?]) +(?=\S)")


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """Settings of ``create_pretraining_data`` (the CLI flags of the same names)."""

    seq_len: int = 128
    max_predictions: int = 20
    dupe_factor: int = 10
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    whole_word_masking: bool = False
    seed: int = 12345
    shards: int = 1
    lowercase: bool = True
    corpus_format: str = "auto"

    def __post_init__(self):
        checks = {
            "seq_len": self.seq_len >= 5,  # [CLS] a [SEP] b [SEP] with at least 2 text tokens
            "max_predictions": self.max_predictions >= 1,
            "dupe_factor": self.dupe_factor >= 1,
            "masked_lm_prob": 0.0 < self.masked_lm_prob < 1.0,
            "short_seq_prob": 0.0 <= self.short_seq_prob <= 1.0,
            "shards": self.shards >= 1,
            "corpus_format": self.corpus_format in CORPUS_FORMATS,
        }
        for name, ok in checks.items():
            if not ok:
                allowed = {"seq_len": ">= 5", "max_predictions": ">= 1", "dupe_factor": ">= 1",
                           "masked_lm_prob": "in (0, 1)", "short_seq_prob": "in [0, 1]", "shards": ">= 1",
                           "corpus_format": f"one of {CORPUS_FORMATS}"}[name]
                raise UsageError(f"PretrainingDataConfig.{name} must be {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainingInstance:
    """One MLM + NSP example. Arrays are int32 except ``masked_lm_weights`` (float32)."""

    input_ids: np.ndarray            # [seq_len], masked
    input_mask: np.ndarray           # [seq_len]
    segment_ids: np.ndarray          # [seq_len]
    masked_lm_positions: np.ndarray  # [max_predictions], 0-padded
    masked_lm_ids: np.ndarray        # [max_predictions], original ids, 0-padded
    masked_lm_weights: np.ndarray    # [max_predictions], 1.0 real / 0.0 padding
    next_sentence_label: int         # 1: B is random text, 0: B follows A

    def features(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "input_mask": self.input_mask, "segment_ids": self.segment_ids,
                "masked_lm_positions": self.masked_lm_positions, "masked_lm_ids": self.masked_lm_ids,
                "masked_lm_weights": self.masked_lm_weights,
                "next_sentence_labels": np.array([self.next_sentence_label], np.int32)}


# ----------------------------------------------------------------------------------------- corpus

def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"corpus file {path}: not found")
    if not path.is_file():
        raise DataError(f"corpus file {path}: not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"corpus file {path}: not UTF-8 ({e})") from None


def detect_format(lines: Sequence[str]) -> str:
    """``"wikitext"`` if the first non-blank line is a top-level `` = Title = `` heading, else ``"lines"``."""
    first = next((ln for ln in lines if ln.strip()), "")
    m = _HEADING.match(first)
    return "wikitext" if m and m.group(1) == "=" else "lines"


def read_corpus(path: str | os.PathLike, fmt: str = "auto") -> tuple[str, list[list[str]]]:
    """One corpus file -> (format used, documents as lists of sentence strings).

    WikiText sentences keep ``<unk>`` literally; ``tokenize_documents`` turns it into ``[UNK]``.
    """
    path = Path(path)
    if fmt not in CORPUS_FORMATS:
        raise UsageError(f"corpus format must be one of {CORPUS_FORMATS}, got {fmt!r}")
    lines = _read_text(path).split("\n")  # not splitlines(): \x0c, \x85, U+2028 are not line ends here
    if not any(ln.strip() for ln in lines):
        raise DataError(f"corpus file {path}: is empty (no text lines)")
    fmt = detect_format(lines) if fmt == "auto" else fmt
    docs: list[list[str]] = [[]]
    for line in lines:
        line = line.strip()
        if fmt == "lines":
            if not line:
                docs.append([])
            else:
                docs[-1].append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            if heading.group(1) == "=":
                docs.append([])
            continue
        if line:
            docs[-1].extend(_SENTENCE_END.split(_WIKITEXT_JOIN.sub(r"\1", line)))
    docs = [d for d in docs if d]
    if not docs:
        raise DataError(f"corpus file {path}: has no sentences (only {fmt} headings or blank lines)")
    return fmt, docs


def tokenize_documents(tokenizer, documents: list[list[str]], unk_marker: str | None = None) -> list[list[list[int]]]:
    """Documents of sentences -> documents of id lists; empty sentences and documents dropped.

    ``unk_marker`` (e.g. WikiText's ``<unk>``) in the text becomes one ``[UNK]`` id.
    """
    parts: list[str] = []
    n_parts: list[int] = []
    for doc in documents:
        for sentence in doc:
            pieces = sentence.split(unk_marker) if unk_marker else [sentence]
            parts.extend(pieces)
            n_parts.append(len(pieces))
    ids = iter(tokenizer.encode(parts))
    counts = iter(n_parts)
    out = []
    for doc in documents:
        tokenized = []
        for _ in doc:
            pieces = [next(ids) for _ in range(next(counts))]
            sentence = list(pieces[0])
            for p in pieces[1:]:
                sentence += [tokenizer.unk_id] + list(p)
            if sentence:
                tokenized.append(sentence)
        if tokenized:
            out.append(tokenized)
    return out


def corpus_sentences(paths: Iterable[str | os.PathLike], fmt: str = "auto") -> list[str]:
    """All sentences of the corpus files as plain text (WikiText ``<unk>`` removed), for vocab learning."""
    out = []
    for p in paths:
        used, docs = read_corpus(p, fmt)
        for doc in docs:
            for s in doc:
                out.append(" ".join(s.replace(WIKITEXT_UNK, " ").split()) if used == "wikitext" else s)
    return out



def corpus_head(path: str | os.PathLike, lines: int, out_dir: str | os.PathLike) -> Path:
    """The first ``lines`` lines of a corpus file, written once (atomically) into ``out_dir``.

    Args:
        path: a text corpus (e.g. a WikiText-2 split).
        lines: how many lines to keep.
        out_dir: where ``{name}.head{lines}`` goes; an existing one is reused.

    Returns:
        The path of the shortened copy.

    Example:
    >>> corpus_head("wikitext-2-wiki.test.tokens", 2000, "runs/demo")  # doctest: +SKIP
    PosixPath('runs/demo/wikitext-2-wiki.test.tokens.head2000')
    """
    path = Path(path)
    head = Path(out_dir) / f"{path.name}.head{lines}"
    if not head.is_file():
        text = path.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]
        atomic_write_text(head, "".join(text))
    return head


# -------------------------------------------------------------------------------------- instances

def _truncate_random_end(a: list[int], b: list[int], max_total: int, rng: random.Random) -> None:
    """Google's truncate_seq_pair: pop from the longer list, front or back at random (noise)."""
    while len(a) + len(b) > max_total:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


class _InstanceMaker:
    """State shared by all documents: the rng, special ids and the pool for random replacements."""

    def __init__(self, tokenizer, config: PretrainingDataConfig, rng: random.Random):
        self.cfg, self.rng = config, rng
        self.cls_id, self.sep_id, self.pad_id, self.mask_id = (tokenizer.cls_id, tokenizer.sep_id,
                                                               tokenizer.pad_id, tokenizer.mask_id)
        special = {tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id}
        # Random replacements never produce [PAD]/[CLS]/[SEP]/[MASK]/[UNK] (Google draws from all).
        self.random_pool = [i for i in range(tokenizer.vocab_size) if i not in special]
        self.is_subword = [tok.startswith("##") for tok in tokenizer.vocab]
        self.stats = {"instances": 0, "tokens": 0, "candidates": 0, "masked": 0, "mask_token": 0,
                      "random_token": 0, "kept": 0, "random_next": 0}

    def from_document(self, documents: list[list[list[int]]], doc_index: int) -> list[TrainingInstance]:
        cfg, rng = self.cfg, self.rng
        document = documents[doc_index]
        max_tokens = cfg.seq_len - 3
        target = max_tokens
        if rng.random() < cfg.short_seq_prob:
            target = rng.randint(2, max_tokens)
        instances = []
        chunk: list[list[int]] = []
        chunk_len = 0
        i = 0
        while i < len(document):
            chunk.append(document[i])
            chunk_len += len(document[i])
            if i == len(document) - 1 or chunk_len >= target:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                tokens_a = [t for seg in chunk[:a_end] for t in seg]
                tokens_b: list[int] = []
                random_next = len(chunk) == 1 or rng.random() < 0.5
                if random_next:
                    target_b = target - len(tokens_a)
                    for _ in range(10):
                        other = rng.randint(0, len(documents) - 1)
                        if other != doc_index:
                            break
                    random_doc = documents[other]
                    for seg in random_doc[rng.randint(0, len(random_doc) - 1):]:
                        tokens_b.extend(seg)
                        if len(tokens_b) >= target_b:
                            break
                    i -= len(chunk) - a_end  # the unused sentences start the next chunk
                else:
                    tokens_b = [t for seg in chunk[a_end:] for t in seg]
                _truncate_random_end(tokens_a, tokens_b, max_tokens, rng)
                instances.append(self._instance(tokens_a, tokens_b, random_next))
                chunk, chunk_len = [], 0
            i += 1
        return instances

    def _instance(self, tokens_a: list[int], tokens_b: list[int], random_next: bool) -> TrainingInstance:
        cfg, rng, st = self.cfg, self.rng, self.stats
        ids = [self.cls_id] + tokens_a + [self.sep_id] + tokens_b + [self.sep_id]
        n = len(ids)
        groups: list[list[int]] = []
        for pos, tok in enumerate(ids):
            if tok == self.cls_id or tok == self.sep_id:
                continue
            if cfg.whole_word_masking and self.is_subword[tok] and groups and groups[-1][-1] == pos - 1:
                groups[-1].append(pos)
            else:
                groups.append([pos])
        n_candidates = n - 3
        num_to_predict = min(cfg.max_predictions, max(1, int(round(n_candidates * cfg.masked_lm_prob))))
        rng.shuffle(groups)
        masked: list[tuple[int, int]] = []
        for group in groups:
            if len(masked) >= num_to_predict:
                break
            if len(masked) + len(group) > num_to_predict:
                continue
            for pos in group:
                original = ids[pos]
                if rng.random() < 0.8:
                    ids[pos] = self.mask_id
                    st["mask_token"] += 1
                elif rng.random() < 0.5:
                    st["kept"] += 1
                else:
                    ids[pos] = self.random_pool[rng.randint(0, len(self.random_pool) - 1)]
                    st["random_token"] += 1
                masked.append((pos, original))
        masked.sort()
        seq_len, p = cfg.seq_len, cfg.max_predictions
        input_ids = np.full(seq_len, self.pad_id, np.int32)
        input_ids[:n] = ids
        input_mask = np.zeros(seq_len, np.int32)
        input_mask[:n] = 1
        segment_ids = np.zeros(seq_len, np.int32)
        segment_ids[len(tokens_a) + 2:n] = 1
        positions, labels, weights = np.zeros(p, np.int32), np.zeros(p, np.int32), np.zeros(p, np.float32)
        positions[:len(masked)] = [m[0] for m in masked]
        labels[:len(masked)] = [m[1] for m in masked]
        weights[:len(masked)] = 1.0
        st["instances"] += 1
        st["tokens"] += n
        st["candidates"] += n_candidates
        st["masked"] += len(masked)
        st["random_next"] += int(random_next)
        return TrainingInstance(input_ids, input_mask, segment_ids, positions, labels, weights, int(random_next))


def create_instances(documents: list[list[list[int]]], tokenizer, config: PretrainingDataConfig,
                     progress: bool = False) -> tuple[list[TrainingInstance], dict]:
    """Tokenized documents -> (shuffled instances, statistics). Deterministic in ``config.seed``."""
    from tqdm.auto import tqdm

    documents = [d for d in documents if d]
    if not documents:
        raise DataError("pre-training corpus has no tokenized sentences")
    rng = random.Random(config.seed)
    documents = list(documents)
    rng.shuffle(documents)
    maker = _InstanceMaker(tokenizer, config, rng)
    instances: list[TrainingInstance] = []
    with tqdm(total=config.dupe_factor * len(documents), desc="instances", unit="doc",
              disable=not progress) as bar:
        for _ in range(config.dupe_factor):
            for doc_index in range(len(documents)):
                instances.extend(maker.from_document(documents, doc_index))
                bar.update(1)
    rng.shuffle(instances)
    return instances, _summarize(maker.stats)


def _summarize(st: dict) -> dict:
    masked = max(st["masked"], 1)
    return {**st,
            "masked_fraction": st["masked"] / max(st["candidates"], 1),
            "mask_token_fraction": st["mask_token"] / masked,
            "random_token_fraction": st["random_token"] / masked,
            "kept_fraction": st["kept"] / masked,
            "random_next_fraction": st["random_next"] / max(st["instances"], 1)}


# ---------------------------------------------------------------------------------------- writing

def serialize_instance(instance: TrainingInstance) -> bytes:
    """One instance -> serialized ``tf.train.Example``."""
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values).tolist()))

    feats = instance.features()
    feature = {k: ints(v) for k, v in feats.items() if k != "masked_lm_weights"}
    feature["masked_lm_weights"] = tf.train.Feature(
        float_list=tf.train.FloatList(value=feats["masked_lm_weights"].tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (as recorded in ``manifest.json`` for shards, corpus files and the vocab)."""
    return _sha256(path)


def _write_json_atomic(path: Path, obj) -> None:
    atomic_write_json(path, obj, sort_keys=True, ensure_ascii=True)


def write_instances(instances: Sequence[TrainingInstance], out_dir: str | os.PathLike, num_shards: int = 1,
                    progress: bool = False) -> list[dict]:
    """Round-robin instances into ``num_shards`` TFRecord files -> [{name, instances, sha256}]."""
    import tensorflow as tf
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"part-{k:05d}-of-{num_shards:05d}.tfrecord" for k in range(num_shards)]
    tmp_paths = [out / f".{n}.tmp{os.getpid()}" for n in names]
    counts = [0] * num_shards
    writers = [tf.io.TFRecordWriter(str(p)) for p in tmp_paths]
    try:
        with path_errors(out):
            try:
                for i, inst in enumerate(tqdm(instances, desc="writing", unit="ex", disable=not progress)):
                    writers[i % num_shards].write(serialize_instance(inst))
                    counts[i % num_shards] += 1
            finally:
                for w in writers:
                    w.close()  # flushes: a full disk raises here
            files = []
            for name, tmp, count in zip(names, tmp_paths, counts):
                os.replace(tmp, out / name)
                files.append({"name": name, "instances": count, "sha256": _sha256(out / name)})
    finally:
        for p in tmp_paths:  # a failed write leaves no .part-*.tmpPID behind
            if p.exists():
                p.unlink()
    return files


def create_pretraining_data(corpus_files: Sequence[str | os.PathLike], vocab_file: str | os.PathLike,
                            out_dir: str | os.PathLike, config: PretrainingDataConfig = PretrainingDataConfig(),
                            progress: bool = False) -> dict:
    """Corpus files -> sharded TFRecords + ``manifest.json`` in ``out_dir``. Returns the manifest."""
    from mobilebert_tf.tokenization import BertTokenizer

    if not corpus_files:
        raise DataError("no corpus files given")
    tokenizer = BertTokenizer(vocab_file, lowercase=config.lowercase)
    documents: list[list[list[int]]] = []
    corpus_info = []
    for path in corpus_files:
        fmt, docs = read_corpus(path, config.corpus_format)
        tokenized = tokenize_documents(tokenizer, docs, WIKITEXT_UNK if fmt == "wikitext" else None)
        if not tokenized:
            raise DataError(f"corpus file {path}: no tokens after tokenization")
        documents.extend(tokenized)
        corpus_info.append({"path": str(path), "format": fmt, "sha256": _sha256(path), "documents": len(tokenized),
                            "sentences": sum(len(d) for d in tokenized),
                            "tokens": sum(len(s) for d in tokenized for s in d)})
    instances, stats = create_instances(documents, tokenizer, config, progress=progress)
    files = write_instances(instances, out_dir, config.shards, progress=progress)
    manifest = {"format": MANIFEST_FORMAT, "num_instances": len(instances), "settings": config.to_dict(),
                "seq_len": config.seq_len, "max_predictions": config.max_predictions,
                "vocab": {"path": str(vocab_file), "sha256": _sha256(vocab_file), "size": tokenizer.vocab_size},
                "corpus": corpus_info, "stats": stats, "files": files}
    _write_json_atomic(Path(out_dir) / MANIFEST_NAME, manifest)
    return manifest


# ---------------------------------------------------------------------------------------- reading

def read_manifest(data_dir: str | os.PathLike) -> dict:
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{data_dir}: no {MANIFEST_NAME} (not a create-pretraining-data output directory?)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    for key in ("seq_len", "max_predictions", "files"):
        if key not in manifest:
            raise DataError(f"{path}: missing field {key!r}")
    return manifest


def _resolve_files(data) -> tuple[list[str], dict | None]:
    """Directory (manifest), glob pattern, file, or list of files -> (files, manifest or None)."""
    if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
        manifest = read_manifest(data)
        files = [str(Path(data) / f["name"]) for f in manifest["files"]]
    else:
        items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        files = []
        for item in items:
            matches = sorted(glob.glob(str(item))) if any(c in str(item) for c in "*?[") else [str(item)]
            if not matches:
                raise DataError(f"pre-training data: no file matches {item}")
            files.extend(matches)
        manifest_path = Path(files[0]).parent / MANIFEST_NAME if files else None
        manifest = read_manifest(manifest_path.parent) if manifest_path and manifest_path.is_file() else None
    if not files:
        raise DataError(f"pre-training data {data}: no TFRecord files")
    for f in files:
        if not Path(f).is_file():
            raise DataError(f"pre-training data: TFRecord file {f} not found")
    return files, manifest


def make_pretraining_dataset(data_dir_or_files, batch_size: int, seq_len: int | None = None, shuffle: bool = True,
                             seed: int | None = None, repeat: bool = False, drop_remainder: bool = True,
                             input_context=None, max_predictions: int | None = None,
                             shuffle_buffer: int = 10_000):
    """TFRecords from ``create_pretraining_data`` -> ``tf.data.Dataset`` of feature dicts.

    Each element: ``input_ids``, ``input_mask``, ``segment_ids`` int32 [B, seq_len];
    ``masked_lm_positions``, ``masked_lm_ids`` int32 and ``masked_lm_weights`` float32
    [B, max_predictions]; ``next_sentence_labels`` int32 [B]. ``seq_len``/``max_predictions`` default to
    the manifest's (a directory, or files next to a manifest); plain files need them given.

    ``batch_size`` is global. With ``input_context`` (``strategy.distribute_datasets_from_function``)
    each input pipeline reads its share of files (of records when there are fewer files than
    pipelines) and batches ``input_context.get_per_replica_batch_size(batch_size)``.
    With ``shuffle=False`` records come in the order they were written.
    """
    import tensorflow as tf

    files, manifest = _resolve_files(data_dir_or_files)
    for name, given in (("seq_len", seq_len), ("max_predictions", max_predictions)):
        if manifest is not None and given is not None and given != manifest[name]:
            raise DataError(f"{name}={given} but the data was written with {name}={manifest[name]}")
        if manifest is None and given is None:
            raise DataError(f"pre-training data {files[0]}: no {MANIFEST_NAME} beside it; pass {name}")
    seq_len = seq_len or manifest["seq_len"]
    max_predictions = max_predictions or manifest["max_predictions"]
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")

    per_batch = batch_size
    ds = tf.data.Dataset.from_tensor_slices(files)
    shard_records = False
    if input_context is not None:
        per_batch = input_context.get_per_replica_batch_size(batch_size)
        if input_context.num_input_pipelines > 1:
            if len(files) >= input_context.num_input_pipelines:
                ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
            else:
                shard_records = True
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    # Files were filled round-robin, so a deterministic interleave of all of them with block 1
    # restores the written order when not shuffling.
    cycle = len(files) if not shuffle else min(len(files), 16)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=cycle, block_length=1,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=(not shuffle) or seed is not None)
    if shard_records:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(per_batch, drop_remainder=drop_remainder)

    spec = {k: tf.io.FixedLenFeature([seq_len], tf.int64) for k in ("input_ids", "input_mask", "segment_ids")}
    spec.update({k: tf.io.FixedLenFeature([max_predictions], tf.int64)
                 for k in ("masked_lm_positions", "masked_lm_ids")})
    spec["masked_lm_weights"] = tf.io.FixedLenFeature([max_predictions], tf.float32)
    spec["next_sentence_labels"] = tf.io.FixedLenFeature([1], tf.int64)

    def parse(serialized):
        ex = tf.io.parse_example(serialized, spec)
        out = {k: tf.cast(v, tf.int32) for k, v in ex.items() if k != "masked_lm_weights"}
        out["masked_lm_weights"] = ex["masked_lm_weights"]
        out["next_sentence_labels"] = out["next_sentence_labels"][:, 0]
        return out

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=(not shuffle) or seed is not None)
    return ds.prefetch(tf.data.AUTOTUNE)
