"""Named task instances: the ones shipped in membench/tasks/instances/*.yaml, a user's in
tasks/*.yaml beside their suite or in the working directory, resolved to a generator and its
full parameters.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from membench.config.validation import check_keys
from membench.errors import MembenchError
from membench.registry import UnknownNameError, did_you_mean

# ---- named task instances (shipped: membench/tasks/instances/*.yaml; a user's: tasks/*.yaml) ----

BUILTIN_TASKS = (
    Path(__file__).resolve().parents[1] / "tasks" / "instances"
)  # shipped as package data


def task_dirs(near: Path | None = None) -> list[Path]:
    """Where named task instances are looked up, first match winning: a user's tasks/ beside
    their suite (`near`, the suite's folder), ./tasks, then the instances shipped with membench
    (inside the package, so a non-editable install finds them from any directory)."""
    dirs = [Path(near) / "tasks"] if near is not None else []
    dirs = [d.resolve() for d in [*dirs, Path.cwd() / "tasks", BUILTIN_TASKS]]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d not in dirs[:i]]


_PARSED: dict[tuple[str, int, int], Any] = {}  # (path, mtime, size) -> parsed YAML


def read_yaml(path: Path) -> Any:
    """A YAML file parsed, once per version of the file (a suite resolves its named task
    instances for every trial: thousands of reads of the same few files otherwise)."""
    try:
        stat = Path(path).stat()
        key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        if key not in _PARSED:
            _PARSED[key] = yaml.safe_load(Path(path).read_text())
        return copy.deepcopy(_PARSED[key])
    except FileNotFoundError:
        raise MembenchError(f"{path}: no such file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", err)
        raise MembenchError(f"{path}:{line} is not valid YAML: {problem}") from None


def named_tasks(near: Path | None = None) -> dict[str, dict[str, Any]]:
    """Named task instances: {name: {"task": generator, "params": {...}, "description": ...}};
    `near`: a suite's folder, whose tasks/ comes first (see task_dirs)."""
    from membench import tasks

    found: dict[str, dict[str, Any]] = {}
    for name in tasks.names():
        generator = tasks.get(name)
        found[name] = {"task": name, "params": {}, "description": generator.description}
    for directory in reversed(task_dirs(near)):
        for path in sorted(directory.glob("*.yaml")):
            data = read_yaml(path)
            if not isinstance(data, dict) or "task" not in data:
                raise MembenchError(f"{path}: a task instance needs a 'task' key (generator name)")
            check_keys(data, ("task", "params", "description"), str(path))
            found[path.stem] = {
                "task": data["task"],
                "params": dict(data.get("params") or {}),
                "description": data.get("description", ""),
                "path": str(path),
            }
    return found


def resolve_task(
    name: str, overrides: dict[str, Any] | None = None, near: Path | None = None
) -> tuple[str, dict[str, int]]:
    """(generator name, full parameters) for a named instance or generator plus overrides;
    `near`: a suite's folder, whose own tasks/ takes part (see task_dirs)."""
    from membench import tasks

    instances = named_tasks(near)
    if name not in instances:
        known = sorted(instances)
        raise MembenchError(
            f"unknown task '{name}': {did_you_mean(name, known)}known: {', '.join(known)}"
        )
    instance = instances[name]
    try:
        generator = tasks.get(instance["task"])
    except UnknownNameError as err:
        raise MembenchError(f"{instance.get('path', name)}: {err}") from None
    params = generator.resolve({**instance["params"], **(overrides or {})})
    return instance["task"], params
