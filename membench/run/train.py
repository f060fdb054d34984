"""One trial: build the task and model, train, evaluate, and return a JSON-ready record.

Pure of file I/O but for the checkpoints a caller may pass (`membench.run.checkpoint`): the
caller (CLI or sweep) decides where the record goes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import membench
from membench import tasks
from membench.config.identity import TrialSpec
from membench.config.spec import TrainConfig
from membench.metrics import aulc
from membench.models.attention_flops import FLOPS_COUNT
from membench.models.loss import scored_only, step_loss
from membench.run.checkpoint import Checkpoints, Resumable
from membench.run.machine import cpu_model
from membench.store.fingerprint import fingerprint
from membench.suite.schema import RECORD_SCHEMA_VERSION
from membench.tasks import IGNORE

EVAL_SEED = 2**31 - 1  # held-out examples come from their own stream, shared by every trial
ATTENTION_EXAMPLES = 32  # held-out examples the attention summary averages over


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise membench.errors.MembenchError(
            "train.device is 'cuda' but torch sees no GPU: use --device cpu or auto"
        )
    return torch.device(name)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def correct_tokens(model, src: torch.Tensor, tgt: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """bool [n, Lt]: which target tokens `predict` (which never sees the targets) gets right.
    An IGNORE target (a position this example does not score) counts as right, so exact match
    is over the scored positions; `scores` leaves it out of token accuracy."""
    model.eval()
    correct = torch.cat(
        [
            model.predict(src[i : i + batch], tgt.shape[1]) == tgt[i : i + batch]
            for i in range(0, len(src), batch)
        ]
    )
    model.train()
    return correct | (tgt == IGNORE)


def scores(correct: torch.Tensor, tgt: torch.Tensor) -> dict[str, float]:
    """Token accuracy over the scored target tokens, exact match over examples."""
    scored = tgt != IGNORE
    return {
        "token_accuracy": (correct & scored).sum().item() / max(1, scored.sum().item()),
        "exact_match": correct.all(dim=1).float().mean().item(),
    }


def evaluate(model, src: torch.Tensor, tgt: torch.Tensor, batch: int = 512) -> dict[str, float]:
    """Token accuracy and exact match of `predict` on a held-out set."""
    return scores(correct_tokens(model, src, tgt, batch), tgt)


def position_accuracy(correct: torch.Tensor, tgt: torch.Tensor) -> list[float] | None:
    """Held-out accuracy at each target position: exact match far below token accuracy is one
    hard position or errors spread thin (long_range_sum's units digit is the former). None for a
    task whose scored positions vary between examples (a position means nothing there)."""
    if (tgt == IGNORE).any():
        return None
    return [round(v, 6) for v in correct.float().mean(dim=0).tolist()]


PLATEAU_DELTA = 0.002  # a rise smaller than this, in token accuracy and exact match, is none


def build(spec: TrialSpec, device: torch.device):
    """(task generator, model) for a spec, the model initialised from the spec's seed."""
    from membench.models import build_model, factory_keywords, load_factory

    task = tasks.get(spec.task)
    src_len, tgt_len = task.lengths(**spec.task_params)
    vocab = task.vocab_size(**spec.task_params)
    factory = load_factory(spec.factory) if spec.factory else build_model
    # where each answer is read, for a factory that takes it (built-in ones do)
    extra = factory_keywords(factory, answer_positions=task.answer_positions(**spec.task_params))
    torch.manual_seed(spec.seed)
    model = factory(spec.model, vocab, src_len, tgt_len, **extra).to(device)
    return task, model


def improved(best: dict[str, float], now: dict[str, float]) -> tuple[bool, dict[str, float]]:
    """Whether held-out token accuracy or exact match rose by PLATEAU_DELTA over its best so
    far (either resets the plateau rule's patience: near its ceiling token accuracy cannot rise
    by that much while exact match still climbs), and the new bests."""
    rose = any(now[k] >= best[k] + PLATEAU_DELTA for k in best)
    return rose, {k: max(best[k], now[k]) for k in best}


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW in one fused kernel where torch has one for these parameters (CUDA; CPU since torch
    2.4): on CPU the default is a Python loop over parameters, ~1 ms a step at d_model 64."""
    params = list(model.parameters())
    options = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    try:
        return torch.optim.AdamW(params, **options, fused=True)
    except RuntimeError:
        return torch.optim.AdamW(params, **options)


def train_step(model, optimizer, src, tgt, grad_clip: float, scored: bool = False) -> torch.Tensor:
    """One step: forward, cross-entropy over the scored target tokens (`step_loss`), backward,
    clip, AdamW. grad_clip 0 means no clipping (clipping to norm 0 would zero every gradient)."""
    loss = step_loss(model, src, tgt, scored)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
    return loss


def training_batches(spec: TrialSpec, task, data: torch.Generator):
    """The training batches, endless: fresh examples from the task's stream, or with
    `train.train_examples: N` a pool of N examples drawn once from that stream and sampled
    with replacement (MAD and zoology train on a finite set: with too few examples a model
    memorises it and stays at chance on held-out examples).
    The pool is drawn when this is called, not at the first batch, so that a resumed trial can
    set `data`'s state after it (`train_loop`)."""
    cfg = spec.training
    if not cfg.train_examples:
        return (task.generate(cfg.batch_size, data, **spec.task_params) for _ in itertools.count())
    pool_src, pool_tgt = task.generate(cfg.train_examples, data, **spec.task_params)

    def sample():
        while True:
            pick = torch.randint(
                cfg.train_examples, (cfg.batch_size,), generator=data, device=data.device
            )
            yield pool_src[pick], pool_tgt[pick]

    return sample()


class Stopping:
    """A trial's evaluations and the rules that end it early: solved at `solve_threshold` exact
    match, plateau after `patience` evaluations without improvement (`improved`). Shared by a
    lone trial and each member of a pack, so both stop at the same evaluation."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.curve: list[dict[str, Any]] = []
        self.best = {"token_accuracy": -1.0, "exact_match": -1.0}
        self.best_at, self.solved_at, self.stopped = 0, None, "budget"

    def due(self, step: int) -> bool:
        return step % self.cfg.eval_every == 0 or step == self.cfg.steps

    def add(self, point: dict[str, Any]) -> bool:
        """Record one evaluation; True when training stops here."""
        self.curve.append(point)
        if point["exact_match"] >= self.cfg.solve_threshold:
            self.solved_at, self.stopped = point["step"], "solved"
            return True
        rose, self.best = improved(self.best, point)
        if rose:
            self.best_at = len(self.curve)
        elif self.cfg.patience and len(self.curve) - self.best_at >= self.cfg.patience:
            self.stopped = "plateau"  # `patience` evaluations without improvement
            return True
        return False


class TrialInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a trial's training. `run_trial` fills `record` (status
    interrupted, the curve so far) for a caller that writes it; a caller that does not stops
    as from any Ctrl-C."""

    def __init__(self, curve: list[dict[str, Any]], steps: int, checkpoint_step: int | None):
        super().__init__("trial interrupted")
        self.curve, self.steps, self.checkpoint_step = curve, steps, checkpoint_step
        self.record: dict[str, Any] | None = None


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


def check_loss(loss_value: float, step: int) -> None:
    if not math.isfinite(loss_value):
        raise FloatingPointError(f"loss became {loss_value} at step {step}")


def loop_result(
    spec: TrialSpec,
    task,
    stopping: Stopping,
    step: int,
    step_flops: float,
    seconds: float,
    eval_seconds: float,
    correct: torch.Tensor,
    eval_tgt: torch.Tensor,
) -> dict[str, Any]:
    """`train_loop`'s return value from a finished trial's evaluations and counts."""
    cfg = spec.training
    src_len, tgt_len = task.lengths(**spec.task_params)
    trained_tokens = step * cfg.batch_size * (src_len + tgt_len)
    curve, solved_at = stopping.curve, stopping.solved_at
    final = curve[-1]
    return {
        "token_accuracy": final["token_accuracy"],
        "exact_match": final["exact_match"],
        "final_loss": final["loss"],
        "solved": solved_at is not None,
        "steps_to_solve": solved_at if solved_at is not None else cfg.steps,
        "aulc": aulc(curve, cfg.steps),
        "steps_trained": step,
        "train_flops": step_flops * step,
        "train_seconds": seconds,
        "eval_seconds": eval_seconds,
        "tokens_per_second": trained_tokens / max(seconds - eval_seconds, 1e-9),
        "curve": curve,
        "stopped": stopping.stopped,
        "per_position": position_accuracy(correct, eval_tgt),
    }


def train_loop(
    spec: TrialSpec,
    model,
    task,
    device,
    progress: Callable | None,
    checkpoints: Checkpoints | None = None,
) -> dict[str, Any]:
    """Train until the budget or the solve threshold; returns metrics and the learning curve.
    With `checkpoints`, goes on from the trial's checkpoint if it has a usable one, and writes
    one at an evaluation every `checkpoints.every_s` seconds of training."""
    cfg = spec.training
    data = torch.Generator(device=device).manual_seed(spec.seed)
    held_out = torch.Generator(device=device).manual_seed(EVAL_SEED)
    eval_src, eval_tgt = task.generate_held_out(cfg.eval_size, held_out, **spec.task_params)
    batches = training_batches(spec, task, data)
    optimizer = make_optimizer(model, cfg)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup, cfg.steps)
    )
    stopping, step_flops, eval_seconds = Stopping(cfg), 0.0, 0.0
    scored = scored_only(model, task)
    loop = Resumable(spec, device, model, optimizer, schedule, data, stopping, checkpoints)
    first, step_flops, spent, eval_seconds = loop.resume()
    for point in stopping.curve if progress else ():  # resumed: the caller's curve is whole
        progress({**point, "steps": cfg.steps})
    start, step = time.perf_counter() - spent, first - 1
    try:
        for step in range(first, cfg.steps + 1):
            src, tgt = next(batches)
            counter = FlopCounterMode(display=False) if step == 1 else None
            with counter or contextlib.nullcontext():
                loss = train_step(model, optimizer, src, tgt, cfg.grad_clip, scored)
            if counter is not None:
                step_flops = float(counter.get_total_flops())
            schedule.step()
            if stopping.due(step):
                loss_value = loss.item()
                check_loss(loss_value, step)
                tick = time.perf_counter()
                correct = correct_tokens(model, eval_src, eval_tgt)
                now_scores = scores(correct, eval_tgt)
                eval_seconds += time.perf_counter() - tick
                point = {"step": step, "loss": loss_value, **now_scores}
                if progress:
                    progress({**point, "steps": cfg.steps})
                if stopping.add(point):
                    break
                seconds = time.perf_counter() - start
                loop.maybe_save(step, step_flops, seconds, eval_seconds)
    except KeyboardInterrupt:
        raise TrialInterrupted(stopping.curve, max(0, step - 1), loop.saved_step) from None
    seconds = time.perf_counter() - start
    result = loop_result(
        spec, task, stopping, step, step_flops, seconds, eval_seconds, correct, eval_tgt
    )
    return result | loop.resumed_fields()


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


def run_trial(
    spec: TrialSpec, progress: Callable | None = None, checkpoints: Checkpoints | None = None
) -> dict[str, Any]:
    """Train one trial and return its record. Training errors (NaN loss, an exception in a user's
    model) give status 'failed' with the error; an invalid spec raises MembenchError.

    `progress`: None, or a callable receiving a dict (step, steps, loss, token_accuracy,
    exact_match) at each evaluation (a sweep's tune.report, `membench train`'s bar).
    `checkpoints`: None, or where this trial's checkpoint is kept (`membench.run.checkpoint`):
    a cut-off trial goes on from it next time. The caller removes it once it has written an ok
    record (`Checkpoints.done`); a failed trial keeps it, for a retry to go on from.
    """
    device = pick_device(spec.training.device)
    task = tasks.get(spec.task)
    record = start_record(spec, device)
    try:
        _, model = build(spec, device)
        result = train_loop(spec, model, task, device, progress, checkpoints)
        finish_record(record, spec, model, task, device, result)
    except TrialInterrupted as cut:  # the caller writes cut.record, or stops without it
        fields = interrupted_fields(cut.curve, cut.steps, INTERRUPTED, cut.checkpoint_step)
        record.update(fields, end_time=now())
        cut.record = record
        raise
    except membench.errors.MembenchError:
        raise
    except Exception as err:  # a failed trial is a result, not a crash of the sweep
        fail_record(record, spec, err)
    record["end_time"] = now()
    return record


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
