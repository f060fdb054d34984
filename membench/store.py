"""Trial records on disk: one JSON file per trial under RESULTS/trials/, written atomically
(temp file + fsync + rename) so a killed driver never leaves half a record; loaded as a DataFrame.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from membench.errors import MembenchError
from membench.fingerprint import fingerprint, is_stale, recorded
from membench.metrics import aulc
from membench.schema import check_record

if TYPE_CHECKING:
    import pandas as pd

    from membench.suite import Trial

TRIALS = "trials"
SUITE_FILE = "suite.json"  # which trials (ids, in table order) the last `membench run` ran here
DIGITS = re.compile(r"(\d+)")
METRICS = (
    "token_accuracy",
    "exact_match",
    "final_loss",
    "steps_to_solve",
    "solve_rate",
    "aulc",
    "params",
    "train_flops",
    "train_seconds",
    "tokens_per_second",
    "chance",
    "exact_match_no_read",
    "exact_match_no_write",
    "token_accuracy_no_read",
    "token_accuracy_no_write",
)
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


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` to `path` through a temp file beside it (fsync, rename): readers see the old
    file or the new, never half; the mode is a plain open()'s (0666 less the umask), not the
    temp file's 0600. The one writer of membench's records, listings and reports."""
    prefix = f".{path.stem}.{os.getpid()}."  # the pid tells a stale temp file from a live one
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = current_umask()  # read once: os.umask can only be read by setting it


def write_record(directory: Path, record: dict[str, Any]) -> Path:
    """Atomically write `record` as DIRECTORY/<id>.json (readers see the old file or the new)."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_atomic(directory / f"{record['id']}.json", json.dumps(record, indent=1))


def read_record(path: Path) -> dict[str, Any]:
    """One record file, checked against the record schema; a bad one is one line (MembenchError)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise MembenchError(
            f"{path}: not a valid trial record ({type(err).__name__}: {err}); delete it and "
            "rerun the suite"
        ) from None
    if not isinstance(record, dict):
        raise MembenchError(f"{path}: not a valid trial record (not a JSON object)")
    check_record(record, str(path))
    return record


def read_records(directory: Path, strict: bool = False) -> dict[str, dict[str, Any]]:
    """{id: record} of DIRECTORY/*.json. Unreadable files are skipped (they are trained again and
    overwritten) unless `strict`, where they are an error."""
    records = {}
    for path in sorted(directory.glob("*.json")):
        try:
            record = read_record(path)
        except MembenchError:
            if strict:
                raise
            continue
        records[record["id"]] = record
    return records


def remove_stale_temps(directory: Path) -> None:
    """Temp files left by a driver that was killed mid-write (their writer pid is gone)."""
    for path in directory.glob(".*.tmp"):
        pid = path.name.split(".")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def trial_states(trials: list[Trial], directory: Path) -> dict[str, str]:
    """done | failed | stale | todo for each trial id, from the records on disk. stale: an ok
    record made by other model code than would run now (membench.fingerprint)."""
    records = read_records(directory) if directory.is_dir() else {}
    current: dict[str | None, dict] = {}
    states = {}
    for t in trials:
        record = records.get(t.id, {})
        state = {"ok": "done", "failed": "failed"}.get(record.get("status"), "todo")
        if state == "done":
            factory = t.spec.factory
            if factory not in current:
                current[factory] = fingerprint(factory)
            if is_stale(record, current[factory]):
                state = "stale"
        states[t.id] = state
    return states


def select(trials, states, rerun_failed: bool, force: bool, rerun_stale: bool = False):
    """The trials to train: missing ones, plus failed or stale ones or all of them on request."""
    if force:
        return list(trials)
    wanted = {"todo", *(["failed"] if rerun_failed else []), *(["stale"] if rerun_stale else [])}
    return [t for t in trials if states[t.id] in wanted]


def labels(suite: str, trial: Trial) -> dict[str, Any]:
    """What a record says about its place in a suite (names, and a tuned suite's phase/point)."""
    out = {"suite": suite, "task_label": trial.task, "variant": trial.variant}
    if trial.tuning is not None:
        out["tuning"] = trial.tuning
    return out


def relabel(suite: str, trials: list[Trial], directory: Path) -> None:
    """Records carry the suite's current names (a renamed variant keeps its trials)."""
    records = read_records(directory) if directory.is_dir() else {}
    for t in trials:
        record = records.get(t.id)
        new = labels(suite, t)
        if record and any(record.get(k) != v for k, v in new.items()):
            write_record(directory, {**record, **new})


def trial_table(directory: Path, trials: list[Trial]) -> pd.DataFrame:
    """The recorded ones of `trials` as load_results' rows, labelled by the trials (task,
    variant, seed; `point`: a tuning point's label). Trials without a record are absent."""
    import pandas as pd

    records = read_records(directory) if directory.is_dir() else {}
    rows = []
    for t in trials:
        if t.id in records:
            row = flatten(records[t.id])
            row.update(task=t.task, variant=t.variant, seed=t.seed)
            row["point"] = (t.tuning or {}).get("label")
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["id", "task", "variant", "seed", "status"])


def write_suite_file(
    results: Path, suite, trials: list[Trial], tuning: list[Trial] | None = None, choices=None
) -> Path:
    """RESULTS/suite.json: the suite that owns this folder and its trials in table order, so a
    later `membench report RESULTS` compares those trials only (never runs of other settings).
    A tuned suite also lists its tuning trials and the choices made from them."""
    from membench.tuning import point_label

    ordered = suite.ordered(trials)
    data = {
        "suite": suite.name,
        "path": str(suite.path),
        "baseline": suite.baseline,
        "trials": [dict(id=t.id, task=t.task, variant=t.variant, seed=t.seed) for t in ordered],
    }
    if suite.tune is not None:
        tune = suite.tune
        data["tuning"] = {
            "metric": tune.metric,
            "per": list(tune.per),
            "margin": tune.margin,
            "space": tune.space,
            "points": tune.points,
            "seeds": tune.seeds,
            "trials": [
                dict(id=t.id, task=t.task, variant=t.variant, seed=t.seed, point=t.tuning["label"])
                for t in suite.ordered(tuning or [])
            ],
            "choices": [
                dict(zip(tune.per, key, strict=True))
                | dict(point=point_label(c.point), score=c.score, chosen_from=list(c.trials))
                for key, c in (choices or {}).items()
            ],
        }
    results.mkdir(parents=True, exist_ok=True)
    return write_atomic(results / SUITE_FILE, json.dumps(data, indent=1))


@dataclass
class SuiteResults:
    """The trials of the suite that last ran in a results folder, in its table order."""

    table: pd.DataFrame
    suite: str | None  # None: the folder has no suite.json, every record is used
    baseline: str | None
    unused: int  # records in the folder that belong to other settings
    tuning: pd.DataFrame | None = None  # a tuned suite's tuning trials (column `point`)
    tune: dict | None = None  # suite.json's tuning section: metric, space, margin, choices


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
        for key in ("task", "variant", "seed", "point"):
            tuning[key] = tuning["id"].map(lambda i, key=key: points[i][key])
        rank = {t["id"]: i for i, t in enumerate(tune["trials"])}  # the suite's order
        tuning = tuning.iloc[tuning["id"].map(rank).argsort()].reset_index(drop=True)
    unused = int((~mine & ~tuned).sum())
    if "path" in data:  # a factory's module is found as `membench run` found it
        from membench.suite import add_code_paths

        add_code_paths([str(Path(data["path"]).resolve().parent), os.getcwd()])
    table["stale"] = stale_rows(table)
    return SuiteResults(table, data.get("suite"), data.get("baseline"), unused, tuning, tune)


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
    row["curve"] = record.get("curve") or []
    row["stopped"] = record.get("stopped")  # solved | plateau | budget (None: older records)
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
