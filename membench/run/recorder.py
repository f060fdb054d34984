"""In the driver of a sweep: each record written the moment its trial reports it, the live
display fed, and each running trial's evaluations kept, so a trial cut off (Ctrl-C, a time
limit's SIGTERM, a lost worker) leaves a record that says so."""

from __future__ import annotations

import json
from pathlib import Path

from ray.tune import Callback

from membench.run.checkpoint import Checkpoints
from membench.run.display import SweepProgress
from membench.run.record import interrupted_fields, now
from membench.store.fingerprint import fingerprint
from membench.store.records import write_record
from membench.suite.schema import RECORD_SCHEMA_VERSION


class Recorder(Callback):
    """In the driver: feeds the display, writes each record the moment it arrives, and keeps
    each running trial's evaluations, so a trial cut off (Ctrl-C, SIGTERM, a lost worker)
    leaves a record that says so (`cut_off`)."""

    def __init__(self, jobs, directory: Path, suite: str, progress: SweepProgress):
        self.jobs, self.directory, self.suite, self.progress = jobs, directory, suite, progress
        self.running: dict[str, tuple[dict, str, list]] = {}  # key -> job, start, curve so far

    def __getstate__(self):
        return {}  # Tune pickles callbacks for its own resume; membench resumes from records

    # the display follows membench trials: a pack's member is "<Tune trial id>/<index>"
    def on_trial_start(self, iteration, trials, trial, **info):
        for i, job in enumerate(trial.config["trial"]["members"]):
            self.progress.start(f"{trial.trial_id}/{i}", self.jobs[job])
            self.running[f"{trial.trial_id}/{i}"] = (self.jobs[job], now(), [])

    on_trial_recover = on_trial_start  # a lost worker's trial starts again from scratch

    def on_trial_result(self, iteration, trials, trial, result, **info):
        text = result.pop("record", None)  # popped: Tune need not keep ~100 KB per trial
        member = int(result.get("member", 0))
        key = f"{trial.trial_id}/{member}"
        if text is None:
            self.progress.update(key, result)
            if key in self.running and "step" in result:
                point = {k: result[k] for k in CURVE if k in result}
                self.running[key][2].append(point)
            return
        self.running.pop(key, None)
        job = self.jobs[trial.config["trial"]["members"][member]]
        record = {**json.loads(text), **job["labels"]}
        for name, value in (record.get("metrics") or {}).items():  # for the loggers after us
            if isinstance(value, int | float) and not isinstance(value, bool):
                result[f"final/{name}"] = value
        write_record(self.directory, record)
        if job.get("checkpoints"):  # written: its checkpoint is no longer needed
            Checkpoints(Path(job["checkpoints"])).done(record)
        self.progress.finish(key, record)

    def on_trial_error(self, iteration, trials, trial, **info):
        keys = [f"{trial.trial_id}/{i}" for i in range(len(trial.config["trial"]["members"]))]
        self.cut_off(LOST, keys)
        for key in keys:
            self.progress.lose(key)

    def cut_off(self, reason: str, keys: list[str] | None = None) -> None:
        """A record (status interrupted, the curve so far) for each running trial of `keys`
        (default: all) that has none: it started and did not finish. A resume retrains it."""
        for key in list(self.running) if keys is None else keys:
            if key not in self.running:
                continue
            job, start, curve = self.running.pop(key)
            steps = curve[-1]["step"] if curve else 0
            folder = job.get("checkpoints")  # the step its checkpoint reached: a resume goes on
            saved = Checkpoints(Path(folder)).step_of(job["id"]) if folder else None
            record = {
                "schema_version": RECORD_SCHEMA_VERSION,
                "id": job["id"],
                **job["spec"],
                **interrupted_fields(curve, steps, reason, saved),
                "code": fingerprint(job["spec"].get("factory")),
                "start_time": start,
                "end_time": now(),
                **job["labels"],
            }
            write_record(self.directory, record)


CURVE = ("step", "loss", "token_accuracy", "exact_match")  # a curve point's fields
LOST = "cut off: the worker (or node) running it was lost"
