"""Which trials share a pack: same task instance, model and batch shape, at most the pack size,
and the default size per device. Pure grouping over specs, apart from the training
(`packed.py`), so the sweep can plan packs without importing the stacked program."""

from __future__ import annotations

import json

from membench.config.identity import TrialSpec
from membench.errors import MembenchError


def unpackable(spec: TrialSpec) -> str | None:
    """Why `spec` cannot train in a pack (a note for its record), or None when it can."""
    if spec.factory is not None:
        return f"ran unpacked: factory {spec.factory} (only the built-in encoder packs)"
    if spec.model.get("arch") != "encoder":
        return f"ran unpacked: arch {spec.model.get('arch')} (only arch encoder packs)"
    if spec.model.get("dropout", 0) > 0:
        return "ran unpacked: dropout draws from the global random stream, which a pack shares"
    return None


def pack_key(spec: TrialSpec) -> str | None:
    """Trials with the same key can share a pack: same task instance, model and batch shape (the
    stacked program is one model's code); None for a trial that runs alone."""
    if unpackable(spec):
        return None
    cfg = spec.training
    return json.dumps(
        [spec.task, spec.task_params, spec.model, cfg.batch_size, cfg.device], sort_keys=True
    )


PACK_GPU = 16  # default pack size with a GPU: a cell's seeds (core has 11) in one program
PACK_CPU = 1  # on CPU: packs of 11 ran 88 core trials at 0.84x the rate on 2 cores (RESULTS.md)


def pack_size(resources) -> int:
    """Trials per pack for a suite's `resources`: its `pack`, else the device's default."""
    if resources.pack is not None:
        return resources.pack
    return PACK_GPU if resources.gpu > 0 else PACK_CPU


def pack_indices(specs: list[TrialSpec], size: int) -> list[list[int]]:
    """Indices of `specs` grouped into packs of at most `size` members that can train
    together, in the order of first appearance; a trial that cannot pack is a pack of one."""
    if size < 1:
        raise MembenchError(f"pack size {size}: must be at least 1")
    open_packs: dict[str, list[int]] = {}
    packs: list[list[int]] = []
    for i, spec in enumerate(specs):
        key = pack_key(spec)
        if key is None:
            packs.append([i])
            continue
        if key not in open_packs:
            open_packs[key] = []
            packs.append(open_packs[key])
        open_packs[key].append(i)
        if len(open_packs[key]) == size:
            del open_packs[key]
    return packs


def make_packs(specs: list[TrialSpec], size: int) -> list[list[TrialSpec]]:
    """`specs` grouped as `pack_indices` groups them."""
    return [[specs[i] for i in pack] for pack in pack_indices(specs, size)]


def pack_plan(specs: list[TrialSpec], size: int) -> str | None:
    """One line saying how `specs` train in packs of at most `size` (None when unpacked), so a
    user who asked for packs of 16 sees that a cell of 2 seeds makes packs of 2."""
    if size == 1:
        return None
    packs = pack_indices(specs, size)
    largest = max(len(p) for p in packs)
    alone = sum(1 for i in range(len(specs)) if pack_key(specs[i]) is None)
    line = (
        f"packed: {len(specs)} trials in {len(packs)} Ray trials of up to {size} "
        f"(a pack holds the trials of one cell; the largest here has {largest})"
    )
    return line + (f"; {alone} run alone (their records say why)" if alone else "")
