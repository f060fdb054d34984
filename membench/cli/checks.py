"""Checks of what a user typed on the command line, shared by the commands."""

from __future__ import annotations

from membench.errors import MembenchError
from membench.metrics import METRICS
from membench.registry import did_you_mean


def check_metric(metric: str, where: str = "--metric") -> None:
    """A metric name: one of the registry's, or one line saying which are."""
    if metric not in METRICS:
        raise MembenchError(
            f"{where}: unknown metric '{metric}': {did_you_mean(metric, list(METRICS))}"
            f"known: {', '.join(METRICS)}"
        )


def check_at_least(value: int | None, minimum: int, flag: str) -> None:
    """A count a user typed (`--threads`, `--sample`, ...): absent, or at least `minimum`."""
    if value is not None and value < minimum:
        raise MembenchError(f"{flag}: must be >= {minimum}, got {value}")


def check_folder(path, flag: str) -> None:
    """A folder a command will write into: absent (it is made) or a folder, never a file."""
    from pathlib import Path

    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise MembenchError(f"{flag}: {path} is a file, not a folder: name a folder")
