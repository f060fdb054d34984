"""The choice of a tuned suite: per cell (or variant), the point of the space whose tuning
trials score best on the tuning metric, how flat the optimum is (the window within the margin),
whether it sits on the grid's edge, and the grid extended past an edge when asked.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from membench.errors import MembenchError
from membench.suite.tune import (
    Choice,
    Point,
    Tune,
    beyond,
    grid_edges,
    make_points,
    numeric_grid,
)

if TYPE_CHECKING:
    import pandas as pd


def extend_space(tune: Tune, choices: dict[tuple[str, ...], Choice], train: dict) -> Tune | None:
    """`tune` with one more grid value past each edge that a chosen point sits on, while
    `extend` allows; None when every choice is interior (or extension is spent or impossible).
    The new points are validated as train options; one that is not is left out."""
    from membench.config.spec import train_config
    from membench.metrics import metric_bounds, metric_direction

    if tune.extend < 1:
        return None
    floor = metric_bounds(tune.metric)[0 if metric_direction(tune.metric) > 0 else 1]

    def informative(c: Choice) -> bool:  # a tie, or nothing learned at any point: no direction
        return not c.tied and not (math.isfinite(floor) and abs(c.score - floor) <= tune.margin)

    space = {k: list(v) if isinstance(v, list) else v for k, v in tune.space.items()}
    grown = False
    for key, values in tune.space.items():
        if not numeric_grid(values):
            continue
        chosen = [c.point.get(key) for c in choices.values() if informative(c)]
        for side, edge in (("high", max(values)), ("low", min(values))):
            new = beyond(values, side) if edge in chosen else None
            if new is None:
                continue
            try:
                train_config({**train, key: new})
            except MembenchError:
                continue
            space[key] = [*space[key], new] if side == "high" else [new, *space[key]]
            grown = True
    if not grown:
        return None
    points = make_points(space, tune.samples)
    return dataclasses.replace(tune, points=points, space=space, extend=tune.extend - 1)


def choose(tuning: pd.DataFrame, tune: Tune) -> dict[tuple[str, ...], Choice]:
    """The best point per cell (or per variant): highest mean over tuning seeds of the metric
    (lowest where lower is better), ties to the smaller learning rate, then the earlier point.

    `tuning` is the tuning trials' table with columns task, variant, seed, status, point (the
    point's label) and the metric; failed trials take no part. Per variant, a point's score is
    the mean over tasks of its per-task means, over the tasks where it has results for all."""
    from membench.metrics import metric_direction

    sign = metric_direction(tune.metric)
    ok = tuning[tuning["status"] == "ok"]
    order = {p: i for i, p in enumerate(tune.points)}
    cell_means = ok.groupby(["task", "variant", "point"], sort=False)[tune.metric].mean()
    choices = {}
    for key, group in cell_means.groupby(level=list(tune.per), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        by_point = group.groupby(level="point", sort=False)  # Points: dicts, so no pandas lookup
        means = dict(zip(by_point.mean().index, by_point.mean().to_numpy(float), strict=True))
        if "task" not in tune.per:  # only points with results on every task of the variant
            counts = dict(zip(by_point.size().index, by_point.size().to_numpy(), strict=True))
            means = {p: v for p, v in means.items() if counts[p] == max(counts.values())}
        scores = {p: round(float(v), 12) for p, v in means.items() if not math.isnan(v)}
        if not scores:
            continue
        best = min(scores, key=lambda p: (-sign * scores[p], p.get("lr", 0.0), order[p]))
        mask = ok["point"].map(lambda p, best=best: p == best).astype(bool)
        for name, value in zip(tune.per, key, strict=True):
            mask &= ok[name] == value
        ids = tuple(ok.loc[mask, "id"])
        tied = list(scores.values()).count(scores[best]) > 1
        choices[key] = Choice(best, float(means[best]), ids, tied)
    return choices


def window(scores: dict[float, float], margin: float, sign: int = 1) -> tuple[float, float] | None:
    """The range of learning rates whose mean is within `margin` of the best: how wide a
    variant's window is, not only how high its peak (arXiv 2508.19029)."""
    finite = {lr: s for lr, s in scores.items() if s is not None and math.isfinite(s)}
    if not finite:
        return None
    best = max(sign * s for s in finite.values())
    inside = [lr for lr, s in finite.items() if sign * s >= best - margin]
    return min(inside), max(inside)


def sensitivity_knob(tune: dict) -> str:
    """The option plotted on the x-axis: the learning rate where it is tuned, else the first."""
    return "lr" if "lr" in tune["space"] else next(iter(tune["space"]))


def tuning_section(tuning: pd.DataFrame, tune: dict) -> list[dict]:
    """Per (task, variant): the chosen point, its score on the tuning seeds, and the window of
    the sensitivity knob (values whose mean over tuning seeds is within `margin` of the best;
    with more than one knob, each value's best over the others). Reads suite.json's `tuning`."""
    from membench.metrics import metric_bounds, metric_direction

    metric, margin = tune["metric"], float(tune["margin"])
    knob, sign = sensitivity_knob(tune), metric_direction(metric)
    chosen = {}
    for c in tune["choices"]:
        chosen[(c.get("task"), c["variant"])] = c
    ok = tuning[tuning["status"] == "ok"]
    entries = []
    for (task, variant), group in ok.groupby(["task", "variant"], sort=False):
        means = group.groupby("point", sort=False)[metric].mean()
        profile: dict[float, float] = {}
        for point, mean in means.items():
            x = point[knob]
            profile[x] = mean if x not in profile else max(profile[x], mean, key=lambda m: sign * m)
        choice = chosen.get((task, variant)) or chosen.get((None, variant))
        span = window(profile, margin, sign)
        floor = metric_bounds(metric)[0 if sign > 0 else 1]
        best = max((sign * v for v in profile.values() if math.isfinite(v)), default=math.nan)
        learned = not math.isfinite(floor) or best - sign * floor > margin
        if not learned:  # every point at the floor: a "wide window" would only mean "no effect"
            span = None
        point = Point(choice["point"]) if choice else None
        entries.append(
            dict(
                task=task,
                variant=variant,
                edges=grid_edges(tune["space"], point) if point else [],
                point=point,
                metric=metric,
                score=choice["score"] if choice else math.nan,
                seeds=int(group["seed"].nunique()),
                knob=knob,
                low=span[0] if span else math.nan,
                high=span[1] if span else math.nan,
                learned=learned,
                profile=dict(sorted(profile.items())),
            )
        )
    return entries
