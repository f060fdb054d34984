"""A suite's `tune:` block: the space of train options (a grid, or Ray Tune distributions
drawn with a fixed seed), tuning seeds disjoint from the evaluation seeds, the metric, and per
what a point is chosen; parsed strictly, with the points it stands for and where a grid ends.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from membench.config.spec import rule
from membench.metrics import METRICS, metric_kind
from membench.registry import did_you_mean

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
PER = {("task", "variant"): ("task", "variant"), ("variant",): ("variant",)}
TUNABLE = ("steps", "batch_size", "lr", "weight_decay", "warmup", "grad_clip")
SAMPLE_SEED = 0  # Tune's random search draws the same points every run: trials stay resumable


class Point(dict):
    """One point of a tuning space: train option -> value, in the space's order. A value, not
    a string: hashable (tables group by it), read as a mapping ({**train, **point}), written
    to JSON as one, and shown as its label (lr=0.001, warmup=50)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))

    @property
    def label(self) -> str:
        return ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.items()
        )

    def __str__(self) -> str:
        return self.label

    __repr__ = __str__


@dataclass(frozen=True)
class Tune:
    points: list[Point]  # the train options tried, in the space's order
    seeds: list[int]
    metric: str = "aulc"
    per: tuple[str, ...] = ("task", "variant")
    margin: float = 0.05  # a learning rate is in the window when within this of the best
    space: dict[str, Any] = field(default_factory=dict)  # as written, for the report
    samples: int = 1  # draws of the space's distributions
    extend: int = 0  # grid points a choice on an edge may add beyond each edge of the grid


@dataclass(frozen=True)
class Choice:
    """The point chosen for one cell (or one variant), with the evidence it was chosen on."""

    point: Point
    score: float  # mean of the metric over the tuning seeds (and tasks, per variant)
    trials: tuple[str, ...]  # ids of the tuning trials at the chosen point
    tied: bool = False  # another point scored the same (e.g. every point at the floor)


class TuneBlock(BaseModel):
    """The `tune:` block as written (docs/suites.md: 'Tuned comparisons'): its fields and
    rules, for `membench run` and the JSON Schema alike (the rules that involve the rest of the
    suite, such as tuning seeds disjoint from evaluation seeds, are the suite file's)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    space: dict[str, list[Any] | dict[str, Any]] = Field(
        description="train options to tune: a list of values (a grid) or a distribution",
        json_schema_extra={"propertyNames": {"enum": list(TUNABLE)}},
    )
    seeds: list[Annotated[int, Field(ge=0)]] = Field(
        description="tuning seeds, disjoint from the evaluation seeds",
        json_schema_extra={"minItems": 1, "uniqueItems": True},
    )
    metric: str = Field(
        "aulc",
        description="the metric the choice maximises (not censored)",
        json_schema_extra={"enum": [m for m in METRICS if metric_kind(m) != "censored"]},
    )
    per: list[str] = Field(
        ["task", "variant"],
        description="one choice per cell ([task, variant]) or per variant ([variant])",
        json_schema_extra={"enum": [list(k) for k in PER]},
    )
    samples: int | None = Field(None, ge=1, description="draws of the space's distributions")
    margin: float = Field(0.05, ge=0, description="how far below the best a point is in the window")
    extend: int = Field(0, ge=0, description="grid points a choice on an edge may add past it")

    @model_validator(mode="after")
    def rules(self) -> TuneBlock:
        if not self.space:
            raise rule("space", "empty; give at least one train option to tune")
        random = [k for k, v in self.space.items() if isinstance(v, dict)]
        if self.samples is not None and not random:
            raise rule(
                "samples",
                "the space is a grid (lists only): remove samples, or give a distribution such "
                "as {lr: {loguniform: [0.0001, 0.01]}}",
            )
        if self.samples is None and random:
            raise rule(
                "samples",
                f"'{random[0]}' is a distribution: say how many points to draw (samples: N)",
            )
        for key, values in self.space.items():
            if key not in TUNABLE:
                raise rule(
                    f"space.{key}",
                    f"not a tunable train option: {did_you_mean(str(key), list(TUNABLE))}"
                    f"tunable: {', '.join(TUNABLE)}",
                )
            if isinstance(values, dict):
                check_distribution(values, f"space.{key}")
            elif not values:
                raise rule(f"space.{key}", "expected a non-empty list of values or a distribution")
            elif len({repr(v) for v in values}) < len(values):
                raise rule(f"space.{key}", f"repeated value in {values}")
        if not self.seeds:
            raise rule("seeds", "expected a non-empty list of tuning seeds")
        if len(set(self.seeds)) < len(self.seeds):
            raise rule("seeds", f"repeated seed in {self.seeds}")
        if self.metric not in METRICS:
            raise rule(
                "metric",
                f"unknown metric '{self.metric}': {did_you_mean(self.metric, list(METRICS))}"
                f"known: {', '.join(METRICS)}",
            )
        if metric_kind(self.metric) == "censored":
            raise rule(
                "metric",
                f"{self.metric} is censored at the step budget, so its mean is no score: use "
                "aulc (area under the learning curve), which rewards solving sooner",
            )
        if tuple(self.per) not in PER:
            raise rule(
                "per",
                "expected [task, variant] (one choice per cell) or [variant] (one per variant "
                f"across tasks), got {self.per!r}",
            )
        return self


def grid_edges(space: dict[str, Any], point: dict[str, Any]) -> list[str]:
    """The grid dimensions on whose edge `point` sits: 'lr at the top (0.003)' for each numeric
    list of 2 or more values whose largest or smallest value the point holds. A chosen point
    there is no optimum: the best may lie beyond the grid."""
    edges = []
    for key, values in space.items():
        if not numeric_grid(values) or key not in point:
            continue
        if point[key] == max(values):
            edges.append(f"{key} at the top ({point[key]:g})")
        elif point[key] == min(values):
            edges.append(f"{key} at the bottom ({point[key]:g})")
    return edges


def numeric_grid(values: Any) -> bool:
    return (
        isinstance(values, list)
        and len(values) >= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    )


def beyond(values: list, side: str) -> float | int | None:
    """The next grid value past an edge: the grid's own ratio where every value is positive
    (a log grid of learning rates), else its own step; None where that leaves the option's
    range (a negative value)."""
    ordered = sorted(values)
    a, b = (ordered[-2], ordered[-1]) if side == "high" else (ordered[1], ordered[0])
    new = b * (b / a) if ordered[0] > 0 else b + (b - a)
    if all(isinstance(v, int) for v in values):
        new = round(new)
    else:
        new = float(f"{new:.4g}")
    return None if new < 0 or new in values else new


def check_distribution(spec: dict, where: str) -> None:
    """{loguniform: [lo, hi]}, {uniform: [lo, hi]}, {randint: [lo, hi]} or {choice: [...]};
    `where` is the key path inside the block."""
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        name = str(next(iter(spec), ""))
        message = f"expected one of {', '.join(DISTRIBUTIONS)}: "
        raise rule(where, (message + did_you_mean(name, list(DISTRIBUTIONS))).rstrip(": "))
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args:
        raise rule(f"{where}.{kind}", "expected a list")
    if kind == "choice":
        return
    if len(args) != 2 or not all(isinstance(a, int | float) for a in args) or args[0] >= args[1]:
        raise rule(f"{where}.{kind}", f"expected [low, high] with low < high, got {args}")
    if kind == "loguniform" and args[0] <= 0:
        raise rule(f"{where}.loguniform", f"bounds must be > 0, got {args}")


def make_points(space: dict[str, Any], samples: int) -> list[Point]:
    """Grid values crossed with `samples` draws of the distributions, as Tune's grid_search
    with num_samples does; draws are rounded to 4 significant digits so ids read well."""
    import numpy as np
    from ray import tune

    grid = {k: v for k, v in space.items() if isinstance(v, list)}
    random = {k: v for k, v in space.items() if isinstance(v, dict)}
    rng = np.random.default_rng(SAMPLE_SEED)
    draws = []
    for _ in range(samples if random else 1):
        draw = {}
        for key, spec in random.items():
            kind, args = next(iter(spec.items()))
            domain = getattr(tune, kind)(args) if kind == "choice" else getattr(tune, kind)(*args)
            value = domain.sample(random_state=rng)
            draw[key] = value if kind in ("choice", "randint") else float(f"{value:.4g}")
            draw[key] = draw[key].item() if hasattr(draw[key], "item") else draw[key]
        draws.append(draw)
    points = []
    for combo in itertools.product(*grid.values()):
        for draw in draws:
            point = {**dict(zip(grid, combo, strict=True)), **draw}
            points.append(Point({k: point[k] for k in space}))
    unique = {repr(sorted(p.items())): p for p in points}
    return list(unique.values())
