"""Sweep efficiency: how much of a suite's wall time the trials spend training.

Why: users judge an ablation suite by trials per hour. `membench run SUITE` (a fresh results
directory, so every trial trains) is timed end to end; its records give each trial's own train
seconds and start/end times. Efficiency = sum of train seconds / (wall seconds x concurrent
slots). The rest of the wall time is split into Ray start-up (command start to the first trial's
start), in-trial overhead (a trial's start to end beyond its train seconds: build, attention
summary, record), idle slots (scheduling gaps and the tail, when fewer trials than slots are left)
and the end (last trial to exit: Ray shutdown, report). Record times have one-second resolution.
In a pack every member starts with the pack and its train seconds are a share of the pack's, so
for packed runs "conc." counts trials in flight, and in-trial and idle are not defined (shown -).
A second run of the same suite with one-step trials measures the fixed costs directly.
`--pack N [N ...]` runs the suite once per pack size instead (`membench run --pack N`), each into
a fresh directory, and compares their records: packing must change the wall time, not the answers.
The sizes run one after another in the order given, once each: drift in the machine's load over
the runs biases the ratio, so read it with the per-cell times and, where it matters, run again in
the other order.

    python bench/sweep_efficiency.py suites/smoke.yaml [--max-concurrent N] [--no-fixed]
    python bench/sweep_efficiency.py bench/packed_core.yaml --pack 1 11 --no-fixed
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

import membench
from membench.run.packing import pack_size
from membench.suite.load import load_suite


def run(
    suite: Path, results: Path, max_concurrent: int | None, pack: int | None = None
) -> tuple[float, float, float]:
    """(wall seconds, start epoch, load average) of `membench run` into a fresh directory."""
    command = [sys.executable, "-m", "membench.cli", "run", str(suite), "--results", str(results)]
    if max_concurrent:
        command += ["--max-concurrent", str(max_concurrent)]
    if pack is not None:
        command += ["--pack", str(pack)]
    load = os.getloadavg()[0]
    start = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - start
    (results / "run.log").write_text(done.stdout + done.stderr)
    if done.returncode not in (0, 1):
        sys.exit(f"membench run failed ({done.returncode}): see {results / 'run.log'}")
    return wall, start, (load + os.getloadavg()[0]) / 2


def account(
    results: Path, wall: float, start: float, slots: int, packed: bool = False
) -> dict[str, float]:
    """Where the wall time x slots went, from the records."""
    df = membench.load_results(results)
    begin = pd.to_datetime(df["start_time"]).map(pd.Timestamp.timestamp)
    end = pd.to_datetime(df["end_time"]).map(pd.Timestamp.timestamp)
    trial_seconds = float(df["train_seconds"].sum())
    span = float((end - begin).sum())
    first, last = float(begin.min()), float(end.max())
    return {
        "trials": len(df),
        "wall": wall,
        "slots": slots,
        "train": trial_seconds,
        "eval": float(df["eval_seconds"].sum()),
        "efficiency": trial_seconds / (wall * slots),
        "startup": first - start,
        "in_trial": math.nan if packed else (span - trial_seconds) / len(df),
        "idle": math.nan if packed else slots * (last - first) - span,
        "end": start + wall - last,
        "concurrency": span / (last - first),
    }


def dash(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:>{width}.{digits}f}"


def agreement(first: Path, other: Path) -> str:
    """How many trials two runs of one suite answered alike (exact match and steps)."""
    cols = ["id", "exact_match", "steps_trained"]
    a = membench.load_results(first)[cols].set_index("id")
    b = membench.load_results(other)[cols].set_index("id").reindex(a.index)
    same = (a["exact_match"] == b["exact_match"]) & (a["steps_trained"] == b["steps_trained"])
    gap = (a["exact_match"] - b["exact_match"]).abs().max()
    steps = (a["steps_trained"] != b["steps_trained"]).sum()
    return (
        f"{int(same.sum())}/{len(a)} identical in exact match and steps, largest exact-match "
        f"difference {gap:.4f}, {int(steps)} trained a different number of steps"
    )


def one_step_copy(suite: Path, directory: Path) -> Path:
    """The suite with one-step trials (same tasks, variants, seeds, resources)."""
    data = yaml.safe_load(suite.read_text())
    data["train"] = {**(data.get("train") or {}), "steps": 1, "eval_every": 1, "warmup": 1}
    path = directory / suite.name
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument("--no-fixed", action="store_true", help="skip the one-step-trials run")
    parser.add_argument("--keep", type=Path, help="keep the results here (default: a temp dir)")
    parser.add_argument(
        "--pack", type=int, nargs="+", help="run the suite once per pack size (membench run --pack)"
    )
    args = parser.parse_args()
    if args.pack and (min(args.pack) < 1 or len(set(args.pack)) < len(args.pack)):
        parser.error("--pack: distinct sizes of at least 1, e.g. --pack 1 11")

    suite = load_suite(args.suite)
    slots = math.floor((os.cpu_count() or 1) / suite.resources.cpu)
    if args.max_concurrent:
        slots = min(slots, args.max_concurrent)
    print(
        f"membench {membench.__version__}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; suite {suite.name}: {len(suite.trials())} trials, "
        f"{suite.resources.cpu:g} CPU each -> {slots} slots"
    )
    print(
        f"{'run':<9} {'trials':>6} {'wall s':>7} {'/min':>5} {'train s':>8} {'eval s':>7} "
        f"{'conc.':>5} "
        f"{'effic.':>6} {'start s':>7} {'in-trial s':>10} {'idle slot-s':>11} {'end s':>6} "
        f"{'load':>5}"
    )
    with tempfile.TemporaryDirectory(prefix="membench-bench-") as tmp:
        root = args.keep or Path(tmp)
        packs = args.pack or [None]
        runs = {("suite" if p is None else f"pack {p}"): (args.suite, p) for p in packs}
        if not args.no_fixed:
            runs["one-step"] = (one_step_copy(args.suite, Path(tmp)), packs[0])
        rows = {}
        for name, (path, pack) in runs.items():
            results = root / name.replace(" ", "")
            if results.exists():
                sys.exit(f"{results} exists: sweep_efficiency needs fresh results directories")
            wall, start, load = run(path, results, args.max_concurrent, pack)
            packed = (pack or pack_size(suite.resources)) > 1
            r = rows[name] = account(results, wall, start, slots, packed)
            rate = 60 * r["trials"] / r["wall"]
            print(
                f"{name:<9} {r['trials']:>6} {r['wall']:>7.1f} {rate:>5.1f} "
                f"{r['train']:>8.1f} "
                f"{r['eval']:>7.1f} {r['concurrency']:>5.2f} {r['efficiency']:>6.2f} "
                f"{r['startup']:>7.1f} {dash(r['in_trial'], 10, 2)} {dash(r['idle'], 11, 1)} "
                f"{r['end']:>6.1f} {load:>5.1f}",
                flush=True,
            )
        if args.pack and len(args.pack) > 1:
            first = f"pack {packs[0]}"
            for name in runs:
                if name.startswith("pack") and name != first:
                    ratio = rows[first]["wall"] / rows[name]["wall"]
                    print(
                        f"{name} vs {first}: {ratio:.2f}x the trials per minute; "
                        + agreement(root / first.replace(" ", ""), root / name.replace(" ", ""))
                    )
    r = rows["suite" if not args.pack else f"pack {packs[0]}"]
    fixed = ""
    if "one-step" in rows:
        f = rows["one-step"]
        per_trial = (f["wall"] - f["startup"] - f["end"]) * slots / f["trials"]
        fixed = (
            f"; one-step trials: start-up {f['startup']:.1f} s, {per_trial:.2f} slot-s per trial"
        )
    print(
        f"summary: efficiency {r['efficiency']:.2f} ({r['train']:.0f} train s / ({r['wall']:.0f} "
        f"wall s x {slots} slots)), start-up {r['startup']:.1f} s"
        + (
            ""
            if math.isnan(r["in_trial"])
            else f", in-trial overhead {r['in_trial']:.2f} s per trial"
        )
        + fixed
    )


if __name__ == "__main__":
    main()
