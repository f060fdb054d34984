"""One trial: build the task and model, train, evaluate, and return a JSON-ready record.

The loop and its stopping rules are here; held-out scoring is `membench.run.evaluation`, the
record's fields `membench.run.record`. Pure of file I/O but for the checkpoints a caller may pass
(`membench.run.checkpoint`): the caller (CLI or sweep) decides where the record goes.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import membench
from membench import tasks
from membench.config.identity import TrialSpec
from membench.config.spec import TrainConfig
from membench.metrics import aulc
from membench.models.loss import scored_only, step_loss
from membench.run.checkpoint import Checkpoints, Resumable
from membench.run.evaluation import EVAL_SEED, correct_tokens, position_accuracy, scores
from membench.run.record import (
    INTERRUPTED,
    fail_record,
    finish_record,
    interrupted_fields,
    now,
    start_record,
)


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
    interrupted, the curve so far, and the step it went on from if it was resumed) for a caller
    that writes it; a caller that does not stops as from any Ctrl-C."""

    def __init__(
        self,
        curve: list[dict[str, Any]],
        steps: int,
        checkpoint_step: int | None,
        resumed: dict[str, Any] | None = None,
    ):
        super().__init__("trial interrupted")
        self.curve, self.steps, self.checkpoint_step = curve, steps, checkpoint_step
        self.resumed = resumed or {}
        self.record: dict[str, Any] | None = None


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
        cut_at = max(0, step - 1)
        raise TrialInterrupted(
            stopping.curve, cut_at, loop.saved_step, loop.resumed_fields()
        ) from None
    seconds = time.perf_counter() - start
    result = loop_result(
        spec, task, stopping, step, step_flops, seconds, eval_seconds, correct, eval_tgt
    )
    return result | loop.resumed_fields()


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
        record.update(fields, **cut.resumed, end_time=now())
        cut.record = record
        raise
    except membench.errors.MembenchError:
        raise
    except Exception as err:  # a failed trial is a result, not a crash of the sweep
        fail_record(record, spec, err)
    record["end_time"] = now()
    return record
