"""The data contract: what nadsim writes for other tools, from the CLI and the web alike.

* **CSV** is tidy and long: ``time_h, variable, value, unit`` (one row per time and output),
  plus ``lower, upper`` when an uncertainty band was asked for. No comment lines, so
  ``pandas.read_csv``, R's ``read.csv`` and DuckDB read it as it is; the run metadata travel
  beside it (stderr for the CLI, response headers for the web).
* **Parquet** keeps its columns and adds what a CSV cannot carry: each field's unit in the
  field metadata (``unit``), and the run in the schema's key-value metadata under ``nadsim``
  (JSON: nadsim version, model and model hash, solver, tolerances, regimen, seed, backend,
  disclaimer). Column names are SQL identifiers (letters, digits, ``_``), so a query needs no
  quoting.

Every file goes through :func:`nadsim._files.atomic_path`: whole or absent, mode from the umask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nadsim._files import atomic_path
from nadsim.report._labels import display_unit

__all__ = ["LONG_COLUMNS", "METADATA_KEY", "dataset_series", "long_frame", "read_run_metadata", "run_metadata", "sql_name",
           "write_csv", "write_parquet"]

LONG_COLUMNS = ("time_h", "variable", "value", "unit")
METADATA_KEY = b"nadsim"
#: Dataset attributes that describe the run (whatever the engine puts there, these are kept)
_RUN_KEYS = ("nadsim_version", "model", "model_hash", "solver", "backend", "device", "rtol", "atol", "regimen",
             "n_doses", "seed", "created", "evidence_filter", "disclaimer")


def sql_name(name: str) -> str:
    """A column name that SQL reads unquoted: ``HAMD@168h_true`` -> ``HAMD_at_168h_true``."""
    s = re.sub(r"[^0-9A-Za-z_]+", "_", name.replace("@", "_at_")).strip("_")
    return s if s and not s[0].isdigit() else f"c_{s}"


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def run_metadata(attrs: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The run description kept in every file: the known keys of ``attrs`` plus ``extra``."""
    meta = {k: _plain(attrs[k]) for k in _RUN_KEYS if k in attrs}
    meta.update({k: _plain(v) for k, v in extra.items() if v is not None})
    return meta


def long_frame(time_h: Sequence[float] | np.ndarray, series: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Tidy long table from ``{name: {"unit": u, "values": [...], "lower"?: [...], "upper"?: [...]}}``."""
    t = np.asarray(time_h, dtype=float)
    with_band = any("lower" in s for s in series.values())
    frames = []
    for name, s in series.items():
        part = {"time_h": t, "variable": name, "value": np.asarray(s["values"], dtype=float), "unit": s.get("unit", "")}
        if with_band:
            part["lower"] = np.asarray(s.get("lower", [np.nan] * t.size), dtype=float)
            part["upper"] = np.asarray(s.get("upper", [np.nan] * t.size), dtype=float)
        frames.append(pd.DataFrame(part))
    cols = [*LONG_COLUMNS, *(("lower", "upper") if with_band else ())]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def dataset_series(ds: Any, variables: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``long_frame``'s input from an ``xarray.Dataset`` over ``time``, units as users read them
    (:func:`nadsim.report._labels.display_unit`: HAM-D in HAM-D-17 points, not "dimensionless")."""
    return {v: {"unit": display_unit(v, ds[v].attrs.get("units", "")), "values": ds[v].values} for v in variables}


def write_csv(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write ``frame`` as CSV (no index), atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_parquet(frame: pd.DataFrame, path: Path | str, *, units: Mapping[str, str],
                  metadata: Mapping[str, Any]) -> Path:
    """Write ``frame`` as Parquet with each column's unit and the run metadata, atomically.

    Column names are made SQL-friendly with :func:`sql_name`; two names that collide raise.
    """
    renamed = {c: sql_name(str(c)) for c in frame.columns}
    if len(set(renamed.values())) != len(renamed):
        raise ValueError(f"column names collide once made SQL-friendly: {sorted(renamed.values())}")
    table = pa.Table.from_pandas(frame.rename(columns=renamed), preserve_index=False)
    fields = [f.with_metadata({b"unit": str(units.get(orig, "")).encode()}) if units.get(orig) is not None else f
              for f, orig in zip(table.schema, frame.columns, strict=True)]
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[METADATA_KEY] = json.dumps(dict(metadata), default=str).encode()
    table = table.cast(pa.schema(fields, metadata=schema_meta))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_run_metadata(path: Path | str) -> tuple[dict[str, Any], dict[str, str]]:
    """The run metadata and ``{column: unit}`` of a Parquet file written by :func:`write_parquet`."""
    schema = pq.read_schema(path)
    meta = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}"))
    units = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in schema}
    return meta, units
