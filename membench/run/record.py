"""A trial's record: what is known before training (`start_record`), what the trained model adds
(`finish_record`: metrics, curve, knockouts, attention summary), a failure's error, and the
fields of a trial cut off before it finished. JSON-ready; the caller writes it."""

from __future__ import annotations

import socket
import traceback
from datetime import datetime, timezone
from typing import Any

import torch

import membench
from membench.config.identity import TrialSpec
from membench.models.attention_flops import FLOPS_COUNT
from membench.run.evaluation import EVAL_SEED, evaluate
from membench.run.machine import cpu_model
from membench.store.fingerprint import fingerprint
from membench.suite.schema import RECORD_SCHEMA_VERSION

ATTENTION_EXAMPLES = 32  # held-out examples the attention summary averages over


def interrupted_fields(
    curve: list[dict[str, Any]], steps: int, reason: str, checkpoint_step: int | None = None
) -> dict[str, Any]:
    """A record's fields for a trial cut off before it finished (Ctrl-C, a time limit's SIGTERM,
    a lost worker or device): its evaluations so far and the steps they reach. Reports count it
    as started, not finished; a resume trains it again, from its checkpoint where one was
    written (`checkpoint_step`), else from the start."""
    last = curve[-1] if curve else {}
    metrics = {"steps_trained": steps, "solved": False}
    metrics |= {k: last[k] for k in ("token_accuracy", "exact_match") if k in last}
    fields = {
        "status": "interrupted",
        "stopped": "interrupted",
        "error": reason,
        "curve": curve,
        "metrics": metrics,
    }
    if checkpoint_step is not None:
        fields["checkpoint_step"] = checkpoint_step
    return fields


def knockout_metrics(spec: TrialSpec, model, task, device) -> dict[str, float]:
    """The trained model on the held-out set again with memory reads, then writes, knocked out
    (`membench.models.knockout`): `exact_match_no_read`, `token_accuracy_no_read`, and the same
    `_no_write`. Nothing for a model without memory or a user's model (no knockouts). A
    recurrent model with several segments also gets each segment cut alone, `_seg1` the first
    (`exact_match_no_write_seg1`, ...: which segments' writes the answers need); scalars, as a
    record's metrics must be."""
    from membench.models import knockout

    if not spec.model.get("mem_tokens") or not hasattr(model, "knockout"):
        return {}
    held_out = torch.Generator(device=device).manual_seed(EVAL_SEED)
    eval_src, eval_tgt = task.generate_held_out(
        spec.training.eval_size, held_out, **spec.task_params
    )
    out = {}
    for kind in ("read", "write"):
        with knockout(model, kind):
            scores = evaluate(model, eval_src, eval_tgt)
        out |= {f"{name}_no_{kind}": value for name, value in scores.items()}
    segments = range(len(model.bounds) if hasattr(model, "knockout_segment") else 0)
    for kind in ("read", "write") if len(segments) > 1 else ():
        for i in segments:
            with knockout(model, kind, segment=i):
                scores = evaluate(model, eval_src, eval_tgt)
            out |= {f"{name}_no_{kind}_seg{i + 1}": value for name, value in scores.items()}
    return out


def start_record(spec: TrialSpec, device: torch.device) -> dict[str, Any]:
    """A record's fields known before training."""
    return {
        "schema_version": RECORD_SCHEMA_VERSION,
        "id": spec.trial_id(),
        **spec.to_dict(),
        "status": "ok",
        "error": None,
        "device": str(device),
        "host": socket.gethostname(),
        "cpu": cpu_model(),  # results are bitwise identical only on one machine type
        "threads": torch.get_num_threads(),  # what the record's seconds were timed with
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "versions": {"membench": membench.__version__, "torch": torch.__version__},
        "code": fingerprint(spec.factory),  # which model code made it: stale records are caught
        "flops_count": FLOPS_COUNT,  # how train_flops is counted (attention included)
        "start_time": now(),
    }


def finish_record(record, spec: TrialSpec, model, task, device, result: dict[str, Any]) -> None:
    """Fill `record` from `train_loop`'s result and the trained model: metrics, curve,
    knockouts, attention summary."""
    curve = result.pop("curve")
    record["stopped"] = result.pop("stopped")  # solved | plateau | budget
    for key in ("resumed_from_step", "checkpoint_unused"):  # a checkpoint's word, if any
        if key in result:
            record[key] = result.pop(key)
    per_position = result.pop("per_position")
    record["per_position"] = per_position and {"token_accuracy": per_position}
    record["metrics"] = {
        **result,
        "params": sum(p.numel() for p in model.parameters()),
        "chance": task.chance(**spec.task_params),
    }
    record["curve"] = curve
    record["metrics"].update(knockout_metrics(spec, model, task, device))
    if spec.training.attention:
        from membench.analysis.attention import summarize

        held_out = torch.Generator(device=device).manual_seed(EVAL_SEED)
        eval_src, _ = task.generate_held_out(spec.training.eval_size, held_out, **spec.task_params)
        _, tgt_len = task.lengths(**spec.task_params)
        record["attention"] = summarize(model, eval_src[:ATTENTION_EXAMPLES], tgt_len)
        if record["attention"] is None:  # a built-in model says why; a user's has no layout
            record["notes"] = [getattr(model, "no_layout", None) or NO_LAYOUT]


def fail_record(record, spec: TrialSpec, err: Exception) -> None:
    whose = f"factory {spec.factory}: " if spec.factory else ""  # a user's model: say whose
    record.update(status="failed", error=f"{whose}{type(err).__name__}: {err}")
    record["traceback"] = traceback.format_exc(limit=-8)


INTERRUPTED = "interrupted (Ctrl-C or SIGTERM) before it finished"

NO_LAYOUT = (
    "no attention summary: the model has no `layout` attribute and `forward(..., "
    "return_attention=True)` (docs/variants.md: 'Your own model' says how to opt in)"
)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
