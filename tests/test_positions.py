"""Accuracy per target position: the report says which positions keep exact match down."""

import pandas as pd

from membench.analysis.positions import describe, positions_section
from membench.report.model import build_report
from membench.report.render import render


def test_describe_names_the_wrong_positions():
    assert describe([1.0, 0.99, 0.26], 0.25) == (
        "positions 1-2 right (>= 0.95); position 3 at 0.260 (chance 0.250)"
    )
    assert describe([1.0, 1.0]) == "every position right (>= 0.95)"
    assert describe([0.4, 0.97, 0.5]) == "position 2 right (>= 0.95); position 1 at 0.400; "\
        "position 3 at 0.500"  # fmt: skip
    assert describe([0.3] * 6) == "positions 1-6 below 0.95 (lowest 0.300)"


def rows():
    out = []
    for s in range(3):
        base = dict(task="long_range_sum", seed=s, status="ok", chance=0.25)
        out.append(
            dict(
                base,
                variant="baseline",
                solved=False,
                exact_match=0.25,
                token_accuracy=0.75,
                per_position=[1.0, 1.0, 0.99, 0.25 + 0.01 * s],
            )
        )
        out.append(
            dict(
                base,
                variant="mem",
                solved=True,
                exact_match=1.0,
                token_accuracy=1.0,
                per_position=[1.0] * 4,
            )
        )
    # records from before per-position accuracy: skipped, not an error
    out.append(
        dict(
            task="long_range_sum",
            seed=3,
            status="ok",
            variant="old",
            solved=False,
            exact_match=0.2,
            token_accuracy=0.7,
            chance=0.25,
            per_position=None,
        )
    )
    return pd.DataFrame(out)  # fmt: skip


def test_only_cells_whose_unsolved_seeds_lag_on_exact_match_are_shown():
    section = positions_section(rows())
    assert [(e["variant"], e["seeds"], e["of"]) for e in section] == [("baseline", 3, 3)]
    assert section[0]["accuracy"][3] == 0.26
    assert section[0]["sentence"].startswith("positions 1-3 right (>= 0.95); position 4 at 0.260")


def test_the_report_has_the_section():
    report = build_report(rows())
    md = render(report, "md")
    assert "## Accuracy per position" in md and "1.00 1.00 0.99 0.26" in md
    assert "<h2>Accuracy per position</h2>" in render(report, "html")
