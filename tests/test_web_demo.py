"""The browser demo (web_demo/) in real headless Chromium: `mobilebert web-demo --models DIR` serves the
page, LiteRT.js 2.5.3 (wasm) runs the exported models, puppeteer-core drives the page
(web_demo/test/browser_check.mjs) and the page's own pipeline is compared with Python's:

- token ids (the page's normalization + JS WordPiece) == the training tokenizer's, accented texts included;
- probabilities == Python LiteRT to 1e-6 (float and int8-mixed classifiers, trained; dynamic-range to 2e-4,
  see DYNAMIC_TOL), same labels;
- top-5 QA answers (token spans, text) == the host replay on real SQuAD passages;
- dynamic-length classifiers (manifest "dynamic", inputs [1, -1]): LiteRT.js 2.5.3 cannot run them (it has no
  input resize; a [1, n] tensor does not match the compiled [1, -1] one), so the page runs the fixed fallback
  the manifest names and shows a note saying why; it does the same when the dynamic file is missing or broken.
  The fallback's labels equal the dynamic export's own-length labels (Python LiteRT), probabilities within
  PADDING_TOL;
- a screenshot of the QA screen (``MOBILEBERT_WEB_DEMO_SCREENSHOT=path`` keeps a copy, e.g. docs/web_demo.png).

Tools: Debian's chromium and web_demo/node_modules (``make tools``); a skip fails under CI.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mobilebert_tf.tokenization import BertTokenizer
from tests.client_models import (CLASSIFIER_SEQ, QUANTIZATIONS, LiteRtModel, own_length_inputs, own_length_probs, replay,
                                 replay_answers, training_classifier_probs)
from tests.conftest import VOCAB

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web_demo"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
pytestmark = [pytest.mark.slow, pytest.mark.needs_tool("chromium + web_demo/node_modules (make tools)")]
PROB_TOL = 1e-6
# Dynamic-range (hybrid) ops quantize activations at run time, and each runtime does it its own way:
# LiteRT.js's wasm kernels are 6.5e-5 from ai-edge-litert's XNNPACK and 1.8e-4 from its built-in kernels
# on our dynamic classifier (measured; LiteRT.js has no option to pick kernels). Float and int8-mixed
# agree to 1e-7.
DYNAMIC_TOL = 2e-4
# The fixed export padded to 128 vs the dynamic export at each sentence's own length: not the same function,
# since Google's attention mask (-6 on padded keys, what int8 needs) leaves padded keys a little weight.
# Measured on the trained 2-layer test classifier: at most PADDING_TOL apart (see the test's output).
PADDING_TOL = 0.05
LITERT_JS_NO_RESIZE = "does not match expected ranked tensor type Int32[1, -1]"


def _serve(folder):
    """`mobilebert web-demo --models folder --port 0` in a subprocess: (process, the URL it prints)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "mobilebert_tf.cli", "web-demo", "--models",
                             str(folder), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        proc.terminate()
        proc.wait(timeout=30)
        raise AssertionError(f"web-demo printed {line!r}")
    return proc, match.group(0)


@pytest.fixture(scope="module")
def broken_folder(app_models, tmp_path_factory):
    """A copy of the models folder whose float dynamic model is missing and int8-mixed one is broken (cut)."""
    folder = tmp_path_factory.mktemp("web_broken")
    for f in app_models["folder"].iterdir():
        if f.suffix in (".tflite", ".json"):
            shutil.copyfile(f, folder / f.name)
    (folder / app_models["classifier_dynamic"]["none"].name).unlink()
    broken = folder / app_models["classifier_dynamic"]["int8-mixed"].name
    broken.write_bytes(broken.read_bytes()[:4096])
    return folder


@pytest.fixture(scope="module")
def server(app_models, broken_folder):
    """Two web-demo servers: the models folder and its broken copy; yields their URLs."""
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        pytest.skip(f"no {CHROMIUM} or node: `apt-get install chromium` (make tools)")
    if not (WEB / "node_modules" / "puppeteer-core").is_dir():
        pytest.skip("web_demo/node_modules missing: `make web-deps`")
    procs = []
    try:
        for folder in (app_models["folder"], broken_folder):
            proc, url = _serve(folder)
            procs.append((proc, url))
        yield procs[0][1], procs[1][1]
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(app_models, server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    url, broken_url = server
    case = app_models["qa_cases"][0]
    texts = app_models["sst2_texts"]
    classifiers = [app_models[kind][q].name for kind in ("classifier", "classifier_dynamic") for q in QUANTIZATIONS]
    job = {"classifier": [{"model": name, "texts": texts} for name in classifiers],
           "qa": [{"model": app_models["qa"][q].name, "cases": app_models["qa_cases"]} for q in QUANTIZATIONS],
           "screenshot": {"model": app_models["qa"]["none"].name, **case},
           "classifier_screen": {"model": app_models["classifier_dynamic"]["none"].name, "text": texts[0]},
           "other": {"url": broken_url, "classifier": [{"model": app_models["classifier_dynamic"][q].name,
                                                        "texts": texts[:8]} for q in ("none", "int8-mixed")]}}
    (tmp / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    shot = tmp / "web_demo.png"
    proc = subprocess.run(["node", str(WEB / "test" / "browser_check.mjs"), url, str(tmp / "job.json"),
                           str(tmp / "out.json"), str(shot)], capture_output=True, text=True, timeout=900, cwd=WEB,
                          env={**os.environ, "CHROMIUM": CHROMIUM})
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads((tmp / "out.json").read_text(encoding="utf-8"))
    keep = os.environ.get("MOBILEBERT_WEB_DEMO_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
    return out, shot


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(str(VOCAB))


def test_page_token_ids_equal_training_ids(app_models, browser, tokenizer):
    out, _ = browser
    texts = app_models["sst2_texts"]
    training = tokenizer.encode(texts)
    packed = tokenizer.encode_single(texts, CLASSIFIER_SEQ)
    for q in QUANTIZATIONS:
        name = app_models["classifier"][q].name
        assert out["tokenize"][name] == training
        assert [row["ids"] for row in out["classifier"][name]] == packed["input_ids"].tolist()
    print(f"\npage token ids == training ids on {len(texts)} SST-2 texts "
          f"({sum(not t.isascii() for t in texts)} accented)")


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_page_probabilities_match_python_litert(app_models, browser, tokenizer, quantize):
    out, _ = browser
    path = app_models["classifier"][quantize]
    rows = out["classifier"][path.name]
    ours, _ = training_classifier_probs(path, tokenizer, app_models["sst2_texts"])
    page = np.array([row["probs"] for row in rows])
    diff = float(np.abs(page - ours).max())
    python_ms = LiteRtModel(path)
    for i in range(len(rows)):  # Python's per-inference latency on the same inputs
        python_ms(ids=rows[i]["ids"], mask=[int(x != 0) for x in rows[i]["ids"]], segment_ids=[0] * len(rows[i]["ids"]))
    page_ms = float(np.median([row["ms"] for row in rows[1:]]))  # the first run includes warm-up
    print(f"\n{path.name}: page vs Python LiteRT max prob diff {diff:.2e} on {len(rows)} texts; per inference: "
          f"browser (LiteRT.js wasm, 1 thread) {page_ms:.1f} ms, Python LiteRT (1 thread) {np.median(python_ms.ms):.1f} ms")
    assert [r["labels"] for r in rows][0] == ["negative", "positive"]
    assert (page.argmax(-1) == ours.argmax(-1)).all()
    assert diff <= (DYNAMIC_TOL if quantize == "dynamic" else PROB_TOL), diff


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_page_runs_fixed_fallback_of_dynamic_classifier(app_models, browser, tokenizer, quantize):
    """LiteRT.js 2.5.3 cannot run a [1, -1] model (no input resize): the page tries the dynamic classifier,
    falls back to the fixed export the manifest names, and says so; the fallback's results are the fixed
    model's, and its labels those of the dynamic export at each sentence's own length (Python LiteRT)."""
    out, _ = browser
    dynamic, fixed = app_models["classifier_dynamic"][quantize], app_models["classifier"][quantize]
    rows, fixed_rows = out["classifier"][dynamic.name], out["classifier"][fixed.name]
    assert {r["runs"] for r in rows} == {fixed.name} and not any(r["ownLength"] for r in rows)
    assert all(LITERT_JS_NO_RESIZE in r["note"] and f"running the fixed-length {fixed.name}" in r["note"] for r in rows)
    page = np.array([r["probs"] for r in rows])
    assert page.tolist() == [r["probs"] for r in fixed_rows]  # the fixed model, run the same way
    own = own_length_probs(dynamic, own_length_inputs(tokenizer, app_models["sst2_texts"]))
    diff = float(np.abs(page - own).max())
    print(f"\n{dynamic.name}: LiteRT.js ran the fixed fallback ({fixed.name}); labels == dynamic export at own "
          f"length (Python LiteRT) on {len(rows)} texts, max prob diff {diff:.2e} (padding to {CLASSIFIER_SEQ})")
    assert (page.argmax(-1) == own.argmax(-1)).all()
    assert diff <= PADDING_TOL, diff


def test_page_falls_back_when_dynamic_model_missing_or_broken(app_models, browser):
    out, _ = browser
    for quantize, reason in (("none", "HTTP 404"), ("int8-mixed", "no metadata zip")):
        dynamic, fixed = app_models["classifier_dynamic"][quantize], app_models["classifier"][quantize]
        rows = out["other"][dynamic.name]
        assert {r["runs"] for r in rows} == {fixed.name}, quantize
        assert all(reason in r["note"] for r in rows), rows[0]["note"]
        assert [r["probs"] for r in rows] == [r["probs"] for r in out["classifier"][fixed.name][:len(rows)]]


def test_classifier_screen_shows_the_fallback_note(app_models, browser):
    screen = browser[0]["classifier_screen"]
    dynamic, fixed = app_models["classifier_dynamic"]["none"], app_models["classifier"]["none"]
    assert dynamic.name in screen["options"] and fixed.name not in screen["options"]  # the fallback is not offered apart
    assert screen["note"] and LITERT_JS_NO_RESIZE in screen["note"] and fixed.name in screen["note"]
    assert f"({fixed.name}, padded to {CLASSIFIER_SEQ})" in screen["latency"]
    assert "negative" in screen["result"] and "positive" in screen["result"]


@pytest.mark.parametrize("quantize", QUANTIZATIONS)
def test_page_answers_equal_host_replay(app_models, browser, quantize):
    out, _ = browser
    path = app_models["qa"][quantize]
    cases = app_models["qa_cases"]
    python_ms = []
    ours = replay_answers(path, replay.WordpieceTokenizer.from_file(VOCAB), cases, timings=python_ms)
    rows = out["qa"][path.name]
    for case, mine, page in zip(cases, ours, rows):
        assert [(a["start"], a["end"], a["text"]) for a in page["answers"]] == [(a.start, a.end, a.text) for a in mine]
        # the highlight: the original passage's characters (accents and all) behind the answer
        assert [a["shown"] for a in page["answers"]] == [case["context"][a.char_start:a.char_end] for a in mine]
    page_ms = float(np.median([row["ms"] for row in rows[1:]]))
    print(f"\n{path.name}: page top-5 answers == host replay on {len(cases)} SQuAD passages; per inference "
          f"(seq 384): browser (LiteRT.js wasm, 1 thread) {page_ms:.1f} ms, Python LiteRT (1 thread) {np.median(python_ms):.1f} ms")


def test_screenshot_shows_the_answer(app_models, browser):
    out, shot = browser
    case = app_models["qa_cases"][0]
    best = replay_answers(app_models["qa"]["none"], replay.WordpieceTokenizer.from_file(VOCAB), [case])[0][0]
    assert out["screen"]["mark"] == case["context"][best.char_start:best.char_end]
    assert "quantization" in out["screen"]["info"] and "MB" in out["screen"]["info"]
    assert re.fullmatch(r"inference \d+\.\d ms", out["screen"]["latency"])
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # LiteRT.js logs INFO lines through console.error; page errors and failed requests are what count
    assert not [line for line in out["logs"] if line.startswith("pageerror") or "Failed to load" in line], out["logs"]
