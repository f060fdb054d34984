"""Suite YAML -> a typed, validated `Suite` (see `trials.py`).

Validation is strict and complete before anything runs: every problem is one line naming the
file, the key path and what to do. See docs/suites.md for an annotated example.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from membench.config.instances import read_yaml
from membench.config.spec import train_config
from membench.config.validation import check_keys
from membench.errors import MembenchError
from membench.registry import did_you_mean
from membench.suite.checks import (
    SAFE_NAME,
    check_model_keys,
    check_name,
    expect,
    make_variant,
    mapping,
    parse_resources,
    parse_seeds,
)
from membench.suite.grid import parse_grid
from membench.suite.trials import Suite, TaskInstance, Variant, add_code_paths
from membench.suite.tune import parse_tune

KEYS = (
    "name",
    "description",
    "tasks",
    "model",
    "variants",
    "grid",
    "baseline",
    "seeds",
    "train",
    "resources",
    "tune",
)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; raises MembenchError naming the file and key path."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise MembenchError(f"{path}: expected a mapping with keys {', '.join(KEYS)}")
    check_keys(data, KEYS, str(path))
    if "tasks" not in data:
        raise MembenchError(
            f"{path}: missing key 'tasks': list the tasks to run (see `membench tasks`)"
        )
    name = expect(data.get("name", path.stem), str, f"{path}: name", "a string")
    if not SAFE_NAME.match(name):
        raise MembenchError(
            f"{path}: name: '{name}' is not usable as a directory name: use letters, digits, _ . -"
        )
    train = mapping(data.get("train"), f"{path}: train")
    train_config(train, f"{path}: train")
    resources = parse_resources(data.get("resources"), train, f"{path}: resources")
    base = mapping(data.get("model"), f"{path}: model")
    check_model_keys(base, f"{path}: model")
    variants, notes = parse_variants(data, base, path)
    baseline = data.get("baseline", "baseline" if "baseline" in variants else next(iter(variants)))
    expect(baseline, str, f"{path}: baseline", "a variant name")
    if baseline not in variants:
        raise MembenchError(
            f"{path}: baseline: unknown variant '{baseline}': "
            f"{did_you_mean(baseline, list(variants))}known: {', '.join(variants)}"
        )
    seeds = parse_seeds(data.get("seeds", 3), f"{path}: seeds")
    tune = None
    if data.get("tune") is not None:
        tune = parse_tune(data["tune"], seeds, train, f"{path}: tune")
    suite = Suite(
        name=name,
        path=path,
        description=expect(data.get("description", ""), str, f"{path}: description", "a string"),
        tasks=parse_tasks(data["tasks"], path),
        variants=list(variants.values()),
        baseline=baseline,
        seeds=seeds,
        train=train,
        resources=resources,
        notes=notes,
        tune=tune,
    )
    check_factories(suite)
    check_distinct(suite)
    return suite


def parse_variants(data: dict, base: dict, path: Path) -> tuple[dict[str, Variant], list[str]]:
    raw = mapping(data.get("variants"), f"{path}: variants")
    if "variants" in data and not raw:
        raise MembenchError(f"{path}: variants: empty; name at least one variant or remove it")
    variants: dict[str, Variant] = {}
    for name, overrides in raw.items():
        where = f"{path}: variants.{name}"
        check_name(name, where)
        overrides = mapping(overrides, where)
        variants[name] = make_variant(name, {**base, **overrides}, where)
    notes: list[str] = []
    if "grid" in data:
        for variant in parse_grid(data["grid"], base, f"{path}: grid", notes):
            if variant.name in variants:
                raise MembenchError(
                    f"{path}: grid: combination '{variant.name}' has the name of "
                    f"variants.{variant.name}: rename the variant"
                )
            variants[variant.name] = variant
    if not variants:  # no variants and no grid: the base model is the one variant
        variants["base"] = make_variant("base", base, f"{path}: model")
    return variants, notes


def parse_tasks(raw: Any, path: Path) -> list[TaskInstance]:
    """Entries: 'copy', {'sort': {'length': 32}}, or {'sort': {'length': [16, 32]}} (a sweep)."""
    from membench.config.instances import resolve_task

    if isinstance(raw, dict):
        raw = [{name: params} for name, params in raw.items()]
    where = f"{path}: tasks"
    expect(raw, list, where, "a list of task names (see `membench tasks`)")
    if not raw:
        raise MembenchError(f"{where}: empty; list at least one task (see `membench tasks`)")
    instances, seen = [], {}
    for i, entry in enumerate(raw):
        at = f"{where}[{i}]"
        if isinstance(entry, dict) and len(entry) == 1:
            name, params = next(iter(entry.items()))
            params = mapping(params, f"{at}.{name}")
        else:
            name, params = entry, {}
        expect(name, str, at, "a task name or {name: {parameter: value}}")
        for key, value in params.items():
            if isinstance(value, list) and not value:
                raise MembenchError(f"{at}.{name}.{key}: empty list; give at least one value")
        swept = {k: v if isinstance(v, list) else [v] for k, v in params.items()}
        for combo in itertools.product(*swept.values()):
            overrides = dict(zip(swept, combo, strict=True))
            try:
                resolved = resolve_task(name, overrides, path.parent)
            except MembenchError as err:
                raise MembenchError(f"{at}: {err}") from None
            label = name
            if overrides:
                label += "[" + ",".join(f"{k}={v}" for k, v in overrides.items()) + "]"
            key = repr(resolved)
            if key in seen:
                raise MembenchError(
                    f"{at}: '{label}' is the same task as '{seen[key]}' ({resolved[0]} with "
                    f"{resolved[1]}): remove one"
                )
            seen[key] = label
            instances.append(TaskInstance(label, name, overrides))
    return instances


def check_factories(suite: Suite) -> None:
    """Import every user model now, so a typo fails before Ray starts, not in every trial."""
    from membench.models import load_factory

    for variant in suite.variants:
        if variant.factory:
            add_code_paths(suite.code_paths)
            try:
                load_factory(variant.factory)
            except MembenchError as err:
                raise MembenchError(f"{suite.path}: variants.{variant.name}: {err}") from None


def check_distinct(suite: Suite) -> None:
    """Two variants that build the same model would be one trial under two names."""
    from membench.config.identity import make_spec

    task = suite.tasks[0]
    seen: dict[str, str] = {}
    for variant in suite.variants:
        spec = make_spec(
            task.name, task.overrides, variant.model, suite.train, 0, variant.factory, suite.near
        )
        key = repr((spec.model, spec.factory))
        if key in seen:
            raise MembenchError(
                f"{suite.path}: variants '{seen[key]}' and '{variant.name}' build the same model: "
                "remove one"
            )
        seen[key] = variant.name
