"""A suite's `grid:`: the cartesian product over model options, each combination a variant
named readably (mem10-bottleneck); combinations that break a rule between options are left out
with a note.
"""

from __future__ import annotations

import itertools
from typing import Any

from membench.errors import MembenchError
from membench.registry import did_you_mean
from membench.suite.checks import MODEL_KEYS, check_model_keys, expect, make_variant
from membench.suite.trials import Variant

SHORT = {"d_model": "d", "n_layers": "l", "n_heads": "h", "d_ff": "ff", "dropout": "drop"}
CONTROLLER_NAMES = {"shared": "", "dedicated": "ctrl", "dedicated_shared": "ctrlshared"}


def parse_grid(grid: Any, base: dict, where: str, notes: list[str]) -> list[Variant]:
    """The cartesian product over model options, named readably (mem10-bottleneck).

    Combinations that violate a constraint between options (a bottleneck with no memory) are
    left out with a note; a value that is wrong on its own is an error."""
    grid = expect(grid, dict, where, "a mapping option -> list of values")
    if not grid:
        raise MembenchError(f"{where}: empty; list values for at least one model option")
    for key, values in grid.items():
        if key not in MODEL_KEYS:
            raise MembenchError(
                f"{where}: unknown model option '{key}': {did_you_mean(str(key), MODEL_KEYS)}"
                f"known: {', '.join(MODEL_KEYS)}"
            )
        expect(values, list, f"{where}.{key}", "a list of values")
        if not values:
            raise MembenchError(f"{where}.{key}: empty list; give at least one value")
        for value in values:
            check_model_keys({key: value}, where)
        if len({repr(v) for v in values}) < len(values):
            raise MembenchError(f"{where}.{key}: repeated value in {values}")
    variants, names, invalid = [], {}, []
    for combo in itertools.product(*grid.values()):
        options = dict(zip(grid, combo, strict=True))
        name = grid_name(options)
        if name in names:
            raise MembenchError(
                f"{where}: {names[name]} and {options} would both be named '{name}': "
                "name them under variants instead"
            )
        names[name] = options
        try:
            variants.append(make_variant(name, {**base, **options}, f"{where}[{name}]"))
        except MembenchError as err:
            invalid.append((name, str(err).split(f"[{name}]", 1)[1].lstrip(".")))
    notes += [f"grid combination '{name}' left out: {reason}" for name, reason in invalid]
    if not variants:
        name, reason = invalid[0]
        raise MembenchError(f"{where}: every combination is invalid, e.g. '{name}': {reason}")
    return variants


def grid_name(options: dict[str, Any]) -> str:
    """mem_tokens 10 + bottleneck true -> 'mem10-bottleneck'; off-switches are left out."""
    parts = []
    for key, value in options.items():
        if key == "mem_tokens":
            parts.append(f"mem{value}")
        elif key == "controller":
            parts.append(CONTROLLER_NAMES[value])
        elif key == "factory":
            parts.append(value.rpartition(":")[2] if value else "builtin")
        elif isinstance(value, bool):
            parts.append(key if value else "")
        elif key == "arch":
            parts.append(value)
        else:
            parts.append(f"{SHORT.get(key, key)}{value}")
    return "-".join(p for p in parts if p) or "base"
