"""Where the shared real data lives: ``$MOBILEBERT_SHARED_DATA`` or ``../shared/data`` beside the checkout."""
from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    env = os.environ.get("MOBILEBERT_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def bert_vocab(data_dir: str | os.PathLike | None = None) -> Path:
    return Path(data_dir or default_data_dir()) / "vocab" / "bert-base-uncased-vocab.txt"


def require(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path} (pass --data DIR pointing at the shared data folder, "
                                f"or set MOBILEBERT_SHARED_DATA)")
    return path
