"""JSON Schemas of a suite file and a trial record, as pydantic v2 models built on the very
configs membench validates with (`ModelConfig` and `TrainConfig` are pydantic models), so the
schema an editor checks a suite with and membench's own validation cannot drift apart
(tests/test_schema.py runs both on the same files).

`membench schema` prints the suite schema for editors (yaml-language-server, VS Code);
`load_results` checks every record against the record schema.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from membench.config.spec import ModelConfig, TrainConfig
from membench.errors import MembenchError
from membench.suite.tune import TuneBlock

RECORD_SCHEMA_VERSION = 2  # 1: records before the field existed (no `code`, no `tuning`)
SUITE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$"


ModelOptions = ModelConfig  # the schema's model and train options are the configs themselves
TrainOptions = TrainConfig


class FactoryModel(BaseModel):
    """A user's model: `factory: module:function` and its own options, passed on unchecked."""

    model_config = ConfigDict(extra="allow")
    factory: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)


Tune = TuneBlock  # the schema's tune block is the one membench validates with


TaskParams = dict[str, int | list[int]]


class Suite(BaseModel):
    """A suite file (docs/suites.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(None, pattern=SUITE_NAME)
    description: str = ""
    tasks: list[str | dict[str, TaskParams | None]] | dict[str, TaskParams | None]
    model: ModelOptions | FactoryModel | None = None  # type: ignore[valid-type]
    # a variant's overrides: model options, or a factory's own options (unchecked, as membench)
    variants: dict[str, ModelOptions | FactoryModel | dict[str, Any] | None] | None = None  # type: ignore[valid-type]
    grid: dict[str, list[Any]] | None = None
    baseline: str | None = None
    seeds: typing.Annotated[int, Field(ge=1)] | list[typing.Annotated[int, Field(ge=0)]] = 3
    train: TrainOptions | None = None  # type: ignore[valid-type]
    resources: Resources | None = None
    tune: Tune | None = None


class Record(BaseModel):
    """A trial record, RESULTS/trials/<id>.json (docs/suites.md: 'Trials and the store'). Labels a
    suite adds (suite, task_label, variant, tuning, node_id) and future fields are allowed."""

    model_config = ConfigDict(extra="allow")
    schema_version: int = 1
    id: str = Field(min_length=1)  # membench writes 12 hex digits of the spec hash
    task: str
    task_params: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    seed: int
    factory: str | None = None
    status: Literal["ok", "failed"]
    error: str | None = None
    metrics: dict[str, float | int | bool | None] | None = None
    curve: list[dict[str, Any]] | None = None
    code: dict[str, Any] | None = None
    stopped: Literal["solved", "plateau", "budget"] | None = None  # absent: before the field
    per_position: dict[str, list[float]] | None = None  # held-out accuracy per target position


def suite_schema() -> dict[str, Any]:
    schema = Suite.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "membench suite"
    return schema


def record_schema() -> dict[str, Any]:
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "membench trial record"
    return schema


def check_record(record: dict[str, Any], where: str) -> None:
    """One line naming the file and the field, not pydantic's multi-line report."""
    try:
        Record.model_validate(record)
    except ValidationError as err:
        first = err.errors()[0]
        path = ".".join(str(p) for p in first["loc"]) or "(record)"
        raise MembenchError(
            f"{where}: not a valid trial record: {path}: {first['msg']}; delete it and rerun "
            "the suite"
        ) from None
