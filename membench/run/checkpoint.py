"""Mid-trial checkpoints: a long trial that is cut off (a session's end, Ctrl-C, SIGTERM, a lost
worker) goes on from its last checkpoint when the suite runs again, instead of from step 0.

Why: on 2 CPU cores one MQAR trial at zoology's budget trains for hours; without a checkpoint a
cut-off trial loses all of it. A checkpoint holds everything the training loop carries from one
step to the next: the weights, AdamW's moments, the learning-rate schedule, the data stream's
and dropout's random state, the evaluations so far and the seconds spent. A resumed trial
therefore trains the same steps on the same batches as one never cut off (bitwise on the CPU;
tests/test_checkpoint.py checks it), keeps its trial id, and its record says where it resumed
(`resumed_from_step`).

A checkpoint is written at an evaluation once `every_s` seconds of training have passed since
the last one (10 minutes by default, so short trials never write one; MEMBENCH_CHECKPOINT_MINUTES
sets it), replaced atomically, and removed once the trial's ok record is written (a failed
trial keeps its own, for a retry). One is used only where it matches the trial (`trial_key`: its
id, the model code, torch, the machine and threads); otherwise, or where its contents do not
fit, the trial starts again from step 0 and its record says why (`checkpoint_unused`).
Checkpoints are working files of one machine, not results: they live in RESULTS/checkpoints/
and are not committed. Trials trained as a pack (`--pack`, a GPU's default) write none.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from membench.errors import MembenchError
from membench.run.machine import machine
from membench.store.fingerprint import fingerprint

CHECKPOINTS = "checkpoints"  # RESULTS/checkpoints/<trial id>.pt
CHECKPOINT_EVERY_S = 600.0
EVERY_VARIABLE = "MEMBENCH_CHECKPOINT_MINUTES"


def interval_s() -> float:
    """Seconds of training between checkpoints: MEMBENCH_CHECKPOINT_MINUTES if set (0: at every
    evaluation, e.g. on machines that are taken away often), else 10 minutes."""
    text = os.environ.get(EVERY_VARIABLE)
    if text is None:
        return CHECKPOINT_EVERY_S
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not minutes >= 0:
        raise MembenchError(
            f"{EVERY_VARIABLE}={text!r}: must be minutes >= 0 (0: every evaluation)"
        )
    return 60.0 * minutes


@dataclass
class Checkpoints:
    """Where a trial's checkpoint lives and how often it is written."""

    folder: Path
    every_s: float = field(default_factory=interval_s)

    def path(self, trial_id: str) -> Path:
        return Path(self.folder) / f"{trial_id}.pt"

    def load(self, key: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """The saved state for the trial `key` names (`trial_key`), or None and, where a
        checkpoint exists but cannot be used, why not."""
        path = self.path(key["id"])
        if not path.exists():
            return None, None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a file cut off mid-write by a crash, or not a checkpoint
            return None, f"checkpoint {path} unreadable ({type(err).__name__}); trained from step 0"
        saved = state.get("key") if isinstance(state, dict) else None
        differs = [k for k in key if not isinstance(saved, dict) or saved.get(k) != key[k]]
        if differs:
            what = {"format": "checkpoint format", "id": "trial", "code": "model code"}
            return None, (
                f"checkpoint {path} is of another {what.get(differs[0], differs[0])}; trained "
                "from step 0"
            )
        return state, None

    def step_of(self, trial_id: str) -> int | None:
        """The step a trial's checkpoint reached (whether the trial can use it is decided when
        it resumes), or None without a readable one. Memory-mapped: cheap in a signal handler."""
        try:
            state = torch.load(
                self.path(trial_id), map_location="cpu", weights_only=True, mmap=True
            )
            return int(state["step"])
        except Exception:  # none, or a file a crash cut off
            return None

    def save(self, key: dict[str, Any], state: dict[str, Any]) -> bool:
        """Write atomically (a temporary file, then a rename): a crash mid-write leaves the
        previous checkpoint. False, with a warning, where it cannot be written (a full disk, a
        cluster node without the driver's disk): the trial trains on without checkpoints."""
        path = self.path(key["id"])
        partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": key, **state}, partial)
            os.replace(partial, path)
            return True
        except (OSError, RuntimeError) as err:  # torch's writer raises RuntimeError
            partial.unlink(missing_ok=True)
            warnings.warn(f"no checkpoint for trial {key['id']}: {err}", stacklevel=2)
            return False

    def remove(self, trial_id: str) -> None:
        self.path(trial_id).unlink(missing_ok=True)
        self.path(trial_id).with_name(f"{trial_id}.pt.partial").unlink(missing_ok=True)

    def done(self, record: dict[str, Any]) -> None:
        """After `record` is written: an ok record's checkpoint is no longer needed. (A failed
        trial keeps its own: a passing failure, a lost device, goes on from it on a retry.)"""
        if record.get("status") == "ok":
            self.remove(record["id"])


FORMAT = 1  # what a checkpoint holds; a file of another format is not used


def trial_key(spec, device: torch.device) -> dict[str, Any]:
    """What a checkpoint must match to be used: the format, the trial, the model code, torch
    and the machine (processor or GPU and threads), so a resumed trial is bitwise the one that
    was cut off (on the CPU; CUDA kernels need not be deterministic)."""
    return {
        "format": FORMAT,
        "id": spec.trial_id(),
        "code": fingerprint(spec.factory),
        "torch": str(torch.__version__),
        "machine": machine(device),
    }


class Resumable:
    """What `train_loop` carries from step to step, saved to and restored from a checkpoint
    (`membench.run.checkpoint`): weights, AdamW, the schedule, the data stream's and dropout's
    random state, the evaluations so far, the FLOPs of a step and the seconds spent."""

    def __init__(self, spec, device, model, optimizer, schedule, data, stopping, checkpoints):
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.data, self.stopping, self.device = data, stopping, device
        self.checkpoints = checkpoints
        self.key = trial_key(spec, device)
        self.saved_step: int | None = None  # the step of the checkpoint on disk, if any
        self.saved_at = time.perf_counter()
        self.resumed_from: int | None = None
        self.why_not: str | None = None

    def resume(self) -> tuple[int, float, float, float]:
        """Restore a usable checkpoint: (first step to train, FLOPs of a step, seconds and
        evaluation seconds spent). (1, 0, 0, 0) without one, or where restoring fails (a file of
        the right key whose contents do not fit): then everything is as before, and the record
        says why (`checkpoint_unused`)."""
        state, self.why_not = self.checkpoints.load(self.key) if self.checkpoints else (None, None)
        if state is None:
            return 1, 0.0, 0.0, 0.0
        before = self.snapshot()
        try:
            self.restore(state)
        except Exception as err:
            self.restore(before)
            self.why_not = f"checkpoint unusable ({type(err).__name__}: {err}); trained from step 0"
            return 1, 0.0, 0.0, 0.0
        self.resumed_from = self.saved_step = state["step"]
        return state["step"] + 1, state["step_flops"], state["seconds"], state["eval_seconds"]

    def snapshot(self) -> dict[str, Any]:
        """The loop's state now, copied (what `restore` puts back)."""
        import copy

        state = {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "schedule": self.schedule.state_dict(),
            "data": self.data.get_state(),
            "rng": torch.get_rng_state(),
            "curve": list(self.stopping.curve),
            "best": dict(self.stopping.best),
            "best_at": self.stopping.best_at,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("step", 0) >= self.stopping.cfg.steps:  # (never saved there: a bad file)
            raise ValueError(f"saved at step {state['step']}, the budget's last")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.data.set_state(state["data"])
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.stopping.curve = list(state["curve"])
        self.stopping.best, self.stopping.best_at = dict(state["best"]), state["best_at"]

    def maybe_save(self, step: int, step_flops: float, seconds: float, eval_seconds: float):
        """At an evaluation that did not end the trial: a checkpoint once `every_s` seconds have
        passed since the last (or since the start)."""
        if self.checkpoints is None or step == self.stopping.cfg.steps:
            return  # (at the last step the record follows at once)
        if time.perf_counter() - self.saved_at < self.checkpoints.every_s:
            return
        state = {
            "step": step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "data": self.data.get_state(),
            "rng": torch.get_rng_state(),
            "curve": self.stopping.curve,
            "best": self.stopping.best,
            "best_at": self.stopping.best_at,
            "step_flops": step_flops,
            "seconds": seconds,
            "eval_seconds": eval_seconds,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        if self.checkpoints.save(self.key, state):
            self.saved_step = step
        else:
            self.checkpoints = None  # the folder cannot be written here: train on without
        self.saved_at = time.perf_counter()

    def resumed_fields(self) -> dict[str, Any]:
        """The record's word on a resume: from which step, or why a checkpoint was not used."""
        out: dict[str, Any] = {}
        if self.resumed_from is not None:
            out["resumed_from_step"] = self.resumed_from
        if self.why_not:
            out["checkpoint_unused"] = self.why_not
        return out
