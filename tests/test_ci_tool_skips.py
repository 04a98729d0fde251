"""Under CI a skipped test marked ``needs_tool`` fails (tests/conftest.py), so a broken install of
Chromium, kotlinc/JUnit or the clients venv cannot pass CI silently; locally it stays a skip."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
TESTS = '''
import pytest

@pytest.mark.needs_tool("chromium")
def test_needs_chromium():
    pytest.skip("no chromium")

def test_plain_skip():
    pytest.skip("not a tool")
'''


def _run(tmp_path, ci):
    shutil.copyfile(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)


def test_tool_skip_fails_under_ci(tmp_path):
    proc = _run(tmp_path, "true")
    assert proc.returncode == 1
    assert "1 failed, 1 skipped" in proc.stdout
    assert "CI is set and this test needs chromium" in proc.stdout and "no chromium" in proc.stdout


def test_tool_skip_is_a_skip_locally(tmp_path):
    for ci in (None, "false"):
        proc = _run(tmp_path, ci)
        assert proc.returncode == 0 and "2 skipped" in proc.stdout, proc.stdout
