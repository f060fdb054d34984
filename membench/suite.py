"""Suite YAML -> a typed, validated `Suite` -> the list of trials it stands for.

Validation is strict and complete before anything runs: every problem is one line naming the
file, the key path and what to do. See the README for the schema with an annotated example.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from membench.config import ModelConfig, TrialSpec, build, model_config, read_yaml, train_config
from membench.errors import MembenchError
from membench.registry import did_you_mean
from membench.tuning import Choice, Tune, parse_tune, point_label

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
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")  # names become file and dir names
MODEL_KEYS = [f.name for f in dataclasses.fields(ModelConfig)] + ["factory"]
SHORT = {"d_model": "d", "n_layers": "l", "n_heads": "h", "d_ff": "ff", "dropout": "drop"}
CONTROLLER_NAMES = {"shared": "", "dedicated": "ctrl", "dedicated_shared": "ctrlshared"}


@dataclass(frozen=True)
class TaskInstance:
    label: str  # "copy", or "sort[length=32]" when parameters are overridden or swept
    name: str  # named instance (tasks/*.yaml) or generator
    overrides: dict[str, int]


@dataclass(frozen=True)
class Variant:
    name: str
    model: dict[str, Any]  # the base model with this variant's overrides
    factory: str | None = None  # "module:function" of a user's model; None: built-in family

    def summary(self) -> str:
        """The options that differ from ModelConfig's defaults (or the factory and its options)."""
        if self.factory:
            options = ", ".join(f"{k}={v}" for k, v in self.model.items())
            return f"factory {self.factory}" + (f" ({options})" if options else "")
        default = dataclasses.asdict(ModelConfig())
        model = dataclasses.asdict(model_config(self.model))
        return ", ".join(f"{k}={v}" for k, v in model.items() if default[k] != v) or "defaults"


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0  # Ray CPUs per trial; torch uses int(cpu) threads
    gpu: float = 0.0  # Ray GPUs per trial; 0.25 puts four trials on one GPU


@dataclass(frozen=True)
class Trial:
    spec: TrialSpec
    id: str
    task: str  # task label
    variant: str
    seed: int
    tuning: dict[str, Any] | None = None  # tuned suites: the phase and the point (record label)


@dataclass
class Suite:
    name: str
    path: Path
    tasks: list[TaskInstance]
    variants: list[Variant]
    baseline: str
    seeds: list[int]
    train: dict[str, Any]
    resources: Resources = field(default_factory=Resources)
    description: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. grid combinations left out, and why
    tune: Tune | None = None  # a `tune:` block: evaluation trials wait on the tuning trials

    @property
    def near(self) -> Path:
        """The suite's folder: its own tasks/ and factory modules are looked up there."""
        return self.path.parent

    @property
    def code_paths(self) -> list[str]:
        """Where a factory's module is looked up besides PYTHONPATH: the suite's folder, cwd."""
        return list(dict.fromkeys([str(self.path.resolve().parent), os.getcwd()]))

    def trials(self, choices: dict[tuple[str, ...], Choice] | None = None) -> list[Trial]:
        """The evaluation trials, seed-major, so an interrupted sweep has complete comparisons
        for early seeds. A tuned suite trains each cell at its chosen point (`choices`, from
        `tuning.choose`); cells without a choice (every tuning trial failed) are left out."""
        from membench.config import make_spec

        if self.tune is not None and choices is None:
            raise ValueError("a tuned suite's evaluation trials need the tuning phase's choices")
        trials = []
        for seed, task, variant in itertools.product(self.seeds, self.tasks, self.variants):
            train, tuning = self.train, None
            if self.tune is not None:
                key = (task.label, variant.name) if "task" in self.tune.per else (variant.name,)
                if key not in choices:
                    continue
                choice = choices[key]
                train = {**self.train, **choice.point}
                tuning = {
                    "phase": "evaluate",
                    "point": choice.point,
                    "metric": self.tune.metric,
                    "score": choice.score,
                    "chosen_from": list(choice.trials),
                }
            spec = make_spec(
                task.name, task.overrides, variant.model, train, seed, variant.factory, self.near
            )
            trials.append(Trial(spec, spec.trial_id(), task.label, variant.name, seed, tuning))
        return trials

    def tuning_trials(self) -> list[Trial]:
        """Phase one of a tuned suite: every point of the space × tuning seed × cell."""
        from membench.config import make_spec

        if self.tune is None:
            return []
        trials = []
        combos = itertools.product(self.tune.seeds, self.tasks, self.variants, self.tune.points)
        for seed, task, variant, point in combos:
            train = {**self.train, **point}
            spec = make_spec(
                task.name, task.overrides, variant.model, train, seed, variant.factory, self.near
            )
            tuning = {"phase": "tune", "point": point, "label": point_label(point)}
            trials.append(Trial(spec, spec.trial_id(), task.label, variant.name, seed, tuning))
        return trials

    def ordered(self, trials: list[Trial]) -> list[Trial]:
        """Trials by task, then variant, in the suite's order, then seed: for tables."""
        tasks = {t.label: i for i, t in enumerate(self.tasks)}
        variants = {v.name: i for i, v in enumerate(self.variants)}
        points = {point_label(p): i for i, p in enumerate(self.tune.points if self.tune else [])}

        def point(t: Trial) -> int:
            return points.get((t.tuning or {}).get("label"), -1)

        return sorted(trials, key=lambda t: (tasks[t.task], variants[t.variant], point(t), t.seed))


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; raises MembenchError naming the file and key path."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise MembenchError(f"{path}: expected a mapping with keys {', '.join(KEYS)}")
    for key in data:
        if key not in KEYS:
            raise MembenchError(
                f"{path}: unknown key '{key}': {did_you_mean(str(key), list(KEYS))}"
                f"known: {', '.join(KEYS)}"
            )
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


def mapping(value: Any, where: str) -> dict:
    """An optional mapping: absent or empty (null) is {}, anything but a mapping is an error."""
    return {} if value is None else expect(value, dict, where, "a mapping")


def expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise MembenchError(f"{where}: expected {what}, got {value!r}")
    return value


def parse_resources(data: Any, train: dict, where: str) -> Resources:
    data = mapping(data, where)
    for key in data:
        if key not in ("cpu", "gpu"):
            raise MembenchError(
                f"{where}: unknown key '{key}': {did_you_mean(str(key), ['cpu', 'gpu'])}"
                "known: cpu, gpu"
            )
    cpu = expect(data.get("cpu", 1), (int, float), f"{where}.cpu", "a number")
    gpu = expect(data.get("gpu", 0), (int, float), f"{where}.gpu", "a number")
    if cpu <= 0:
        raise MembenchError(f"{where}.cpu: must be > 0, got {cpu}")
    if gpu < 0 or gpu > 1 and gpu != int(gpu):
        raise MembenchError(f"{where}.gpu: must be a fraction in [0, 1] or a whole number")
    device = train.get("device", "auto")
    if device == "cuda" and gpu == 0 or device == "cpu" and gpu > 0:
        raise MembenchError(
            f"{where}.gpu: train.device is '{device}' but resources.gpu is {gpu}: set gpu > 0 "
            "to train on GPUs (Ray assigns them), or leave train.device out"
        )
    return Resources(float(cpu), float(gpu))


def check_model_keys(model: dict, where: str) -> None:
    """Types and choices of each key; combinations are checked per variant."""
    if model.get("factory") is not None:  # a user's model takes its own options
        expect(model["factory"], str, f"{where}.factory", "'module:function'")
    else:
        build(ModelConfig, {k: v for k, v in model.items() if k != "factory"}, where)


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


def check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise MembenchError(f"{where}: bad variant name {name!r}: use letters, digits, _ . + = -")


def make_variant(name: str, model: dict, where: str) -> Variant:
    """A variant from its full model dict, validated strictly unless it is a user's model."""
    model = dict(model)
    factory = model.pop("factory", None)
    if factory is None:
        model_config(model, where)
    else:
        expect(factory, str, f"{where}.factory", "'module:function'")
    return Variant(name, model, factory)


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


def parse_tasks(raw: Any, path: Path) -> list[TaskInstance]:
    """Entries: 'copy', {'sort': {'length': 32}}, or {'sort': {'length': [16, 32]}} (a sweep)."""
    from membench.config import resolve_task

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


def parse_seeds(raw: Any, where: str) -> list[int]:
    """A count n (seeds 0..n-1) or an explicit list of distinct non-negative integers."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise MembenchError(f"{where}: must be >= 1, got {raw}")
        return list(range(raw))
    expect(raw, list, where, "a count or a list of integers")
    if not raw:
        raise MembenchError(f"{where}: empty list; give a count or at least one seed")
    for seed in raw:
        expect(seed, int, where, "integers")
        if seed < 0:
            raise MembenchError(f"{where}: seeds must be >= 0, got {seed}")
    if len(set(raw)) < len(raw):
        raise MembenchError(f"{where}: repeated seed in {raw}")
    return list(raw)


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


def add_code_paths(paths: list[str]) -> None:
    for entry in reversed(paths):
        if entry not in sys.path and os.path.isdir(entry):
            sys.path.insert(0, entry)


def check_distinct(suite: Suite) -> None:
    """Two variants that build the same model would be one trial under two names."""
    from membench.config import make_spec

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
