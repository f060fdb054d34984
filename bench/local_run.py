"""Train a suite's missing trials in local worker processes, without Ray: for a lent GPU machine
that has torch but no Ray (the device tool's image). Records go where `membench run` puts them
(RESULTS/trials/<id>.json, the same record, written whole), so `membench run SUITE` on a machine
with Ray later trains only what is still missing, and `membench report RESULTS` reads them.

    python bench/local_run.py SUITE --results DIR [--workers 8] [--device cuda] [--only TASK ...]
                              [--first VARIANT ...] [--threads 1]

Every worker trains one trial at a time with `--threads` torch threads (default 1) and prints a
line at each of its evaluations. On the 2-core machine one worker with 2 threads beats two with
one each for a large trial: MQAR's step at zoology's point took 0.41 s alone on 2 threads, 0.69 s
alone on 1 and about 1.0 s beside a second trial (bench/RESULTS.md). The longest budgets
(steps x batch) start first, so a run cut off by a time limit keeps the trials only a GPU can
train; `--first` puts the variants named before the others (a
run over several sessions finishes the cells a claim needs first). A trial's labels (task,
variant, seed) are added to its record as the sweep adds them.

Ctrl-C or SIGTERM (a time limit's) stops it as `membench run` stops: each trial in flight writes
a record with status interrupted (its curve so far, its steps), which reports show as cut off
and the same command trains again, from the trial's last checkpoint where it wrote one (every
10 minutes of training, in RESULTS/checkpoints; membench.run.checkpoint).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import time
from pathlib import Path

import torch

from membench.run.checkpoint import CHECKPOINTS, Checkpoints
from membench.run.train import TrialInterrupted, run_trial
from membench.store.records import TRIALS, labels, read_records, write_record, write_suite_file
from membench.suite.load import load_suite


def interrupt(signum, frame):
    raise KeyboardInterrupt


def progress_line(spec, labels):
    """A line per evaluation, so a run of hour-long trials shows where each one is."""
    name = f"{spec.trial_id()} {labels['task_label']} / {labels['variant']} / seed {spec.seed}"

    def show(m):
        print(f"  {name}: step {m['step']}/{m['steps']}, exact {m['exact_match']:.3f}, "
              f"token {m['token_accuracy']:.3f}", flush=True)  # fmt: skip

    return show


def order(todo, first=()):
    """The variants named in `first` before the others, then the longest budgets first."""
    return sorted(
        todo,
        key=lambda t: (t.variant not in first, -t.spec.training.steps * t.spec.training.batch_size),
    )


def work(job):
    spec, labels, device, directory, checkpoints, threads = job
    torch.set_num_threads(threads)
    spec = dataclasses.replace(spec, train={**spec.train, "device": device})
    start = time.perf_counter()
    try:
        saved = Checkpoints(Path(checkpoints))
        record = run_trial(spec, progress_line(spec, labels), checkpoints=saved) | labels
    except TrialInterrupted as cut:  # what it trained, marked as cut off; then this worker ends
        write_record(Path(directory), cut.record | labels)
        os._exit(130)
    write_record(Path(directory), record)
    saved.done(record)
    return record["id"], record["status"], time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--results", required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", help="task labels to train (default: all)")
    parser.add_argument("--first", nargs="*", default=[], help="variants to train before others")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    args = parser.parse_args()
    if args.threads < 1:
        print(f"error: --threads {args.threads}: give 1 or more", file=sys.stderr)
        return 2
    suite = load_suite(args.suite)
    results = Path(args.results).resolve()
    trials = suite.trials()
    write_suite_file(results, suite, trials)
    done = {i for i, r in read_records(results / TRIALS).items() if r.get("status") == "ok"}
    # an interrupted record is not done: trained again
    todo = [t for t in trials if t.id not in done and (not args.only or t.task in args.only)]
    unknown = sorted(set(args.first) - {t.variant for t in trials})
    if unknown:
        print(f"error: --first {' '.join(unknown)}: not a variant of {args.suite}", file=sys.stderr)
        return 2
    todo = order(todo, args.first)
    print(f"{len(trials)} trials, {len(todo)} to train, {args.workers} workers, "
          f"{args.threads} thread(s) each", flush=True)  # fmt: skip
    folders = str(results / TRIALS), str(results / CHECKPOINTS)
    jobs = [(t.spec, labels(suite.name, t), args.device, *folders, args.threads) for t in todo]
    start = time.perf_counter()
    signal.signal(signal.SIGTERM, interrupt)  # a time limit stops it as Ctrl-C does
    pool = mp.get_context("spawn").Pool(args.workers, signal.signal, (signal.SIGTERM, interrupt))
    try:
        for n, (trial, status, seconds) in enumerate(pool.imap_unordered(work, jobs), 1):
            wall = time.perf_counter() - start
            print(f"[{n}/{len(jobs)} {wall:6.0f} s] {trial} {status} {seconds:.0f} s", flush=True)
    except KeyboardInterrupt:
        pool.terminate()  # SIGTERM: each trial in flight writes its interrupted record
        pool.join()
        print("interrupted: the trials in flight are recorded as cut off; the same command "
              "trains them and the missing ones again", flush=True)  # fmt: skip
        return 130
    pool.close()
    pool.join()
    print(f"summary: {len(jobs)} trials in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
