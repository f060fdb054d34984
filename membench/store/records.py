"""Trial records on disk: one JSON file per trial under RESULTS/trials/, written atomically
(temp file + fsync + rename) so a killed driver never leaves half a record; which trials of a
suite are done, failed, running or stale; the suite file naming a run's trials.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from membench.errors import MembenchError
from membench.store.fingerprint import fingerprint, is_stale
from membench.suite.schema import check_record

if TYPE_CHECKING:
    from membench.suite.trials import Trial

TRIALS = "trials"
SUITE_FILE = "suite.json"  # which trials (ids, in table order) the last `membench run` ran here


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
    """done | failed | stale | cut | todo for each trial id, from the records on disk. stale: an
    ok record made by other model code than would run now (membench.fingerprint); cut: a record
    of a trial interrupted before it finished (trained again like a missing one)."""
    records = read_records(directory) if directory.is_dir() else {}
    current: dict[str | None, dict] = {}
    states = {}
    for t in trials:
        record = records.get(t.id, {})
        state = {"ok": "done", "failed": "failed", "interrupted": "cut"}
        state = state.get(record.get("status"), "todo")
        if state == "done":
            factory = t.spec.factory
            if factory not in current:
                current[factory] = fingerprint(factory)
            if is_stale(record, current[factory]):
                state = "stale"
        states[t.id] = state
    return states


def select(trials, states, rerun_failed: bool, force: bool, rerun_stale: bool = False):
    """The trials to train: missing and cut-off ones, plus failed or stale ones or all of them
    on request."""
    if force:
        return list(trials)
    wanted = {
        "todo",
        "cut",
        *(["failed"] if rerun_failed else []),
        *(["stale"] if rerun_stale else []),
    }
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


def plain(x: Any) -> Any:
    """JSON's view of a value (tuples become lists), so a definition read back compares equal."""
    return json.loads(json.dumps(x))


def differences(old: dict, new: dict, at: str = "") -> list[str]:
    """Where two suite definitions differ, as key paths with old -> new values."""
    out = []
    for key in dict.fromkeys([*old, *new]):
        where = f"{at}.{key}" if at else key
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if a == b or a == "<absent>" and not b or b == "<absent>" and not a:
            continue  # a key one side lacks holds its empty default on the other: the same
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, where)
        elif a == "<absent>" or b == "<absent>":
            out.append(f"{where} {'added' if a == '<absent>' else 'removed'}")
        else:
            text = f"{where}: {json.dumps(a)} -> {json.dumps(b)}"
            out.append(text if len(text) <= 80 else f"{where} changed")
    return out


def check_owner(results: Path, suite, listed_now: list[str] | None = None) -> None:
    """A results folder stands for the suite that made it (suite.json): a run of a different
    suite, or of this one changed, into it is refused in one line naming what differs, so a
    shipped reference is never silently rewritten by an edited copy: another suite file may run
    into it only if it defines the very same suite, names included (or with `--update-suite`,
    which the caller skips this for). The folder's own file may change (adding a variant to a
    suite trains only that variant). A folder from before suite.json held a definition is
    checked by its trial list (`listed_now`, where a suite's trials do not depend on records)."""
    listing = results / SUITE_FILE
    if not listing.is_file():
        return
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise MembenchError(f"{listing}: unreadable ({err}); move the folder aside") from None
    fix = f"run it into a folder of its own (--results runs/{suite.name})"
    if data.get("suite") != suite.name:
        raise MembenchError(
            f"{results}: holds suite '{data.get('suite')}' (suite.json), not '{suite.name}': {fix}"
        )
    now = plain(suite.definition)
    recorded_path = Path(data.get("path", ""))
    other_file = (
        not recorded_path.is_file() or recorded_path.resolve() != Path(suite.path).resolve()
    )
    if not other_file:  # its own file, edited: the folder follows it (a new variant trains alone)
        return
    if "definition" in data:  # another file: only the very same suite may run into it
        changed = differences(data["definition"], now)
    else:  # a folder from before definitions: its trials decide, where they are fixed
        listed = sorted(t["id"] for t in data["trials"])
        same = listed_now is None or listed == sorted(listed_now)
        changed = [] if same else [f"trials: {len(listed)} there, {len(listed_now)} in the file"]
    if changed:
        shown = "; ".join(changed[:3]) + (
            f"; and {len(changed) - 3} more" if len(changed) > 3 else ""
        )
        raise MembenchError(
            f"{results}: holds suite '{suite.name}' made by {recorded_path}, and {suite.path} "
            f"differs ({shown}): {fix}, or pass --update-suite to let it stand for this file"
        )


def write_suite_file(
    results: Path, suite, trials: list[Trial], tuning: list[Trial] | None = None, choices=None
) -> Path:
    """RESULTS/suite.json: the suite that owns this folder and its trials in table order, so a
    later `membench report RESULTS` compares those trials only (never runs of other settings).
    A tuned suite also lists its tuning trials and the choices made from them."""
    ordered = suite.ordered(trials)
    path = str(suite.path)
    try:  # an identical suite from another file leaves the folder's own file recorded
        old = json.loads((results / SUITE_FILE).read_text(encoding="utf-8"))
        if Path(old.get("path", "")).is_file() and old.get("definition") == plain(suite.definition):
            path = old["path"]
    except (OSError, ValueError):
        pass
    data = {
        "suite": suite.name,
        "path": path,
        "baseline": suite.baseline,
        "trials": [dict(id=t.id, task=t.task, variant=t.variant, seed=t.seed) for t in ordered],
    }
    if suite.references:
        data["references"] = suite.references
    data["design"] = suite.design
    data["definition"] = plain(suite.definition)
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
                dict(id=t.id, task=t.task, variant=t.variant, seed=t.seed, point=t.tuning["point"])
                for t in suite.ordered(tuning or [])
            ],
            "choices": [
                dict(zip(tune.per, key, strict=True))
                | dict(point=c.point, score=c.score, chosen_from=list(c.trials))
                for key, c in (choices or {}).items()
            ],
        }
    results.mkdir(parents=True, exist_ok=True)
    return write_atomic(results / SUITE_FILE, json.dumps(data, indent=1))
