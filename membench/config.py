"""Typed configs (model, training, trial) and strict loading of YAML/dicts into them.

Every loader reports problems as one line naming the file, the key path and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from membench.errors import MembenchError
from membench.registry import UnknownNameError, did_you_mean


@dataclass
class ModelConfig:
    """The memory Transformer family; see the README's variant table."""

    arch: str = "encoder"  # encoder | encoder_decoder | recurrent
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.0
    mem_tokens: int = 0  # m learned memory vectors prepended to the sequence
    controller: str = "shared"  # shared | dedicated | dedicated_shared
    bottleneck: bool = False  # sequence positions attend to memory only
    causal: bool = True  # a sequence position reads memory and earlier positions (zoology's MQAR)
    segment: int = 0  # arch recurrent: source tokens per segment (memory alone crosses segments)
    bptt: int = 0  # arch recurrent: segments gradients flow back through (0: all)
    mem_reads: str = "all"  # what memory rows attend to: all | memory | context (README)


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    grad_clip: float = 1.0  # max gradient norm; 0: no clipping
    eval_every: int = 100
    eval_size: int = 512
    solve_threshold: float = 0.99  # exact match that counts as solved; training stops there
    patience: int = 0  # stop after this many evaluations without improvement (0: never)
    attention: bool = True  # store the attention summary in the record
    device: str = "auto"  # auto | cpu | cuda


@dataclass
class TrialSpec:
    """Everything that determines a trial's result. The hash of its identity is the trial id."""

    task: str  # generator name
    task_params: dict[str, int]
    model: dict[str, Any]
    train: dict[str, Any]
    seed: int = 0
    factory: str | None = None  # "module:function" for a user's own model

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """What the trial id hashes: the spec less where it runs (train.device), and less every
        field newer than identity version 1 that holds its default, so that adding an option
        with a default keeps every stored id (rule: IDENTITY_VERSION)."""
        spec = only_set_later_fields(self.to_dict(), IDENTITY_V1["spec"], field_defaults(TrialSpec))
        if self.factory is None:  # a factory's model dict is its user's options, hashed as given
            spec["model"] = only_set_later_fields(
                spec["model"], IDENTITY_V1["model"], field_defaults(ModelConfig)
            )
        train = {k: v for k, v in spec["train"].items() if k != "device"}
        spec["train"] = only_set_later_fields(
            train, IDENTITY_V1["train"], field_defaults(TrainConfig)
        )
        spec["task_params"] = task_params_identity(self.task, spec["task_params"])
        if IDENTITY_VERSION != 1:  # version 1 ids predate the key and hash without it
            spec["identity_version"] = IDENTITY_VERSION
        return spec

    def trial_id(self) -> str:
        """Content hash of the identity: same trial, same id, wherever and whenever it runs."""
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# ---- trial identity ----

IDENTITY_VERSION = 1
"""How trial ids are computed. Version 1 hashes, as JSON with sorted keys, every field listed
in IDENTITY_V1 (the fields that existed when it was fixed) whatever its value, exactly as ids
were computed before versions existed, so every stored id stays valid; a field added since is
hashed only when its value differs from its default, so a new option with a default changes no
id. train.device is never hashed. Bump it only to change every id on purpose (all stored results
are then retrained); from version 2 on the version itself is hashed too."""

IDENTITY_V1: dict[str, tuple[str, ...]] = {
    "spec": ("task", "task_params", "model", "train", "seed", "factory"),
    "model": (
        "arch",
        "d_model",
        "n_layers",
        "n_heads",
        "d_ff",
        "dropout",
        "mem_tokens",
        "controller",
        "bottleneck",
        "causal",
    ),
    "train": (
        "steps",
        "batch_size",
        "lr",
        "weight_decay",
        "warmup",
        "grad_clip",
        "eval_every",
        "eval_size",
        "solve_threshold",
        "attention",
    ),
}
"""The fields of TrialSpec, ModelConfig and TrainConfig (less device) at identity version 1.
Never add to these: a new field's defaults-omitted rule is what keeps old ids."""

TASK_PARAMS_V1: dict[str, tuple[str, ...]] = {
    "copy": ("length", "vocab"),
    "sort": ("length", "vocab"),
    "assoc_recall": ("pairs", "queries", "key_vocab", "value_vocab"),
    "long_range_sum": ("length", "base"),
}
"""The built-in generators' parameters at identity version 1; a generator not listed here (a
user's own) has every parameter hashed."""


def field_defaults(cls) -> dict[str, Any]:
    """{field: default} of a dataclass, for the fields that have one."""
    defaults = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            defaults[field.name] = field.default_factory()
    return defaults


def only_set_later_fields(
    values: dict[str, Any], v1_fields: tuple[str, ...], defaults: dict[str, Any]
) -> dict[str, Any]:
    """`values` less the fields added after identity version 1 that hold their default: the
    version-1 fields and any field without a known default are always kept."""
    return {
        key: value
        for key, value in values.items()
        if key in v1_fields or key not in defaults or value != defaults[key]
    }


def task_params_identity(task: str, params: dict[str, Any]) -> dict[str, Any]:
    """A built-in generator's parameters less those added after version 1 at their default."""
    if task not in TASK_PARAMS_V1:
        return dict(params)
    from membench import tasks

    defaults = {k: p.default for k, p in tasks.get(task).params.items()}
    return only_set_later_fields(params, TASK_PARAMS_V1[task], defaults)


CHOICES = {
    "arch": ("encoder", "encoder_decoder", "recurrent"),
    "controller": ("shared", "dedicated", "dedicated_shared"),
    "mem_reads": ("all", "memory", "context"),
    "device": ("auto", "cpu", "cuda"),
}
POSITIVE = {"lr": "a learning rate of 0 never updates the model"}  # key: why 0 is wrong


def build(cls, values: dict[str, Any] | None, where: str):
    """A dataclass from a dict, strictly: unknown keys, wrong types and bad choices fail."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise MembenchError(
                f"{where}: unknown key '{key}': {did_you_mean(key, list(fields))}"
                f"known: {', '.join(fields)}"
            )
        values[key] = check_value(f"{where}.{key}", value, type(fields[key].default), key)
    return cls(**values)


def check_value(where: str, value: Any, kind: type, key: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise MembenchError(f"{where}: expected {kind.__name__}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise MembenchError(
            f"{where}: '{value}' is not one of {', '.join(CHOICES[key])}: "
            f"{did_you_mean(value, list(CHOICES[key]))}".rstrip(": ")
        )
    if key in POSITIVE and value <= 0:
        raise MembenchError(f"{where}: must be > 0 ({POSITIVE[key]}), got {value}")
    if key in COUNTS and value < 1:  # one message for -5 and for 0
        raise MembenchError(f"{where}: must be >= 1, got {value}")
    if kind in (int, float) and value < 0:
        raise MembenchError(f"{where}: must be >= 0, got {value}")
    return value


COUNTS = {"d_model", "n_layers", "n_heads", "d_ff", "steps", "batch_size", "eval_every"}
COUNTS |= {"eval_size"}  # sizes and counts of at least 1


def model_config(values: dict[str, Any] | None, where: str = "model") -> ModelConfig:
    config = build(ModelConfig, values, where)
    if config.d_model % config.n_heads:
        raise MembenchError(
            f"{where}: d_model ({config.d_model}) must be divisible by n_heads ({config.n_heads})"
        )
    if config.bottleneck and config.mem_tokens == 0:
        raise MembenchError(
            f"{where}.bottleneck: needs mem_tokens >= 1 (with no memory the sequence has no "
            "path for information); set mem_tokens"
        )
    if config.controller != "shared" and config.mem_tokens == 0:
        raise MembenchError(
            f"{where}.controller: '{config.controller}' needs mem_tokens >= 1; set mem_tokens"
        )
    if not 0 <= config.dropout < 1:
        raise MembenchError(f"{where}.dropout: must be in [0, 1), got {config.dropout}")
    if config.arch == "recurrent" and config.segment < 1:
        raise MembenchError(
            f"{where}.segment: arch 'recurrent' needs segment >= 1 (source tokens per segment), "
            f"got {config.segment}; set segment"
        )
    check_mem_reads(config, where)
    for key in ("segment", "bptt"):  # a value the other archs would silently ignore
        if config.arch != "recurrent" and getattr(config, key):
            raise MembenchError(
                f"{where}.{key}: only arch 'recurrent' has segments, got {key} "
                f"{getattr(config, key)} with arch '{config.arch}'; set arch: recurrent or drop it"
            )
    return config


def check_mem_reads(config: ModelConfig, where: str) -> None:
    """Combinations of `mem_reads` that carry nothing, or mean what another value means."""
    reads, why = config.mem_reads, None
    if reads == "all":
        return
    if config.mem_tokens == 0:
        why = "needs mem_tokens >= 1 (there is no memory to restrict); set mem_tokens"
    elif reads == "memory" and config.bottleneck:
        why = (
            "'memory' with bottleneck: true leaves no path for information (the sequence reads "
            "only memory, and memory reads nothing of the sequence); use 'context' or 'all'"
        )
    elif config.arch == "recurrent":
        why = (
            f"'{reads}' is not available for arch 'recurrent' (memory is the only path across "
            "its segments and reads each one whole); use 'all'"
        )
    elif reads == "context" and config.arch == "encoder_decoder":
        why = (
            "'context' is 'all' for arch 'encoder_decoder' (its encoder reads only the source, "
            "never an answer); use 'all'"
        )
    if why:
        raise MembenchError(f"{where}.mem_reads: {why}")


def train_config(values: dict[str, Any] | None, where: str = "train") -> TrainConfig:
    config = build(TrainConfig, values, where)
    if not 0 < config.solve_threshold <= 1:
        raise MembenchError(f"{where}.solve_threshold: must be in (0, 1]")
    return config


# ---- named task instances (shipped: membench/tasks/instances/*.yaml; a user's: tasks/*.yaml) ----

BUILTIN_TASKS = Path(__file__).resolve().parent / "tasks" / "instances"  # shipped as package data


def task_dirs(near: Path | None = None) -> list[Path]:
    """Where named task instances are looked up, first match winning: a user's tasks/ beside
    their suite (`near`, the suite's folder), ./tasks, then the instances shipped with membench
    (inside the package, so a non-editable install finds them from any directory)."""
    dirs = [Path(near) / "tasks"] if near is not None else []
    dirs = [d.resolve() for d in [*dirs, Path.cwd() / "tasks", BUILTIN_TASKS]]
    return [d for i, d in enumerate(dirs) if d.is_dir() and d not in dirs[:i]]


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
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
            unknown = set(data) - {"task", "params", "description"}
            if unknown:
                raise MembenchError(
                    f"{path}: unknown key '{sorted(unknown)[0]}': known: task, params, description"
                )
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


def parse_assignment(text: str) -> tuple[str, Any]:
    """'key=value' from the command line, the value read as YAML (so 32 is an int)."""
    if "=" not in text:
        raise MembenchError(f"--set '{text}': expected key=value, e.g. --set length=32")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def make_spec(
    task: str,
    task_overrides: dict | None = None,
    model: dict | None = None,
    train: dict | None = None,
    seed: int = 0,
    factory: str | None = None,
    tasks_near: Path | None = None,
) -> TrialSpec:
    """A validated, fully resolved spec (defaults filled in, so equal trials hash equal).
    `tasks_near`: a suite's folder, so the named instances in its own tasks/ resolve."""
    generator, params = resolve_task(task, task_overrides, tasks_near)
    if factory:
        resolved_model = dict(model or {})  # a user's model takes its own options
    else:
        resolved_model = dataclasses.asdict(model_config(model))
    return TrialSpec(
        task=generator,
        task_params=params,
        model=resolved_model,
        train=dataclasses.asdict(train_config(train)),
        seed=seed,
        factory=factory,
    )
