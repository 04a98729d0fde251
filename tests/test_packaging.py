"""setup.py installs one top-level package, ``mobilebert_tf``: the repository's ``export/`` and
``benchmarks/`` folders become ``mobilebert_tf.export`` and ``mobilebert_tf.benchmarks`` (docs/architecture.md),
and nothing in the repository imports them by their old top-level names."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_NAME = re.compile(r"^\s*(from|import) (export|benchmarks)\b|-m (export|benchmarks)\.", re.M)


def test_nothing_uses_the_old_top_level_names():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    wrong = [f for f in tracked if f.endswith((".py", ".md", ".sh")) or f == "Makefile"
             if OLD_NAME.search((ROOT / f).read_text(encoding="utf-8", errors="replace"))]
    assert not wrong, f"imports or `python -m` of top-level export/benchmarks (now mobilebert_tf.*): {wrong}"


def test_wheel_installs_only_mobilebert_tf(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "setup.py", src)
    for folder in ("mobilebert_tf", "export", "benchmarks"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "results"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, text=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"mobilebert_tf", "mobilebert_tf-0.1.0.dist-info"}
    for module in ("mobilebert_tf/export/exporter.py", "mobilebert_tf/export/cli.py",
                   "mobilebert_tf/benchmarks/host_worker.py", "mobilebert_tf/benchmarks/peers/measure.py"):
        assert module in names

    # installed (no setup.py beside the package): the same import names, from the installed files only
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, text=True)
    code = ("import mobilebert_tf, mobilebert_tf.export.exporter as e, mobilebert_tf.benchmarks.host as h; "
            "print(mobilebert_tf.__path__, e.__file__, h.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    paths, exporter, host = out.stdout.strip().rsplit(" ", 2)
    assert paths == repr([str(target / "mobilebert_tf")])
    assert exporter == str(target / "mobilebert_tf/export/exporter.py")
    assert host == str(target / "mobilebert_tf/benchmarks/host.py")
