"""The attention masks of the encoder over `[mem; seq]` (bool [T, T], True where a query may
attend): causal, what memory reads, the knockouts, and memory placed anywhere (interspersed)."""

from __future__ import annotations

import torch

KNOCKOUTS = ("read", "write")
MEM_READS = ("all", "memory", "context")


def combine(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """The positions every given mask allows (None: no mask allows all)."""
    present = [mask for mask in masks if mask is not None]
    if not present:
        return None
    out = present[0]
    for mask in present[1:]:
        out = out & mask
    return out


def reads_mask(mem_reads: str, m: int, t: int, context: int | None, device) -> torch.Tensor | None:
    """bool [T, T] over `[mem; seq]` for what memory rows read (`ModelConfig.mem_reads`):
    "all" (no mask), "memory" (memory only: learned registers that never see the input),
    "context" (memory and the first `context` sequence positions: the input before the first
    answer row, so no position can learn of a later answer row through memory)."""
    if mem_reads == "all" or m == 0:
        return None
    allowed = torch.ones(t, t, dtype=torch.bool, device=device)
    start = m if mem_reads == "memory" else m + (t - m if context is None else context)
    allowed[:m, start:] = False
    return allowed


def causal_mask(m: int, t: int, device) -> torch.Tensor:
    """bool [T, T] over `[mem; seq]`: memory rows read everything; sequence position i reads
    memory and sequence positions up to i. Measured: the plain 2-layer encoder learns
    assoc_recall on every seed this way and mostly not bidirectionally (bench/RESULTS.md)."""
    allowed = torch.ones(t, t, dtype=torch.bool, device=device)
    allowed[m:, m:] = torch.ones(t - m, t - m, dtype=torch.bool, device=device).tril()
    return allowed


def knockout_mask(knockout: str | None, m: int, t: int, device) -> torch.Tensor | None:
    """bool [T, T] over `[mem; seq]`, True where a query may attend, for a knockout; None for
    none (or no memory: nothing to knock out)."""
    if knockout is None or m == 0:
        return None
    if knockout not in KNOCKOUTS:
        raise ValueError(f"unknown knockout {knockout!r}: use {' or '.join(KNOCKOUTS)}")
    allowed = torch.ones(t, t, dtype=torch.bool, device=device)
    if knockout == "read":
        allowed[m:, :m] = False
    else:
        allowed[:m, m:] = False
    return allowed


def interspersed_mask(mem_rows: torch.Tensor, causal: bool, knockout: str | None):
    """bool [T, T] for memory at the rows `mem_rows` (bool [T]) anywhere in the input: causal
    (each row reads itself and earlier rows, memory included) or not, and the knockouts as
    `knockout_mask` defines them; None where nothing is masked."""
    t = mem_rows.numel()
    allowed = torch.ones(t, t, dtype=torch.bool, device=mem_rows.device)
    if causal:
        allowed = allowed.tril()
    if knockout == "read":  # no sequence row reads memory
        allowed &= ~(~mem_rows[:, None] & mem_rows[None, :])
    elif knockout == "write":  # memory reads memory only
        allowed &= ~(mem_rows[:, None] & ~mem_rows[None, :])
    return None if allowed.all() else allowed
