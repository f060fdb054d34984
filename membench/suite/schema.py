"""JSON Schemas of a suite file and a trial record, as pydantic v2 models built on the very
configs membench validates with (`ModelConfig` and `TrainConfig` are pydantic models), so the
schema an editor checks a suite with and membench's own validation cannot drift apart
(tests/test_schema.py runs both on the same files).

`membench schema` prints the suite schema for editors (yaml-language-server, VS Code);
`load_results` checks every record against the record schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from membench.errors import MembenchError
from membench.suite.file import SuiteFile

RECORD_SCHEMA_VERSION = 2  # 1: records before the field existed (no `code`, no `tuning`)


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
    status: Literal["ok", "failed", "interrupted"]  # interrupted: cut off before it finished
    error: str | None = None
    metrics: dict[str, float | int | bool | None] | None = None
    curve: list[dict[str, Any]] | None = None
    code: dict[str, Any] | None = None
    stopped: Literal["solved", "plateau", "budget", "interrupted"] | None = (
        None  # absent: before the field
    )
    per_position: dict[str, list[float]] | None = None  # held-out accuracy per target position
    # mid-trial checkpoints (membench.run.checkpoint): where a cut-off trial's checkpoint stands,
    # where a finished one went on from, and why a checkpoint found was not used
    checkpoint_step: int | None = None
    resumed_from_step: int | None = None
    checkpoint_unused: str | None = None


def suite_schema() -> dict[str, Any]:
    schema = SuiteFile.model_json_schema()
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
