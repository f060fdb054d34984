"""How long trials will take here, before they run: each trial from the records of its cell in
the results folder (their mean wall time), else from a few training steps and one evaluation
timed on this machine (its budget at that rate: an upper bound, since a trial that solves
stops early); in total for the slots available, with Ray's fixed costs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch

from membench.models.loss import scored_only
from membench.run.evaluation import evaluate
from membench.run.train import build, make_optimizer, train_step, training_batches
from membench.store.records import TRIALS, read_records
from membench.suite.trials import Suite, Trial

RAY_START = 12.0  # seconds: ray.init, each worker's first import of torch, Tune's set-up and
# the report (smoke on the 2-core machine: 12 s of its 71 s outside the trials; bench/RESULTS.md)
PER_TRIAL = 3.0  # seconds: Tune's cost per trial and a trial's own set-up and last evaluation
TIMED_STEPS = 5  # training steps timed, after 2 that warm up


@dataclass
class Estimate:
    seconds: dict[str, float]  # trial id -> estimated wall seconds
    measured: int  # trials estimated from a timing here (the others: from records)
    slots: int

    @property
    def total(self) -> float:
        """Wall seconds on `slots` slots: the work spread evenly, never below the longest."""
        if not self.seconds:
            return 0.0
        work = sum(s + PER_TRIAL for s in self.seconds.values())
        return RAY_START + max(work / self.slots, max(self.seconds.values()) + PER_TRIAL)


def recorded_seconds(record: dict) -> float | None:
    """A record's wall time, start to end (training, evaluations, knockouts)."""
    try:
        start = datetime.fromisoformat(record["start_time"])
        end = datetime.fromisoformat(record["end_time"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (end - start).total_seconds())


def timed_seconds(spec) -> float:
    """A trial's budget at the step and evaluation rate timed here (one thread, the CPU)."""
    cfg = spec.training
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        task, model = build(spec, torch.device("cpu"))
        optimizer = make_optimizer(model, cfg)
        batches = training_batches(spec, task, torch.Generator().manual_seed(spec.seed))
        scored = scored_only(model, task)
        for i in range(2 + TIMED_STEPS):
            if i == 2:
                start = time.perf_counter()
            src, tgt = next(batches)
            train_step(model, optimizer, src, tgt, cfg.grad_clip, scored)
        per_step = (time.perf_counter() - start) / TIMED_STEPS
        src, tgt = task.generate(
            cfg.eval_size, torch.Generator().manual_seed(1), **spec.task_params
        )
        start = time.perf_counter()
        evaluate(model, src, tgt)
        per_eval = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return cfg.steps * per_step + math.ceil(cfg.steps / cfg.eval_every) * per_eval


def estimate(trials, directory: Path, slots: int, most: int | None = None) -> Estimate:
    """Each trial's seconds: the mean wall time of its cell's records where the folder holds
    any (same task, variant, model and training), else its budget timed here once per cell
    (at most `most` cells timed; the others take the median of those)."""
    records = read_records(directory) if directory.is_dir() else {}
    seen: dict[str, list[float]] = {}
    for record in records.values():
        seconds = recorded_seconds(record)
        if seconds is not None and record.get("status") == "ok":
            seen.setdefault(cell_key(record), []).append(seconds)
    out, timed, measured = {}, {}, 0
    for t in trials:
        key = cell_key(t.spec.to_dict())
        if key in seen:
            out[t.id] = sum(seen[key]) / len(seen[key])
            continue
        if key not in timed:
            known = [v for v in timed.values() if math.isfinite(v)]
            if most is not None and len(timed) >= most:
                timed[key] = sorted(known)[len(known) // 2] if known else math.nan
            else:
                timed[key] = timed_seconds(t.spec) if not t.spec.factory else math.nan
        out[t.id] = timed[key]
        measured += 1
    out = {k: v for k, v in out.items() if math.isfinite(v)}  # a user's model: not timed
    return Estimate(out, measured, max(1, slots))


def local_slots(cpu_per_trial: float) -> int:
    """Trials at once on a local Ray sized to this machine."""
    import os

    return max(1, int((os.cpu_count() or 1) // max(cpu_per_trial, 1e-9)))


def describe(est: Estimate, trials: int) -> str:
    """One line: the total and where the per-trial numbers come from."""
    from membench.run.display import clock

    if not est.seconds:
        return "estimate: none (a user's model is not timed before it runs)"
    mean = sum(est.seconds.values()) / len(est.seconds)
    parts = []
    if est.measured:
        parts.append(f"{est.measured} timed here at their full budget; those that solve early "
                     "take less")  # fmt: skip
    if len(est.seconds) - est.measured:
        parts.append(f"{len(est.seconds) - est.measured} from their cells' records here")
    untimed = trials - len(est.seconds)
    if untimed:
        parts.append(f"{untimed} of a user's model not timed")
    return (
        f"estimate: about {clock(est.total)} on {est.slots} slot{'s' * (est.slots != 1)}, "
        f"~{mean:.0f} s a trial ({'; '.join(parts)})"
    )


def cell_key(spec: dict) -> str:
    """What decides a trial's cost: its identity (defaults normalised as trial ids are, so old
    records match) less the seed."""
    import json

    from membench.config.identity import TrialSpec

    fields = ("task", "task_params", "model", "train", "factory")
    try:
        identity = TrialSpec(**{k: spec.get(k) for k in fields}, seed=0).identity()
    except Exception:  # a record of another shape: its own cell
        return json.dumps([spec.get(k) for k in fields], sort_keys=True, default=str)
    return json.dumps(identity, sort_keys=True)


def live_estimate(
    suite: Suite, todo: list[Trial], results: Path, max_concurrent: int | None = None
) -> tuple[dict[str, float], int]:
    """Each trial's estimated seconds (`run.estimate`: records of its cell, else a timing here
    of at most 8 cells, on CPU only) and the slots, for the live ETA from the start."""
    import ray

    have = ray.cluster_resources()
    slots = int(have.get("CPU", 1) // max(suite.resources.cpu, 1e-9))
    if suite.resources.gpu > 0:  # trials on GPUs: as many at once as the GPUs hold
        slots = min(slots, int(have.get("GPU", 0) // suite.resources.gpu) or 1)
    if max_concurrent:
        slots = min(slots, max_concurrent)
    most = 8 if suite.resources.gpu == 0 else 0
    try:
        est = estimate(todo, results / TRIALS, slots, most=most)
    except Exception:  # an estimate is a convenience: a model that fails here fails in its trial
        return {}, slots
    return est.seconds, est.slots
