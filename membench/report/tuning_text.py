"""The tuning section's words and rows, shared by the text renderers: what was tuned, on
which seeds and metric, and each cell's choice, its window and whether it sits on a grid edge.
"""

from __future__ import annotations

import math

from membench.analysis.tuning import sensitivity_knob
from membench.metrics import metric_digits


def tuning_intro(tune: dict) -> str:
    knob = sensitivity_knob(tune)
    per = "cell (task, variant)" if "task" in tune["per"] else "variant, across tasks"
    return (
        f"Each {per} was trained at the point of the space ({point_space(tune)}) with the best "
        f"mean {tune['metric']} over the tuning seeds {', '.join(map(str, tune['seeds']))} "
        "(ties to the smaller learning rate); the tables above use the evaluation seeds only, "
        "so they carry no selection bias. score: that mean at the chosen point. window: the "
        f"values of {knob} whose mean is within {tune['margin']:g} of the cell's best (wide: the "
        "variant is forgiving; one value: it needs tuning; 'none (floor)' where every point sat "
        "at the metric's floor: it learned too little to tell). width: the window's largest "
        "value over its smallest. grid edge: the chosen value is the largest ('top') or smallest "
        "('bottom') the grid tried, so the best may lie beyond it (extend the grid: "
        "`extend: N` in `tune:`). sensitivity.png plots every point."
    )


def point_space(tune: dict) -> str:
    parts = []
    for key, values in tune["space"].items():
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        parts.append(f"{key} in {{{shown}}}" if isinstance(values, list) else f"{key} ~ {values}")
    return "; ".join(parts)


def tuning_rows(entries: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The tuning section as plain-text rows (for markdown, HTML and the terminal alike)."""
    head = ["task", "variant", "chosen", "score", "window", "width", "grid edge"]
    body = []
    for e in entries:
        if math.isfinite(e["low"]):
            span = f"{e['low']:g}" if e["low"] == e["high"] else f"{e['low']:g} – {e['high']:g}"
            ratio = e["high"] / e["low"] if e["low"] > 0 else math.inf
            width = f"{ratio:.3g}×" if e["knob"] == "lr" else f"{e['high'] - e['low']:g}"
        elif not e.get("learned", True):
            span, width = "none (floor)", "–"
        else:
            span, width = "–", "–"
        d = metric_digits(e["metric"], e["score"])
        score = f"{e['score']:.{d}f}" if math.isfinite(e["score"]) else "–"
        edges = [edge.split(" (")[0].replace(" at the ", ": ") for edge in e.get("edges") or []]
        edge = "; ".join(edges) or "–"  # "lr: top": the chosen column holds the value
        point = e["point"].label if e["point"] else "none"
        body.append([e["task"], e["variant"], point, score, span, width, edge])
    return head, body
