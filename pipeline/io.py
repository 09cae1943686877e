"""Atomic file writing: every output goes to a temporary name in its folder and is renamed into place."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from pipeline.errors import InputError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it becomes ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        for child in tmp.iterdir():
            if child.is_file():
                os.chmod(child, 0o644)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as CSV or parquet, chosen by the extension, atomically."""
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    if suffix not in {".csv", ".csv.gz", ".parquet"}:
        raise InputError(f"{path}: unknown output type {suffix or '(none)'!r}; use .csv, .csv.gz or .parquet")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp)
        else:
            frame.to_csv(tmp, compression="gzip" if suffix == ".csv.gz" else None)
