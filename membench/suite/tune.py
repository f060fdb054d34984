"""A suite's `tune:` block: the space of train options (a grid, or Ray Tune distributions
drawn with a fixed seed), tuning seeds disjoint from the evaluation seeds, the metric, and per
what a point is chosen; parsed strictly, with the points it stands for and where a grid ends.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from membench.config.validation import check_keys
from membench.errors import MembenchError
from membench.registry import did_you_mean

KEYS = ("space", "seeds", "metric", "per", "samples", "margin", "extend")
DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
PER = {("task", "variant"): ("task", "variant"), ("variant",): ("variant",)}
TUNABLE = ("steps", "batch_size", "lr", "weight_decay", "warmup", "grad_clip")
SAMPLE_SEED = 0  # Tune's random search draws the same points every run: trials stay resumable


@dataclass(frozen=True)
class Tune:
    points: list[dict[str, Any]]  # the train options tried, in the space's order
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

    point: dict[str, Any]
    score: float  # mean of the metric over the tuning seeds (and tasks, per variant)
    trials: tuple[str, ...]  # ids of the tuning trials at the chosen point
    tied: bool = False  # another point scored the same (e.g. every point at the floor)


def parse_tune(data: Any, eval_seeds: list[int], train: dict, where: str) -> Tune:
    """The `tune:` block, validated: every problem one line naming the key and the fix."""
    from membench.config.spec import train_config
    from membench.metrics import METRICS, metric_kind

    if not isinstance(data, dict):
        raise MembenchError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
    check_keys(data, KEYS, where)
    if "space" not in data or "seeds" not in data:
        missing = "space" if "space" not in data else "seeds"
        raise MembenchError(
            f"{where}: missing key '{missing}' (see docs/suites.md: 'Tuned comparisons')"
        )
    space = data["space"]
    if not isinstance(space, dict) or not space:
        raise MembenchError(f"{where}.space: empty; give at least one train option to tune")
    samples = data.get("samples")
    random = [k for k, v in space.items() if isinstance(v, dict)]
    if samples is not None:
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise MembenchError(f"{where}.samples: expected a count >= 1, got {samples!r}")
        if not random:
            raise MembenchError(
                f"{where}.samples: the space is a grid (lists only): remove samples, or give a "
                "distribution such as {lr: {loguniform: [0.0001, 0.01]}}"
            )
    elif random:
        raise MembenchError(
            f"{where}.samples: '{random[0]}' is a distribution: say how many points to draw "
            "(samples: N)"
        )
    for key, values in space.items():
        at = f"{where}.space.{key}"
        if key not in TUNABLE:
            raise MembenchError(
                f"{at}: not a tunable train option: {did_you_mean(str(key), list(TUNABLE))}"
                f"tunable: {', '.join(TUNABLE)}"
            )
        if isinstance(values, dict):
            check_distribution(values, at)
        elif not isinstance(values, list) or not values:
            raise MembenchError(f"{at}: expected a non-empty list of values or a distribution")
        elif len({repr(v) for v in values}) < len(values):
            raise MembenchError(f"{at}: repeated value in {values}")
    points = make_points(space, samples or 1)
    for point in points:
        train_config({**train, **point}, f"{where}.space")
    seeds = data["seeds"]
    if not isinstance(seeds, list) or not seeds:
        raise MembenchError(f"{where}.seeds: expected a non-empty list of tuning seeds")
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise MembenchError(f"{where}.seeds: expected integers >= 0, got {seed!r}")
    if len(set(seeds)) < len(seeds):
        raise MembenchError(f"{where}.seeds: repeated seed in {seeds}")
    shared = sorted(set(seeds) & set(eval_seeds))
    if shared:
        raise MembenchError(
            f"{where}.seeds: seed {shared[0]} is also an evaluation seed: tuning seeds must be "
            "disjoint from `seeds`, or the reported numbers are the ones the choice was made on"
        )
    metric = data.get("metric", "aulc")
    if metric not in METRICS:
        raise MembenchError(
            f"{where}.metric: unknown metric '{metric}': "
            f"{did_you_mean(str(metric), list(METRICS))}known: {', '.join(METRICS)}"
        )
    if metric_kind(metric) == "censored":
        raise MembenchError(
            f"{where}.metric: {metric} is censored at the step budget, so its mean is no score: "
            "use aulc (area under the learning curve), which rewards solving sooner"
        )
    per = data.get("per", ["task", "variant"])
    if not isinstance(per, list) or tuple(per) not in PER:
        raise MembenchError(
            f"{where}.per: expected [task, variant] (one choice per cell) or [variant] (one "
            f"per variant across tasks), got {per!r}"
        )
    margin = data.get("margin", 0.05)
    if not isinstance(margin, int | float) or isinstance(margin, bool) or margin < 0:
        raise MembenchError(f"{where}.margin: expected a number >= 0, got {margin!r}")
    extend = data.get("extend", 0)
    if not isinstance(extend, int) or isinstance(extend, bool) or extend < 0:
        raise MembenchError(
            f"{where}.extend: expected a count >= 0 (grid points a choice on an edge may add "
            f"beyond it), got {extend!r}"
        )
    per = PER[tuple(per)]
    return Tune(points, list(seeds), metric, per, float(margin), dict(space), samples or 1, extend)


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
    """{loguniform: [lo, hi]}, {uniform: [lo, hi]}, {randint: [lo, hi]} or {choice: [...]}."""
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        name = str(next(iter(spec), ""))
        raise MembenchError(
            f"{where}: expected one of {', '.join(DISTRIBUTIONS)}: "
            f"{did_you_mean(name, list(DISTRIBUTIONS))}".rstrip(": ")
        )
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args:
        raise MembenchError(f"{where}.{kind}: expected a list")
    if kind == "choice":
        return
    if len(args) != 2 or not all(isinstance(a, int | float) for a in args) or args[0] >= args[1]:
        raise MembenchError(f"{where}.{kind}: expected [low, high] with low < high, got {args}")
    if kind == "loguniform" and args[0] <= 0:
        raise MembenchError(f"{where}.loguniform: bounds must be > 0, got {args}")


def make_points(space: dict[str, Any], samples: int) -> list[dict[str, Any]]:
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
            points.append({k: point[k] for k in space})
    unique = {repr(sorted(p.items())): p for p in points}
    return list(unique.values())


def point_label(point: dict[str, Any]) -> str:
    """lr=0.001, warmup=50: how a point is named in tables and records."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())
