"""A suite file as written: one pydantic model, `SuiteFile`, that both `membench run` validates
with and `membench schema` prints, so the two accept and reject the same files.

Where a field's JSON Schema type is looser or stricter than membench's rule (a base model that
a variant completes, a seed count or a list), a wrap validator applies the rule itself and its
error names the key path in one line (`validation.describe`). What needs the registry or the
disk (task names, factories) is checked when the suite is built (`load.py`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from membench.config.spec import ModelConfig, TrainConfig, check_model_fields, rule, train_config
from membench.config.validation import unknown_key
from membench.errors import MembenchError
from membench.suite.climb import ClimbBlock
from membench.suite.tune import TuneBlock, make_points

SUITE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$"  # names become file and directory names
FACTORY = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
MODEL_KEYS = [*ModelConfig.model_fields, "factory"]


def line(message: str | MembenchError) -> PydanticCustomError:
    """A one-line message that already names its key path, carried through pydantic."""
    return PydanticCustomError("membench_line", "{message}", {"message": str(message)})


def mapping(value: Any, where: str) -> dict:
    """An optional mapping: absent or empty (null) is {}, anything but a mapping is an error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise line(f"{where}: expected a mapping, got {value!r}")
    return value


def model_options(model: dict, where: str) -> None:
    """Each option's name, type and choice; combinations are checked per variant, since a
    suite's base model may need a variant's options to be whole."""
    if model.get("factory") is not None:  # a user's model takes its own options
        if not isinstance(model["factory"], str):
            raise line(f"{where}.factory: expected 'module:function'")
        return
    try:
        check_model_fields({k: v for k, v in model.items() if k != "factory"}, where)
    except MembenchError as err:
        raise line(err) from None


class FactoryModel(BaseModel):
    """A user's model: `factory: module:function` and its own options, passed on unchecked."""

    model_config = ConfigDict(extra="allow")
    factory: str = Field(pattern=FACTORY)


class Resources(BaseModel):
    """What one trial asks Ray for."""

    model_config = ConfigDict(extra="forbid", strict=True)
    cpu: float = Field(1.0, gt=0, description="Ray CPUs per trial; torch uses int(cpu) threads")
    gpu: float = Field(
        0.0,
        ge=0,
        description="Ray GPUs per trial: a fraction or whole GPUs",
        json_schema_extra={"anyOf": [{"maximum": 1}, {"multipleOf": 1}]},
    )
    pack: int | None = Field(
        None,
        ge=1,
        description="trials trained together as one program in one Ray trial (the seeds of a "
        "cell; membench.run.packed); default: 16 with a GPU, 1 on CPU",
    )

    @model_validator(mode="after")
    def whole_or_fraction(self) -> Resources:
        if self.gpu > 1 and self.gpu != int(self.gpu):
            raise rule("gpu", "must be a fraction in [0, 1] or a whole number")
        return self


TaskParams = dict[str, int | list[int]]
Seeds = (
    Annotated[int, Field(ge=1)]
    | Annotated[
        list[Annotated[int, Field(ge=0)]],
        Field(min_length=1),
        WithJsonSchema(
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 1,
                "uniqueItems": True,
            }
        ),
    ]
)


class Reference(BaseModel):
    """A published value for one cell, shown beside membench's measurement in the report."""

    model_config = ConfigDict(extra="forbid", strict=True)

    value: float = Field(description="the published value, in the metric's own units")
    metric: str = Field("token_accuracy", description="the membench metric it is compared with")
    variant: str | None = Field(None, description="the cell's variant (default: the baseline)")
    source: str = Field(min_length=1, description="paper, figure or file the value comes from")
    note: str = Field("", description="what differs from the published setup")
    indicative: bool = Field(
        False, description="a third party's or an approximate value: shown, never a verdict"
    )


class PerTask(BaseModel):
    """What one task changes: model options under every variant's, train options, which
    variants run on it, and published values to compare with."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: dict[str, Any] | None = Field(None, description="model options for this task")
    train: TrainConfig | None = Field(None, description="train options for this task")
    variants: list[str] | None = Field(
        None, min_length=1, description="the variants run on this task (default: all)"
    )
    references: list[Reference] = Field([], description="published values for its cells")

    @field_validator("model", mode="wrap")
    @classmethod
    def task_model(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> dict:
        model = mapping(value, "model")
        model_options(model, "model")
        return model


class PublishedOrder(BaseModel):
    """A publication's number per variant on its own task (a paper's table, e.g. BLEU), held
    against the frontiers measured here (membench.analysis.ordering): no verdict of its own."""

    model_config = ConfigDict(extra="forbid", strict=True)

    source: str = Field(min_length=1, description="paper and table the numbers come from")
    measure: str = Field("", description="what the numbers are, e.g. 'BLEU, WMT-14 DE-EN'")
    values: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        min_length=2, description="variant -> its published number (at least two variants)"
    )
    higher_is_better: bool = True
    note: str = Field("", description="what differs from the published setting")


class SuiteFile(BaseModel):
    """A suite file (docs/suites.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, pattern=SUITE_NAME, description="default: the file's stem")
    description: str = ""
    tasks: list[str | dict[str, TaskParams | None]] | dict[str, TaskParams | None] = Field(
        description="the tasks to run (see `membench tasks`)",
        json_schema_extra={"minItems": 1, "minProperties": 1},
    )
    model: ModelConfig | FactoryModel | None = None
    variants: dict[str, ModelConfig | FactoryModel | dict[str, Any] | None] | None = Field(
        None,
        description="name -> the model options that differ from `model`",
        json_schema_extra={"propertyNames": {"pattern": SUITE_NAME}, "minProperties": 1},
    )
    grid: dict[str, list[Any]] | None = Field(
        None,
        description="model option -> values: one variant per combination",
        json_schema_extra={"propertyNames": {"enum": MODEL_KEYS}, "minProperties": 1},
    )
    baseline: str | None = None
    seeds: Seeds = Field(3, validate_default=True, description="a count n (0..n-1) or a list")
    train: TrainConfig | None = None
    resources: Resources | None = None
    tune: TuneBlock | None = None
    per_task: dict[str, PerTask] | None = Field(
        None, description="task label -> what differs on that task (model, train, variants)"
    )
    climb: ClimbBlock | None = Field(
        None,
        description="climb each task's difficulty ladder per seed, a level at a time, and score "
        "each seed by its frontier (the hardest level solved)",
    )
    primary: str | None = Field(
        None,
        description="the measure the suite is scored by: 'frontier' (a climb's default) or a "
        "metric (default: exact_match)",
    )
    contrasts: list[Annotated[list[str], Field(min_length=2, max_length=2)]] | None = Field(
        None,
        description="pairs of variants [a, b] compared with each other (a against b), in a "
        "Holm family of their own",
    )
    log: list[Literal["tensorboard", "mlflow", "wandb"]] | None = Field(
        None,
        description="experiment trackers each trial logs to, through Ray Tune's callbacks "
        "(TensorBoard is always on)",
    )
    compute_matched: dict[str, str] | None = Field(
        None,
        description="variant -> the variant whose training FLOPs per step it matches: its d_ff "
        "is set on each task so that it costs as much (within 10%), a control for compute",
    )
    trend: list[str] | list[list[str]] | None = Field(
        None,
        description="variants in an order (e.g. memory size) tested for a monotone trend on "
        "paired seeds (Page's L, exact); a list of such lists for several",
    )
    published_order: PublishedOrder | None = Field(
        None,
        description="a publication's number per variant: the report reads each declared test "
        "between the variants it ranks against the published direction",
    )

    @field_validator("name", mode="wrap")
    @classmethod
    def safe_name(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, str) and not re.match(SUITE_NAME, value):
            raise line(
                f"name: '{value}' is not usable as a directory name: use letters, digits, _ . + = -"
            )
        return handler(value)

    @field_validator("tasks", mode="wrap")
    @classmethod
    def task_entries(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Entries: 'copy', {'sort': {'length': 32}}, or {'sort': {'length': [16, 32]}}."""
        entries = [{k: v} for k, v in value.items()] if isinstance(value, dict) else value
        if not isinstance(entries, list):
            raise line(
                f"tasks: expected a list of task names (see `membench tasks`), got {value!r}"
            )
        if not entries:
            raise line("tasks: empty; list at least one task (see `membench tasks`)")
        for i, entry in enumerate(entries):
            name, params = (
                next(iter(entry.items()))
                if isinstance(entry, dict) and len(entry) == 1
                else (entry, {})
            )
            if not isinstance(name, str):
                raise line(
                    f"tasks[{i}]: expected a task name or {{name: {{parameter: value}}}}, "
                    f"got {name!r}"
                )
            for key, values in mapping(params, f"tasks[{i}].{name}").items():
                if isinstance(values, list) and not values:
                    raise line(f"tasks[{i}].{name}.{key}: empty list; give at least one value")
        return entries  # parameter values are checked by each task's own generator

    @field_validator("model", mode="wrap")
    @classmethod
    def base_model(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> dict:
        model = mapping(value, "model")
        model_options(model, "model")
        return model

    @field_validator("variants", mode="wrap")
    @classmethod
    def variant_overrides(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> dict | None:
        if value is None:
            return None
        variants = mapping(value, "variants")
        if not variants:
            raise line("variants: empty; name at least one variant or remove it")
        out = {}
        for name, overrides in variants.items():
            if not isinstance(name, str) or not re.match(SUITE_NAME, name):
                raise line(
                    f"variants.{name}: bad variant name {name!r}: use letters, digits, _ . + = -"
                )
            out[name] = mapping(overrides, f"variants.{name}")
        return out

    @field_validator("grid", mode="wrap")
    @classmethod
    def grid_values(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> dict | None:
        if value is None:
            return None
        grid = mapping(value, "grid")
        if not grid:
            raise line("grid: empty; list values for at least one model option")
        for key, values in grid.items():
            if key not in MODEL_KEYS:
                err = unknown_key("grid", key, MODEL_KEYS)
                raise line(str(err).replace("unknown key", "unknown model option"))
            if not isinstance(values, list):
                raise line(f"grid.{key}: expected a list of values, got {values!r}")
            if not values:
                raise line(f"grid.{key}: empty list; give at least one value")
            for one in values:
                model_options({key: one}, "grid")
            if len({repr(v) for v in values}) < len(values):
                raise line(f"grid.{key}: repeated value in {values}")
        return grid

    @field_validator("seeds", mode="wrap")
    @classmethod
    def seed_list(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[int]:
        """A count n (seeds 0..n-1) or an explicit list of distinct non-negative integers."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise line(f"seeds: must be >= 1, got {value}")
            return list(range(value))
        if not isinstance(value, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in value
        ):
            raise line(f"seeds: expected a count or a list of integers, got {value!r}")
        if not value:
            raise line("seeds: empty list; give a count or at least one seed")
        if min(value) < 0:
            raise line(f"seeds: seeds must be >= 0, got {min(value)}")
        if len(set(value)) < len(value):
            raise line(f"seeds: repeated seed in {value}")
        return list(value)

    @model_validator(mode="after")
    def across_keys(self) -> SuiteFile:
        """Rules between keys: the device has its resources, tuning seeds avoid evaluation
        seeds and every tuning point is a valid train config."""
        device = self.train.device if self.train else "auto"
        gpu = self.resources.gpu if self.resources else 0.0
        if device == "cuda" and gpu == 0 or device == "cpu" and gpu > 0:
            raise rule(
                "resources.gpu",
                f"train.device is '{device}' but resources.gpu is {gpu:g}: set gpu > 0 to train "
                "on GPUs (Ray assigns them), or leave train.device out",
            )
        if self.tune is not None:
            shared = sorted(set(self.tune.seeds) & set(self.seeds))
            if shared:
                raise rule(
                    "tune.seeds",
                    f"seed {shared[0]} is also an evaluation seed: tuning seeds must be disjoint "
                    "from `seeds`, or the reported numbers are the ones the choice was made on",
                )
            train = self.train.model_dump(exclude_unset=True) if self.train else {}
            for point in make_points(self.tune.space, self.tune.samples or 1):
                try:
                    train_config({**train, **point}, "tune.space")
                except MembenchError as err:
                    raise line(err) from None
        return self
