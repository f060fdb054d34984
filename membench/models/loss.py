"""The training loss of a step, shared by a trial and the FLOP count of a compute-matched
control: cross-entropy over the scored target tokens (IGNORE elsewhere)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from membench.tasks import IGNORE


def scored_only(model, task) -> bool:
    """Whether a step computes logits at the scored target tokens only: a task with IGNORE
    targets and a model with `forward_scored` (the built-in encoder and recurrent archs; a
    user's model may add it, docs/variants.md). The loss is the same mean over scored tokens."""
    return task.partial_targets and callable(getattr(model, "forward_scored", None))


def step_loss(model, src, tgt, scored: bool = False) -> torch.Tensor:
    """Cross-entropy over the scored target tokens: from `forward`'s full logits, or with
    `scored` from `forward_scored`'s logits at those tokens only (5-6x less work on MQAR)."""
    if scored:
        keep = tgt != IGNORE
        return F.cross_entropy(model.forward_scored(src, tgt, keep), tgt[keep])
    logits = model(src, tgt)
    if logits.dim() != 3 or logits.shape[:2] != tgt.shape:
        raise ValueError(
            f"the model's forward returned logits of shape {tuple(logits.shape)}; the contract "
            f"is [batch, target length, vocab] = [{tgt.shape[0]}, {tgt.shape[1]}, vocab_size] "
            "(docs/variants.md: 'Your own model')"
        )
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE
    )
