"""Records -> one pandas row per trial (the metrics, the config that made them, derived
metrics for records that predate them); a results folder's trials in table order.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from membench.errors import MembenchError
from membench.metrics import METRICS, aulc
from membench.store.fingerprint import fingerprint, recorded
from membench.store.records import SUITE_FILE, TRIALS, read_records
from membench.suite.tune import Point

if TYPE_CHECKING:
    import pandas as pd

    from membench.suite.trials import Trial

DIGITS = re.compile(r"(\d+)")
COLUMNS = (
    "id",
    "suite",
    "task",
    "variant",
    "seed",
    "status",
    "error",
    "mem_tokens",
    "factory",
    "generator",
    "node_id",
    "host",
    "device",
    "start_time",
    "end_time",
)


def trial_table(directory: Path, trials: list[Trial]) -> pd.DataFrame:
    """The recorded ones of `trials` as load_results' rows, labelled by the trials (task,
    variant, seed; `point`: a tuning trial's Point). Trials without a record are absent."""
    import pandas as pd

    records = read_records(directory) if directory.is_dir() else {}
    rows = []
    for t in trials:
        if t.id in records:
            row = flatten(records[t.id])
            row.update(task=t.task, variant=t.variant, seed=t.seed)
            tuning = t.tuning or {}
            row["point"] = tuning["point"] if tuning.get("phase") == "tune" else None
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["id", "task", "variant", "seed", "status"])


@dataclass
class SuiteResults:
    """The trials of the suite that last ran in a results folder, in its table order."""

    table: pd.DataFrame
    suite: str | None  # None: the folder has no suite.json, every record is used
    baseline: str | None
    unused: int  # records in the folder that belong to other settings
    tuning: pd.DataFrame | None = None  # a tuned suite's tuning trials (column `point`)
    tune: dict | None = None  # suite.json's tuning section: metric, space, margin, choices
    references: list[dict] | None = None  # suite.json's published values for cells
    planned: dict[tuple[str, str], set[int]] | None = None  # suite.json's cells and their seeds
    design: dict | None = None  # suite.json's declared tests (primary, climb, contrasts, trends)


def load_suite_results(path: str | Path) -> SuiteResults:
    """A results folder's records, limited to the trials its suite.json names (labels and order
    from it); without one, every record, and two records of one cell and seed are an error."""
    path = Path(path)
    df = load_results(path)
    listing = path / SUITE_FILE
    if not listing.is_file():
        df["stale"] = stale_rows(df)
        return SuiteResults(df, None, None, 0)
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
        order = {t["id"]: i for i, t in enumerate(data["trials"])}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MembenchError(
            f"{listing}: unreadable ({type(err).__name__}: {err}); rerun the suite to rewrite it"
        ) from None
    mine = df["id"].isin(order)
    table = df[mine].iloc[df.loc[mine, "id"].map(order).argsort()].reset_index(drop=True)
    tune = data.get("tuning")
    tuning, tuned = None, df["id"].isin(())
    if tune:
        points = {t["id"]: t for t in tune["trials"]}
        tuned = df["id"].isin(points)
        tuning = df[tuned].copy()
        for key in ("task", "variant", "seed"):
            tuning[key] = tuning["id"].map(lambda i, key=key: points[i][key])
        tuning["point"] = tuning["id"].map(lambda i: Point(points[i]["point"]))
        rank = {t["id"]: i for i, t in enumerate(tune["trials"])}  # the suite's order
        tuning = tuning.iloc[tuning["id"].map(rank).argsort()].reset_index(drop=True)
    unused = int((~mine & ~tuned).sum())
    if "path" in data:  # a factory's module is found as `membench run` found it
        from membench.suite.trials import add_code_paths

        add_code_paths([str(Path(data["path"]).resolve().parent), os.getcwd()])
    table["stale"] = stale_rows(table)
    references = data.get("references")
    planned: dict[tuple[str, str], set[int]] = {}
    for t in data["trials"]:
        planned.setdefault((t["task"], t["variant"]), set()).add(t["seed"])
    return SuiteResults(
        table,
        data.get("suite"),
        data.get("baseline"),
        unused,
        tuning,
        tune,
        references,
        planned,
        data.get("design"),
    )


def stale_rows(df: pd.DataFrame) -> pd.Series:
    """Per row: an ok record made by other model code than would run now."""
    current: dict = {}

    def stale(row) -> bool:
        if row.get("status") != "ok":
            return False
        factory = row.get("factory") if isinstance(row.get("factory"), str) else None
        if factory not in current:
            current[factory] = fingerprint(factory)
        return row.get("code") != current[factory]

    return df.apply(stale, axis=1).astype(bool) if len(df) else df["id"].isin(())


def load_results(path: str | Path) -> pd.DataFrame:
    """One row per trial of a results directory (RESULTS/trials/*.json) or a trials directory.

    Plain columns: id, suite, task (the task label, e.g. 'sort[length=32]'), variant, seed,
    status, error, mem_tokens, curve, attention (the record's summary or None), node_id, host
    ...; metrics unprefixed (token_accuracy, exact_match, ...); the configuration as
    model.<key>, train.<key>, task_params.<key>.
    """
    import pandas as pd

    path = Path(path)
    directory = path / TRIALS if (path / TRIALS).is_dir() else path
    if not directory.is_dir():
        raise MembenchError(f"{path}: no such results directory (expected RESULTS/{TRIALS}/*.json)")
    rows = [flatten(r) for r in read_records(directory, strict=True).values()]
    df = pd.DataFrame(rows, columns=None if rows else [*COLUMNS, *METRICS, "curve"])
    if rows:
        df = df.sort_values(
            ["task", "variant", "seed"], key=natural_order, kind="stable", ignore_index=True
        )
    return df


def natural_order(column: pd.Series) -> pd.Series:
    """Numbers inside names sort as numbers: mem5 < mem10 < mem20, copy[length=8] < [length=16]."""
    if column.name == "seed":
        return column
    return column.map(
        lambda text: tuple(int(p) if p.isdigit() else p for p in DIGITS.split(str(text)))
    )


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one flat row (see load_results)."""
    model = record.get("model") or {}
    row: dict[str, Any] = {
        "id": record["id"],
        "suite": record.get("suite"),
        "task": record.get("task_label") or record.get("task"),
        "variant": record.get("variant"),
        "seed": record.get("seed"),
        "status": record.get("status"),
        "error": record.get("error"),
        "mem_tokens": model.get("mem_tokens"),
        "factory": record.get("factory"),
        "generator": record.get("task"),
        "node_id": record.get("node_id"),
        "host": record.get("host"),
        "device": record.get("device"),
        "start_time": record.get("start_time"),
        "end_time": record.get("end_time"),
    }
    row.update(dict.fromkeys(METRICS))
    metrics = record.get("metrics") or {}
    row.update(metrics)
    row.update(derived_metrics(record, metrics))
    row["code"] = recorded(record)  # which model code made it (membench.fingerprint)
    row["flops_count"] = record.get("flops_count", 1)  # 1: attention not counted on the CPU
    row["curve"] = record.get("curve") or []
    row["stopped"] = record.get("stopped")  # solved | plateau | budget (None: older records)
    row["resumed_from_step"] = record.get("resumed_from_step")  # went on from a checkpoint
    row["per_position"] = (record.get("per_position") or {}).get("token_accuracy")
    row["attention"] = record.get("attention")  # the report's attention section reads it
    for section in ("model", "train", "task_params"):
        for key, value in (record.get(section) or {}).items():
            row[f"{section}.{key}"] = value
    return row


def derived_metrics(record: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """solve_rate (1 if the trial solved, else 0) and aulc, computed from the learning curve for
    records that predate them; `solved` tells a solved steps_to_solve from a censored one."""
    if record.get("status") != "ok" or not metrics:
        return {}
    steps = (record.get("train") or {}).get("steps")
    solved = metrics.get("solved")
    if solved is None:  # a record without the flag: solved when it stopped before its budget
        solved = metrics.get("steps_to_solve", steps) < (steps or 0)
    out = {"solved": bool(solved), "solve_rate": float(bool(solved))}
    if "aulc" not in metrics and steps:
        out["aulc"] = aulc(record.get("curve") or [], steps)
    return out


def merge_results(folders: list[Path], found: list[SuiteResults]) -> SuiteResults:
    """Several results folders as one report's trials: comparisons made against one reference
    (`membench compare` names its folder REFERENCE+VARIANT), or the reference itself. Like with
    like: one baseline, the reference's trials once, and no cell holding a seed twice (records
    of different settings under one name)."""
    import pandas as pd

    names = [f.suite for f in found]
    if any(n is None for n in names):
        where = folders[names.index(None)]
        raise MembenchError(f"{where}: no suite.json: merge folders that `membench run` wrote")
    roots = {n.split("+")[0] for n in names}
    if len(roots) > 1:
        raise MembenchError(
            f"{folders[0]} and the others do not share a reference (suites {', '.join(names)}): "
            "merge comparisons made against one results folder"
        )
    definitions = []
    for folder in folders:
        data = json.loads((Path(folder) / SUITE_FILE).read_text(encoding="utf-8"))
        definitions.append(data.get("definition"))
    if all(definitions):
        from membench.store.records import differences

        first_def = definitions[0]
        for folder, other in zip(folders[1:], definitions[1:], strict=True):
            shared = set(first_def["variants"]) & set(other["variants"])
            a = {k: v for k, v in first_def.items() if k not in ("name", "variants")}
            b = {k: v for k, v in other.items() if k not in ("name", "variants")}
            a["variants"] = {k: first_def["variants"][k] for k in shared}
            b["variants"] = {k: other["variants"][k] for k in shared}
            changed = differences(a, b)
            if changed:
                raise MembenchError(
                    f"{folders[0]} and {folder} were run against different references "
                    f"({'; '.join(changed[:3])}): merge comparisons against one results folder"
                )
    baselines = {f.baseline for f in found}
    if len(baselines) > 1:
        raise MembenchError(
            f"the folders test against different baselines ({', '.join(sorted(baselines))}): "
            "merge comparisons made with one --baseline"
        )
    table = pd.concat([f.table for f in found], ignore_index=True)
    table = table.drop_duplicates("id").reset_index(drop=True)
    clash = table[table.duplicated(["task", "variant", "seed"], keep=False)]
    if len(clash):
        r = clash.iloc[0]
        raise MembenchError(
            f"variant '{r['variant']}' means different models in these folders ({r['task']}, seed "
            f"{r['seed']}: two records): name them apart (compare --name) before merging"
        )
    planned: dict = {}
    for f in found:
        for cell, seeds in (f.planned or {}).items():
            planned.setdefault(cell, set()).update(seeds)
    first = found[0]
    return SuiteResults(
        table,
        "+".join(dict.fromkeys(part for n in names for part in n.split("+"))),
        first.baseline,
        sum(f.unused for f in found),
        None,
        None,
        first.references,
        planned,
        first.design,
    )
