"""Shared test fixtures: paths of the real data in ../shared/data (override with MOBILEBERT_SHARED_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("MOBILEBERT_SHARED_DATA")
                   or Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
VOCAB = SHARED_DATA / "vocab" / "bert-base-uncased-vocab.txt"
GLUE = SHARED_DATA / "glue"
SQUAD_SMALL = SHARED_DATA / "squad" / "dev-v1.1-first2articles.json"
CORPUS = SHARED_DATA / "corpus"


def _require(path: Path) -> Path:
    # Fail, not skip: a skipped parity test would pass CI without checking anything.
    if not path.exists():
        pytest.fail(f"shared data {path} not found (set MOBILEBERT_SHARED_DATA to the shared/data folder)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def vocab_file() -> Path:
    return _require(VOCAB)


# Tests marked `needs_tool` use a tool `make test` installs (kotlinc + JUnit, the clients venv, Chromium +
# node_modules). Locally they may skip with the reason; under CI (env CI set, not "0"/"false") a skip of
# one of them is a failure, so a broken install cannot pass CI silently.
def pytest_configure(config):
    config.addinivalue_line("markers", "needs_tool(name): needs a tool `make test` installs; a skip fails under CI")


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("needs_tool")
    if marker is not None and report.skipped and _ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"CI is set and this test needs {marker.args[0] if marker.args else 'a tool'} "
                           f"(installed by `make test`), but it skipped: {reason}")


@pytest.fixture(scope="session")
def app_models(tmp_path_factory):
    """Trained tiny classifier + QA model exported as float, dynamic and int8-mixed with metadata, in one
    folder with models.json (tests/client_models.py). Shared by the client and browser tests."""
    from tests import client_models

    _require(SHARED_DATA)
    return client_models.build_models(tmp_path_factory.mktemp("app_models"))
