"""A trial's identity: the fully resolved `TrialSpec` and its content hash, the trial id.

Ids must never change for a trial that exists (results are keyed by them), so how they are
computed is versioned (IDENTITY_VERSION) and a field added later is hashed only when it differs
from its default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from membench.config.instances import resolve_task
from membench.config.spec import ModelConfig, TrainConfig, model_config, train_config
from membench.errors import MembenchError


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

    @property
    def training(self) -> TrainConfig:
        """The train options, typed (the dict `train` is what is stored and hashed)."""
        return TrainConfig.model_validate(self.train)

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
    """{field: default} of a pydantic model or a dataclass, for the fields that have one."""
    if hasattr(cls, "model_fields"):
        return {
            name: f.get_default(call_default_factory=True) for name, f in cls.model_fields.items()
        }
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


def parse_assignment(text: str) -> tuple[str, Any]:
    """'key=value' from the command line, the value read as YAML (so 32 is an int)."""
    if "=" not in text:
        raise MembenchError(f"--set '{text}': expected key=value, e.g. --set length=32")
    key, raw = text.split("=", 1)
    return key.strip(), yaml.safe_load(raw)


def check_model_for_task(task_name: str, model: dict[str, Any]) -> None:
    """Built-in models that would read a task's answers or cannot take its targets: one line.
    A next-token task (`answers_in_input`) has each answer later in its own input, so a
    position that reads later positions, directly or through memory, reads its answer."""
    from membench import tasks

    task = tasks.get(task_name)
    if task.answers_in_input:
        reads_ahead = (
            model["arch"] != "encoder"
            or not model["causal"]
            or (model["mem_tokens"] and model["mem_reads"] != "memory")
        )
        if reads_ahead:
            raise MembenchError(
                f"model: task '{task_name}' predicts the next input token at every position, so "
                "a model that reads later positions sees its answers; use arch encoder with "
                "causal: true, and memory only with mem_reads: memory"
            )
    if task.partial_targets and model["arch"] == "encoder_decoder":
        raise MembenchError(
            f"model.arch: task '{task_name}' scores only some target positions, which a decoder "
            "cannot be fed back; use arch encoder or recurrent"
        )


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
        resolved_model = model_config(model).model_dump()
        check_model_for_task(generator, resolved_model)
    return TrialSpec(
        task=generator,
        task_params=params,
        model=resolved_model,
        train=train_config(train).model_dump(),
        seed=seed,
        factory=factory,
    )
