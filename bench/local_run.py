"""Train a suite's missing trials in local worker processes, without Ray: for a lent GPU machine
that has torch but no Ray (the device tool's image). Records go where `membench run` puts them
(RESULTS/trials/<id>.json, the same record, written whole), so `membench run SUITE` on a machine
with Ray later trains only what is still missing, and `membench report RESULTS` reads them.

    python bench/local_run.py SUITE --results DIR [--workers 8] [--device cuda] [--only TASK ...]

Every worker trains one trial at a time with one torch thread; the longest budgets (steps x
batch) start first, so a run cut off by a time limit keeps the trials only a GPU can train. A
trial's labels (task, variant, seed) are added to its record as the sweep adds them.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch

from membench.run.train import run_trial
from membench.store.records import TRIALS, labels, read_records, write_record, write_suite_file
from membench.suite.load import load_suite


def work(job):
    spec, labels, device, directory = job
    torch.set_num_threads(1)
    spec = dataclasses.replace(spec, train={**spec.train, "device": device})
    start = time.perf_counter()
    record = run_trial(spec) | labels
    write_record(Path(directory), record)
    return record["id"], record["status"], time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--results", required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", help="task labels to train (default: all)")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    results = Path(args.results).resolve()
    trials = suite.trials()
    write_suite_file(results, suite, trials)
    done = {i for i, r in read_records(results / TRIALS).items() if r.get("status") == "ok"}
    todo = [t for t in trials if t.id not in done and (not args.only or t.task in args.only)]
    todo.sort(key=lambda t: -t.spec.training.steps * t.spec.training.batch_size)  # long first
    print(f"{len(trials)} trials, {len(todo)} to train, {args.workers} workers", flush=True)
    jobs = [(t.spec, labels(suite.name, t), args.device, str(results / TRIALS)) for t in todo]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for n, (trial, status, seconds) in enumerate(pool.imap_unordered(work, jobs), 1):
            wall = time.perf_counter() - start
            print(f"[{n}/{len(jobs)} {wall:6.0f} s] {trial} {status} {seconds:.0f} s", flush=True)
    print(f"summary: {len(jobs)} trials in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
