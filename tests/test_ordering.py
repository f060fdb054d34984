"""A published ordering held against measured frontiers (membench.analysis.ordering): each
declared test read against the published direction, never a verdict of its own."""

import numpy as np
import pandas as pd
import pytest

from membench.analysis import frontier
from membench.analysis.ordering import ordering_section
from membench.errors import MembenchError
from membench.report.frontier_tables import ordering_tables
from membench.suite.load import load_suite
from tests.test_frontier import SUITE, write

PAPER = {"base": 24.65, "m10": 25.07, "m20": 25.58, "bn": 11.20}


def section(scores: dict[str, list[float]], contrasts=(), trends=()) -> dict:
    """The frontier section's families over one ladder from per-seed scores."""
    seeds = []
    for variant, values in scores.items():
        for seed, score in enumerate(values):
            seeds.append(dict(ladder="copy", parameter="length", variant=variant, seed=seed,
                              frontier=2**score, index=0, score=float(score), at_top=False,
                              cut=False, jumps=[]))  # fmt: skip
    seeds = pd.DataFrame(seeds)
    others = [v for v in scores if v != "base"]
    return dict(
        seeds=seeds,
        versus=frontier.compare_frontiers(seeds, [(v, "base") for v in others], 0.05, "holm"),
        contrasts=frontier.compare_frontiers(seeds, list(contrasts), 0.05, "holm"),
        trends=frontier.trend_tests(seeds, list(trends), 0.05, "holm"),
    )


def verdicts(result: dict) -> dict[str, str]:
    return dict(zip(result["rows"]["test"], result["rows"]["verdict"], strict=True))


def test_each_declared_test_is_read_against_the_published_direction():
    rng = np.random.default_rng(0)
    scores = {
        "base": [3.0] * 11,
        "m10": [3.5] * 11,  # above the baseline on every seed, as published
        "m20": [4.0] * 11,
        "bn": [2.0] * 11,  # below it on every seed, as published
        "noise": list(3.0 + rng.normal(0, 0.5, 11)),  # not ranked by the paper: left out
    }
    result = ordering_section(
        section(scores, contrasts=[("m20", "m10")], trends=[["base", "m10", "m20"]]),
        {"source": "the paper, Table 1", "values": PAPER},
    )
    assert verdicts(result) == {
        "m10 vs base": "agrees", "m20 vs base": "agrees", "bn vs base": "agrees",
        "m20 vs m10": "agrees", "base < m10 < m20": "agrees",
    }  # fmt: skip
    assert result["published_order"] == "m20 > m10 > base > bn"
    (summary,) = result["summary"].itertuples()
    assert summary.measured_order == "m20 > m10 > base > bn" and summary.tau == pytest.approx(1)

    flipped = ordering_section(
        section(scores, trends=[["base", "m10", "m20"]]),
        {"source": "s", "values": PAPER, "higher_is_better": False},  # lower is better now
    )
    assert set(verdicts(flipped).values()) == {"disagrees"}
    assert flipped["summary"]["tau"].iloc[0] == pytest.approx(-1)
    assert flipped["published_order"] == "bn > base > m10 > m20"
    level = ordering_section(section({"base": [3.0] * 11, "m10": [3.0] * 11, "bn": [2.0] * 11}),
                             {"source": "s", "values": PAPER})  # fmt: skip
    assert level["summary"]["measured_order"].iloc[0] == "base = m10 > bn"  # ties shown as ties


def test_a_difference_not_significant_is_undecided_and_too_few_seeds_cannot_separate():
    mixed = {"base": [3.0] * 11, "m10": [3.5] * 6 + [2.5] * 5}
    result = ordering_section(section(mixed), {"source": "s", "values": PAPER})
    assert verdicts(result) == {"m10 vs base": "undecided"}
    few = {"base": [3.0] * 5, "m10": [3.5] * 5}  # unanimous, but 2/2^5 > 0.05
    result = ordering_section(section(few), {"source": "s", "values": PAPER})
    assert verdicts(result) == {"m10 vs base": "cannot separate"}
    level = {"base": [3.0] * 11, "m10": [3.0] * 11}
    result = ordering_section(section(level), {"source": "s", "values": PAPER})
    assert verdicts(result) == {"m10 vs base": "tied on every seed"}


def test_the_table_says_where_the_numbers_come_from_and_no_ordering_no_table():
    result = ordering_section(
        section({"base": [3.0] * 11, "m10": [2.0] * 11}),
        {"source": "Burtsev et al. 2020, Table 1", "measure": "BLEU", "values": PAPER},
    )
    (title, head, body), (_, _, summary) = ordering_tables(result)
    assert "BLEU, Burtsev et al. 2020, Table 1: m20 > m10 > base > bn" in title
    row = [
        "copy",
        "frontier",
        "m10 vs base",
        "better (25.07 vs 24.65)",
        "0 higher, 11 lower, 0 tied of 11",
        "0.00098",
        "disagrees",
    ]  # fmt: skip (2/2^11)
    assert body == [row]
    assert summary == [["copy", "base > m10", "11", "–"]]  # no tau from 2 variants
    assert ordering_section(section({"base": [3.0], "m10": [2.0]}), None) is None
    assert ordering_tables(None) == []


def test_a_published_order_names_known_variants(tmp_path):
    order = {"source": "the paper", "values": {"baseline": 24.65, "mem3": 25.07}}
    with pytest.raises(MembenchError, match=r"published_order.values: unknown variant 'mem3'.*"
                       "mem2"):  # fmt: skip
        load_suite(write(tmp_path, {**SUITE, "published_order": order}))
    order["values"] = {"baseline": 24.65, "mem2": 25.07}
    suite = load_suite(write(tmp_path, {**SUITE, "published_order": order}))
    assert suite.design["ordering"]["values"] == order["values"]
    assert "ordering" not in load_suite(write(tmp_path, SUITE)).design  # others: unchanged


def test_a_published_trend_that_is_not_monotone_gives_no_direction_and_an_untested_trend_says_so():
    scores = {"base": [3.0] * 11, "m10": [3.5] * 11, "m20": [4.0] * 11}
    zigzag = {"base": 24.65, "m10": 24.13, "m20": 25.58}
    result = ordering_section(section(scores, trends=[["base", "m10", "m20"]]),
                              {"source": "s", "values": zigzag})  # fmt: skip
    assert verdicts(result)["base < m10 < m20"] == "no published direction"
    climbing = section(scores, trends=[["base", "m10", "m20"]])
    climbing["seeds"]["pending"] = True  # every seed still climbing: no trend test
    climbing["trends"] = frontier.trend_tests(climbing["seeds"], [["base", "m10", "m20"]],
                                              0.05, "holm")  # fmt: skip
    result = ordering_section(climbing, {"source": "s", "values": PAPER}, [["base", "m10", "m20"]])
    assert verdicts(result)["base < m10 < m20"] == "not tested"


def test_lower_bounds_count_as_the_top_in_the_measured_order():
    seeds = section({"base": [4.0] * 3, "m10": [4.0, 4.0, 4.0]})["seeds"]
    seeds.loc[seeds["variant"] == "base", "score"] = [4.0, 4.0, 4.0]
    seeds["at_top"] = True  # every seed solved the ladder's top: all equal, whatever the scores
    seeds.loc[seeds["variant"] == "m10", "score"] = [4.2, 4.0, 4.0]
    result = ordering_section({"seeds": seeds}, {"source": "s", "values": PAPER})
    assert result["summary"]["measured_order"].iloc[0] == "base = m10"


def test_published_numbers_must_be_finite(tmp_path):
    order = {"source": "the paper", "values": {"baseline": float("nan"), "mem2": 25.07}}
    with pytest.raises(MembenchError, match="published_order"):
        load_suite(write(tmp_path, {**SUITE, "published_order": order}))
