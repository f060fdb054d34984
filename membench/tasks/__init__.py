"""Task generators (one file each) and the named task instances shipped with them
(`instances/*.yaml`, package data; see membench.config.instances.task_dirs)."""

from membench.tasks import (  # noqa: F401  (registers)
    assoc_recall,
    copy,
    flip_flop,
    long_range_sum,
    mad_compression,
    mad_fuzzy_recall,
    mad_memorization,
    mad_noisy_recall,
    mad_recall,
    mqar,
    parity,
    reverse,
    selective_copying,
    sort,
)
from membench.tasks.base import IGNORE, TASKS, Param, Task, register


def names() -> list[str]:
    """Registered task generator names."""
    return TASKS.names()


def get(name: str) -> Task:
    """The task generator registered under `name` (did-you-mean on a miss)."""
    return TASKS.get(name)


__all__ = ["IGNORE", "TASKS", "Param", "Task", "get", "names", "register"]
