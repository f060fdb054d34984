"""A results folder as one table, one row per trial: every hyperparameter, metric, seed, the
code fingerprint and the machine, in the long format peers share results in (RMT's CSVs).
Nested parts of a record (learning curve, attention, per-position accuracy) stay in the
records (RESULTS/trials/*.json)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from membench.errors import MembenchError
from membench.store.records import TRIALS, read_records, write_atomic
from membench.store.results import flatten, load_suite_results

NESTED = ("curve", "attention", "per_position")
FORMATS = ("csv", "parquet")


def plain(value):
    """A cell: a mapping or list (the code fingerprint, a factory's option) as sorted JSON."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def trial_rows(results: Path):
    """The trials of the folder's suite (suite.json; every record where there is none), each
    record flattened, with its machine (cpu, gpu, versions) and tuning point."""
    import pandas as pd

    found = load_suite_results(results)  # the suite's trials, in its order
    records = read_records(results / TRIALS)
    ids = list(found.table["id"])
    if found.tuning is not None:
        ids += list(found.tuning["id"])
    rows = []
    for trial_id in ids:
        record = records[trial_id]
        row = {k: v for k, v in flatten(record).items() if k not in NESTED}
        row["task_label"] = record.get("task_label")
        row["cpu"], row["gpu"] = record.get("cpu"), record.get("gpu")
        for name, version in (record.get("versions") or {}).items():
            row[f"versions.{name}"] = version
        tuning = record.get("tuning") or {}
        row["tuning.phase"] = tuning.get("phase")
        for key, value in (tuning.get("point") or {}).items():
            row[f"tuning.point.{key}"] = value
        rows.append({k: plain(v) for k, v in row.items()})
    table = pd.DataFrame(rows)
    if table.empty:
        raise MembenchError(f"{results}: no trial records to export")
    return table


def export(results: Path, fmt: str, out: Path) -> Path:
    """Write the folder's table to `out` as csv or parquet, whole or not at all."""
    if fmt not in FORMATS:
        raise MembenchError(f"--format: unknown format '{fmt}': use {', '.join(FORMATS)}")
    table = trial_rows(results)
    if fmt == "csv":
        return write_atomic(out, table.to_csv(index=False))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return write_atomic(out, buffer.getvalue())
