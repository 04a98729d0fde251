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
