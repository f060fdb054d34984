"""Packed trials: trials that share a task instance and a model's shapes train as one program.

Why: a core-sized trial (d_model 64, batch 32) issues a few hundred tiny kernels a step, so on a
GPU one process per trial is bound by kernel launches, not arithmetic. A pack stacks its
members' parameters along a leading dimension and runs the model under `torch.func.vmap`: one
set of kernels trains every member.

Packing is how trials run, not what they are. Each member keeps its own data stream, initial
weights, AdamW state, learning-rate schedule, gradient clipping, evaluations and early stop; a
member that stops leaves the pack with its parameters as they were, and a member whose loss
becomes NaN fails alone. After training each member is an ordinary model again and its record
is made by the same code as `run_trial`'s (`finish_record`: knockouts, attention summary), so
records, their schema and trial ids do not change; the numbers agree with a lone run up to
floating-point summation order (tests/test_packed.py states the tolerance).

Only the built-in `encoder` without dropout packs (`unpackable` says why not): other models
run alone through `run_trial`, their record noting it, as do a pack's unfinished members if the
stacked program itself fails. Timings are the one thing a pack cannot give as a lone run would:
a member's `train_seconds` is its share of the pack's wall time (each step's time split over the
members still training, plus its own evaluations), so a suite's record seconds still add up to
the time it took.

This module goes from specs to records (which trials pack, the fallbacks, interleaving packs on
CUDA streams); the stacked arithmetic itself is `membench.run.stacked.Pack`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

import membench
from membench import tasks
from membench.config.identity import TrialSpec
from membench.run.checkpoint import Checkpoints
from membench.run.packing import pack_indices, pack_key, unpackable
from membench.run.record import start_record
from membench.run.stacked import Member, Pack
from membench.run.train import build, pick_device, run_trial


def run_packed(
    specs: list[TrialSpec], size: int, progress: Callable | None = None, graphs: bool = False
) -> list[dict[str, Any]]:
    """Every spec's record, in order, training them in packs of at most `size`."""
    records: dict[int, dict[str, Any]] = {}
    for pack in pack_indices(specs, size):
        members = [specs[i] for i in pack]
        for i, record in zip(pack, run_pack(members, progress, graphs), strict=True):
            records[i] = record
    return [records[i] for i in range(len(specs))]


def run_pack(
    specs: list[TrialSpec],
    progress: Callable | None = None,
    graphs: bool = False,
    done: Callable | None = None,
    checkpoints: Checkpoints | None = None,
) -> list[dict[str, Any]]:
    """Train `specs` (which `make_packs` put together) as one stacked program; one record per
    spec, as `run_trial` would make it. `progress`: None, or a callable receiving (index of the
    member in `specs`, the dict `run_trial`'s progress gets). `graphs`: on CUDA, replay each
    step as a CUDA graph (bench/packed.py measures it). `done`: None, or a callable receiving
    (index, record) the moment a member's record is complete (a sweep writes it then, so an
    interrupted pack keeps its finished members). `checkpoints`: where a trial that runs alone
    keeps its checkpoint (`membench.run.checkpoint`); packs write none (their members are short
    trials on a GPU)."""
    keys = {pack_key(s) for s in specs}
    if len(specs) == 1 or None in keys:
        records = []
        for i, spec in enumerate(specs):
            lone = None if progress is None else (lambda point, i=i: progress(i, point))
            record = run_trial(spec, lone, checkpoints)
            note = unpackable(spec) if len(specs) > 1 else None
            if note:
                record["notes"] = [*record.get("notes", []), note]
            records.append(record)
            if done:
                done(i, record)
        return records
    if len(keys) > 1:
        raise ValueError("run_pack: these trials differ in task, model or batch; use make_packs")
    training = PackRun(specs, progress, graphs, done)
    for _ in training.steps():
        pass
    return training.records


def run_interleaved(packs: list[list[TrialSpec]], graphs: bool = False) -> list[list[dict]]:
    """Each pack's records, training the packs at once in this process: one step of each in
    turn, each pack on its own CUDA stream. Why: the tiny kernels of different packs can then
    overlap on a GPU, which processes sharing it cannot (they take turns). On CPU it is the
    same work as one pack after another. A trial that cannot pack runs alone afterwards."""
    runs: list[PackRun | None] = []
    for pack in packs:
        if pack_key(pack[0]) is None:
            runs.append(None)
            continue
        stream = None
        if pick_device(pack[0].training.device).type == "cuda":
            stream = torch.cuda.Stream()
        with on_stream(stream):  # a pack allocates and computes on its own stream only
            runs.append(PackRun(pack, None, graphs, None, stream))
    live = [(run, run.steps()) for run in runs if run is not None]
    while live:
        still = []
        for run, steps in live:
            with on_stream(run.stream):
                if next(steps, None) is not None:
                    still.append((run, steps))
        live = still
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    pairs = zip(packs, runs, strict=True)
    return [run_pack(pack) if run is None else run.records for pack, run in pairs]


def on_stream(stream):
    return contextlib.nullcontext() if stream is None else torch.cuda.stream(stream)


class PackRun:
    """One pack from specs to records: builds its members, trains them as a `Pack` step by
    step (`steps` yields after each), and should the stacked program fail, trains each
    unfinished member alone with a note."""

    def __init__(self, specs, progress, graphs, done, stream=None):
        self.specs, self.progress, self.done, self.stream = specs, progress, done, stream
        device = pick_device(specs[0].training.device)
        task = tasks.get(specs[0].task)
        self.members = [Member(i, s, start_record(s, device)) for i, s in enumerate(specs)]
        self.pack, self.error = None, None
        try:
            for m in self.members:
                _, m.model = build(m.spec, device)
            self.pack = Pack(self.members, task, device, progress, graphs, done)
        except membench.errors.MembenchError:
            raise
        except Exception as err:
            self.error = err

    def steps(self):
        try:
            if self.error is None:
                yield from self.pack.run()
        except membench.errors.MembenchError:
            raise
        except Exception as err:
            self.error = err
        if self.error is not None:  # the stacked program broke: each unfinished member alone
            self.alone(self.error)

    def alone(self, err: Exception) -> None:
        note = f"ran unpacked: the pack failed ({type(err).__name__}: {err})"
        progress = self.progress
        for m in self.members:
            if not m.done:
                lone = None if progress is None else (lambda point, i=m.index: progress(i, point))
                m.record = run_trial(m.spec, lone)
                m.record["notes"] = [*m.record.get("notes", []), note]
                m.done = True
                if self.done:
                    self.done(m.index, m.record)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m.record for m in self.members]
