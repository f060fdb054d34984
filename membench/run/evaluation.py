"""Scoring a model on held-out examples: which target tokens it gets right, token accuracy,
exact match and accuracy per position. Shared by training (its evaluations), knockouts and the
attention summary, which all read the same held-out set (EVAL_SEED)."""

from __future__ import annotations

import torch

from membench.tasks import IGNORE

EVAL_SEED = 2**31 - 1  # held-out examples come from their own stream, shared by every trial


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
