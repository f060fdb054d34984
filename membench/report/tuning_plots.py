"""The sensitivity plot of a tuned suite: the tuning metric against the learning rate (or the
tuned option), per variant, one panel per task, on the tuning seeds only."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from membench.analysis.tuning import sensitivity_knob
from membench.metrics import UNIT, metric_bounds
from membench.store.records import write_atomic


def sensitivity_figure(report):
    """Means over tuning seeds (lines, markers) with each seed's value (dots); the chosen point
    circled; with several tuned options, each value's best over the others."""
    tune, data = report.tune, report.tuning_data
    metric, knob = tune["metric"], sensitivity_knob(tune)
    ok = data[data["status"] == "ok"].copy()
    ok["x"] = ok["point"].map(lambda point: point[knob])
    tasks = list(dict.fromkeys(e["task"] for e in report.tuning))
    variants = list(dict.fromkeys(e["variant"] for e in report.tuning))
    colours = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(max(5.0, 3.6 * len(tasks)), 3.8), sharey=True, squeeze=False
    )
    xs = sorted(set(ok["x"]))
    for ax, task in zip(axes[0], tasks, strict=True):
        for entry in (e for e in report.tuning if e["task"] == task):
            variant, colour = entry["variant"], colours[entry["variant"]]
            xs, ys = list(entry["profile"]), list(entry["profile"].values())
            ax.plot(xs, ys, marker="o", ms=4, color=colour, label=variant)
            seeds = ok[(ok["task"] == task) & (ok["variant"] == variant)]
            ax.scatter(seeds["x"], seeds[metric], s=8, color=colour, alpha=0.4, linewidths=0)
            if entry["point"]:
                x = entry["point"][knob]
                ax.scatter([x], [entry["score"]], s=70, facecolors="none", edgecolors=colour)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel(knob)
        if knob == "lr":
            ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs], fontsize=7)
        ax.minorticks_off()
        if metric_bounds(metric) == UNIT:
            ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} (tuning seeds)")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(
        f"Sensitivity: {metric} against {knob} on tuning seeds {tune['seeds']} (never reported)\n"
        "line: mean over tuning seeds (best over other tuned options), dots: seeds, circle: chosen",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def write_sensitivity_plot(report, out: Path) -> Path:
    fig = sensitivity_figure(report)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return write_atomic(Path(out) / "sensitivity.png", buffer.getvalue())
