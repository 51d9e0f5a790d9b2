"""Run registry (SQLite, one file per user) and crash-safe chunk files.

The registry lives at ``$NADSIM_HOME/registry.sqlite`` (default ``~/.nadsim``), so a run is
found from its id alone. A chunk counts as done only when its Parquet file was written to a
temporary name, flushed to disk (fsync), renamed into place atomically **and** its row (with
the file's SHA-256) was committed afterwards. A run killed at any moment therefore leaves
either a complete, registered chunk, or something that is ignored and recomputed.

The registry is not the only copy: each chunk's checksum is also written beside it
(``chunks/ID.parquet.sha256.json``) and the run's metadata to ``OUT/run.json`` with the trial
file in ``OUT/trial.toml``, so ``nadsim trial resume OUT`` re-registers a run whose registry was
lost (see :func:`nadsim.trial._run.resolve_run`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from nadsim._errors import InputError
from nadsim._files import atomic_write_bytes

__all__ = ["RUN_ARG", "Registry", "atomic_write_bytes", "atomic_write_parquet", "registry_path", "sha256_file"]

#: the run argument of `nadsim trial resume/status/power/report` as their help shows it
#: (typer's metavar of ``run``): every error about a run names it so
RUN_ARG = "RUN"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    trial_name TEXT NOT NULL,
    trial_sha256 TEXT NOT NULL,
    trial_text TEXT NOT NULL,
    overrides TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    out_dir TEXT NOT NULL,
    status TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    started REAL,
    finished REAL,
    compute_s REAL DEFAULT 0,
    attempts INTEGER DEFAULT 0,
    nadsim_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    run_id TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    n_subjects INTEGER NOT NULL,
    n_failed INTEGER NOT NULL,
    elapsed_s REAL NOT NULL,
    finished REAL NOT NULL,
    PRIMARY KEY (run_id, chunk_id)
);
"""


def registry_path() -> Path:
    home = os.environ.get("NADSIM_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".nadsim"
    return base / "registry.sqlite"


def atomic_write_parquet(df: pd.DataFrame, path: Path) -> str:
    """Write ``df`` as Parquet through :func:`nadsim._files.atomic_write_bytes`; returns its SHA-256."""
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return atomic_write_bytes(path, buf.getvalue())



def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class Registry:
    """Thin wrapper over the SQLite registry (WAL journal, synchronous=FULL)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else registry_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=60.0)
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None
        try:
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=FULL")
                con.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:
                raise self._unreadable(exc) from None
            con.row_factory = sqlite3.Row
            with con:
                yield con
        finally:
            con.close()

    def _unreadable(self, exc: Exception) -> InputError:
        return InputError("registry", "a readable SQLite registry", f"{self.path}: {exc}",
                          hint="move it aside; `nadsim trial resume OUT_DIR` re-registers a run from its directory")

    def has_run(self, run_id: str) -> bool:
        with self._db() as con:
            return con.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def create_run(self, **row: Any) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._db() as con:
            con.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", tuple(row.values()))  # fixed column names

    def run(self, run_id: str) -> dict[str, Any]:
        with self._db() as con:
            r = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if r is None:
            raise InputError(RUN_ARG, f"a run in the registry {self.path}", run_id,
                             hint="`nadsim trial list` shows the known runs")
        d = dict(r)
        d["overrides"] = json.loads(d["overrides"])
        return d

    def runs(self) -> list[dict[str, Any]]:
        with self._db() as con:
            rows = con.execute("SELECT run_id, trial_name, status, seed, out_dir, created, finished, compute_s "
                               "FROM runs ORDER BY created").fetchall()
        return [dict(r) for r in rows]

    def update_run(self, run_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._db() as con:
            con.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*fields.values(), run_id))

    def add_compute(self, run_id: str, seconds: float) -> None:
        with self._db() as con:
            con.execute("UPDATE runs SET compute_s = compute_s + ? WHERE run_id = ?", (seconds, run_id))

    def add_chunk(self, run_id: str, chunk_id: str, path: str, sha256: str, n_subjects: int, n_failed: int,
                  elapsed_s: float) -> None:
        with self._db() as con:
            con.execute("INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, chunk_id, path, sha256, n_subjects, n_failed, elapsed_s, time.time()))

    def chunks(self, run_id: str) -> dict[str, dict[str, Any]]:
        with self._db() as con:
            rows = con.execute("SELECT * FROM chunks WHERE run_id = ?", (run_id,)).fetchall()
        return {r["chunk_id"]: dict(r) for r in rows}
