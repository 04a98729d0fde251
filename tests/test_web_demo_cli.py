"""`mobilebert export --web-assets DIR` writes the model and models.json; `mobilebert web-demo --models DIR`
serves the page, the models and LiteRT.js's wasm on 127.0.0.1 and prints the URL; bad folders are a clear
error (exit 1, no traceback)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "MOBILEBERT_SHARED_DATA": str(SHARED_DATA)}


def _mobilebert(*args, **kw):
    return subprocess.run([sys.executable, "-m", "mobilebert_tf.cli", *args], capture_output=True, text=True,
                          env=ENV, cwd=ROOT, **kw)


def test_web_demo_rejects_a_folder_without_models(tmp_path):
    proc = _mobilebert("web-demo", "--models", str(tmp_path / "nope"), timeout=120)
    assert proc.returncode == 1 and "not a directory" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "models.json").write_text('{"models": [{"file": "gone.tflite"}]}')
    proc = _mobilebert("web-demo", "--models", str(tmp_path), timeout=120)
    assert proc.returncode == 1 and "gone.tflite" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.needs_tool("web_demo/node_modules (make web-deps)")
def test_export_web_assets_then_serve(tmp_path, shared_data):
    if not (ROOT / "web_demo" / "node_modules" / "@litertjs" / "core").is_dir():
        pytest.skip("web_demo/node_modules missing: `make web-deps`")
    web = tmp_path / "web"
    proc = _mobilebert("export", "--preset", "mobilebert", "--random-init", "--override", "num_hidden_layers=2",
                       "--task", "classifier", "--labels", "negative,positive", "--out", str(tmp_path / "clf.tflite"),
                       "--gate-examples", "4", "--allow-accuracy-drop", "--data", str(shared_data),
                       "--web-assets", str(web), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"mobilebert web-demo --models {web}" in proc.stdout
    manifest = json.loads((web / "models.json").read_text())
    assert [m["file"] for m in manifest["models"]] == ["clf.tflite"] and (web / "clf.tflite").is_file()
    assert manifest["models"][0]["labels"] == ["negative", "positive"]

    server = subprocess.Popen([sys.executable, "-m", "mobilebert_tf.cli", "web-demo", "--models", str(web), "--port",
                               "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV, cwd=ROOT)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline()).group(0)
        with urllib.request.urlopen(url) as r:
            assert b"importmap" in r.read()
        with urllib.request.urlopen(url + "models/models.json") as r:
            assert json.loads(r.read()) == manifest
        with urllib.request.urlopen(url + "models/clf.tflite") as r:
            assert r.read() == (web / "clf.tflite").read_bytes()
        with urllib.request.urlopen(url + "node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm") as r:
            assert r.headers["Content-Type"] == "application/wasm" and r.read(4) == b"\0asm"
        with pytest.raises(urllib.error.HTTPError):  # nothing outside the models folder
            urllib.request.urlopen(url + "models/../../../etc/passwd")
    finally:
        server.terminate()
        server.wait(timeout=30)
