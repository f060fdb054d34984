"""Training FLOPs per step of a built-in model on a task, counted as a trial counts them (one
forward and backward at the batch size, torch's FlopCounterMode), and the feed-forward width at
which a model matches another's: a compute-matched control for a memory variant."""

from __future__ import annotations

import functools
import json
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from membench import tasks
from membench.errors import MembenchError
from membench.models import build_model
from membench.models.loss import scored_only, step_loss


def step_flops(
    model: dict[str, Any],
    task: str,
    params: dict[str, int],
    batch: int,
    scored: bool | None = None,
) -> float:
    """FLOPs of one training step (forward and backward) of `model` on `task`: counted on one
    example and scaled by the batch (every op of the family is linear in the batch size).
    `scored`: logits at the scored target tokens only (True), at every one (False), or as a
    trial computes them now (None)."""
    return batch * _cached(
        json.dumps(model, sort_keys=True), task, json.dumps(params, sort_keys=True), 1, scored
    )


@functools.lru_cache(maxsize=4096)
def _cached(model: str, task: str, params: str, batch: int, scored: bool | None) -> float:
    spec, kwargs = tasks.get(task), json.loads(params)
    src_len, tgt_len = spec.lengths(**kwargs)
    net = build_model(
        json.loads(model), spec.vocab_size(**kwargs), src_len, tgt_len,
        answer_positions=spec.answer_positions(**kwargs),
    )  # fmt: skip
    src, tgt = spec.generate(batch, torch.Generator().manual_seed(0), **kwargs)
    with FlopCounterMode(display=False) as counter:
        step_loss(net, src, tgt, scored_only(net, spec) if scored is None else scored).backward()
    return float(counter.get_total_flops())


def matched_d_ff(
    model: dict[str, Any], target: dict[str, Any], task: str, params: dict[str, int], batch: int
) -> int:
    """The d_ff at which `model` costs `target`'s training FLOPs per step on this task: they are
    affine in d_ff, so two counts give the line (tests check the match); MembenchError where no
    width can match."""
    want = step_flops(target, task, params, batch)
    low, high = (step_flops({**model, "d_ff": d}, task, params, batch) for d in (1, 2))
    d_ff = round(1 + (want - low) / (high - low))
    if d_ff < 1:
        raise MembenchError(
            f"no d_ff makes it cost as much as its target on {task} {params}: the model without a "
            "feed-forward already costs more; make it smaller"
        )
    return d_ff
