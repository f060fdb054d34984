"""A suite's `grid:`: the cartesian product over model options, each combination a variant
named readably (mem10-bottleneck); combinations that break a rule between options are left out
with a note.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from membench.errors import MembenchError
from membench.suite.trials import Variant

SHORT = {"d_model": "d", "n_layers": "l", "n_heads": "h", "d_ff": "ff", "dropout": "drop"}
CONTROLLER_NAMES = {"shared": "", "dedicated": "ctrl", "dedicated_shared": "ctrlshared"}


def expand_grid(
    grid: dict[str, list[Any]], base: dict, make: Callable[..., Variant]
) -> tuple[list[Variant], list[tuple[str, str]]]:
    """The cartesian product over model options (each value already checked alone), named
    readably (mem10-bottleneck), and the combinations that break a rule between options (a
    bottleneck with no memory) with the reason, to be left out with a note."""
    variants, names, invalid = [], {}, []
    for combo in itertools.product(*grid.values()):
        options = dict(zip(grid, combo, strict=True))
        name = grid_name(options)
        if name in names:
            raise MembenchError(
                f"grid: {names[name]} and {options} would both be named '{name}': "
                "name them under variants instead"
            )
        names[name] = options
        try:
            variants.append(make(name, {**base, **options}, f"grid[{name}]", options))
        except MembenchError as err:
            invalid.append((name, str(err).split(f"[{name}]", 1)[1].lstrip(".")))
    return variants, invalid


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
