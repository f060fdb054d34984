"""Mid-trial checkpoints: a long trial that is cut off (a session's end, Ctrl-C, SIGTERM, a lost
worker) goes on from its last checkpoint when the suite runs again, instead of from step 0.

Why: on 2 CPU cores one MQAR trial at zoology's budget trains for hours; without a checkpoint a
cut-off trial loses all of it. What a checkpoint holds is everything the training loop carries
from one step to the next: the weights, AdamW's moments, the learning-rate schedule, the data
stream's and dropout's random state, the evaluations so far and the seconds spent. A resumed
trial therefore trains the same steps on the same batches as one never cut off (bitwise on the
same machine type; tests/test_checkpoint.py checks it), keeps its trial id, and its record says
where it resumed (`resumed_from_step`).

A checkpoint is written at an evaluation once `every_s` seconds of training have passed since
the last one (10 minutes by default, so short trials never write one; MEMBENCH_CHECKPOINT_MINUTES
sets it), replaced atomically, and removed when the trial's record is complete. One is used only
by the same trial (id), the same model code (fingerprint), the same torch and the same kind of
device; otherwise the trial starts again from step 0 and says why. Checkpoints are working files
of one machine, not results: they live in RESULTS/checkpoints/ and are not committed.
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

    def load(self, key: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
        """The saved state for the trial `key` names (id, code, torch, device), or None and,
        where a checkpoint exists but cannot be used, why not."""
        path = self.path(key["id"])
        if not path.exists():
            return None, None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a file cut off mid-write by a crash, or not a checkpoint
            return None, f"checkpoint {path} unreadable ({type(err).__name__}); trained from step 0"
        differs = [k for k in key if state.get("key", {}).get(k) != key[k]]
        if differs:
            return None, f"checkpoint {path} is for another {differs[0]}; trained from step 0"
        return state, None

    def step_of(self, trial_id: str) -> int | None:
        """The step a trial's checkpoint reached, or None without a readable one."""
        try:
            return int(torch.load(self.path(trial_id), weights_only=True)["step"])
        except Exception:  # none, or a file a crash cut off
            return None

    def save(self, key: dict[str, str], state: dict[str, Any]) -> bool:
        """Write atomically (a temporary file, then a rename): a crash mid-write leaves the
        previous checkpoint. False, with a warning, where the folder cannot be written (a
        cluster node without the driver's disk): the trial trains on without checkpoints."""
        path = self.path(key["id"])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            torch.save({"key": key, **state}, partial)
            os.replace(partial, path)
            return True
        except OSError as err:
            warnings.warn(f"no checkpoint for trial {key['id']}: {err}", stacklevel=2)
            return False

    def remove(self, trial_id: str) -> None:
        self.path(trial_id).unlink(missing_ok=True)


class Resumable:
    """What `train_loop` carries from step to step, saved to and restored from a checkpoint
    (`membench.run.checkpoint`): weights, AdamW, the schedule, the data stream's and dropout's
    random state, the evaluations so far, the FLOPs of a step and the seconds spent."""

    def __init__(self, spec, device, model, optimizer, schedule, data, stopping, checkpoints):
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.data, self.stopping, self.device = data, stopping, device
        self.checkpoints = checkpoints
        self.key = {
            "id": spec.trial_id(),
            "code": fingerprint(spec.factory),
            "torch": str(torch.__version__),
            "device": device.type,
        }
        self.saved_step: int | None = None  # the step of the checkpoint on disk, if any
        self.saved_at = time.perf_counter()
        self.resumed_from: int | None = None
        self.why_not: str | None = None

    def resume(self) -> tuple[int, float, float, float]:
        """Restore a usable checkpoint: (first step to train, FLOPs of a step, seconds and
        evaluation seconds spent). (1, 0, 0, 0) without one."""
        state, self.why_not = self.checkpoints.load(self.key) if self.checkpoints else (None, None)
        if state is None:
            return 1, 0.0, 0.0, 0.0
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.data.set_state(state["data"])
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.stopping.curve = state["curve"]
        self.stopping.best, self.stopping.best_at = state["best"], state["best_at"]
        self.resumed_from = self.saved_step = state["step"]
        return state["step"] + 1, state["step_flops"], state["seconds"], state["eval_seconds"]

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
