"""Packed trials against one trial at a time: trials per minute on the core suite's trials.

Why: a core-sized trial (d_model 64, batch 32) issues a few hundred tiny kernels a step, so on a
GPU one trial per process is launch-bound; a pack (`membench.run.packed`) trains K trials with
one set of kernels. This trains N trials of suites/core.yaml (its cells and seeds, cell-major so
a cell's seeds fill a pack) in this process, unpacked (`run_trial` one after another) and packed
at each `--pack` size, and prints wall time, trials per minute, achieved FLOP/s (the records'
`train_flops` summed over the wall time), the fraction of the FP32 peak that is, and on CUDA the
peak memory. `--workers W` trains the packs in W processes at once (as W Ray workers would).

    python bench/packed.py --trials 8 --steps 300 --pack 1 4 8 --device cpu
    python bench/packed.py --trials 396 --pack 11 --device cuda --workers 4 --graphs --interleave
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import time
from pathlib import Path

import torch

from membench.run.machine import cpu_model
from membench.run.packed import run_interleaved, run_pack
from membench.run.packing import make_packs
from membench.suite.load import load_suite

SUITE = Path(__file__).resolve().parent.parent / "suites" / "core.yaml"
FP32_PEAK = {"H200": 67e12, "H100": 67e12, "A100": 19.5e12}  # dense FP32, no tensor cores


def core_specs(trials: int, steps: int | None, device: str, seeds: int | None):
    """The first `trials` of core's trials, cell by cell (each cell's first `seeds` seeds), with
    `steps` and `device` set (steps changes the ids, which a bench does not store)."""
    suite = load_suite(SUITE)
    chosen = suite.seeds[: seeds or len(suite.seeds)]
    by_cell = sorted(
        (t for t in suite.trials() if t.seed in chosen),
        key=lambda t: (t.variant, t.task, t.seed),
    )
    specs = []
    for t in by_cell[:trials]:
        train = {**t.spec.train, "device": device}
        if steps:
            train["steps"] = steps
        specs.append(type(t.spec)(**{**t.spec.to_dict(), "train": train}))
    return specs


def train_packs(packs, threads: int, graphs: bool, interleave: bool) -> tuple[list, float]:
    """Records of `packs` (one after another, or interleaved: `run_interleaved`), and their
    peak GPU memory in MiB (0 on CPU)."""
    torch.set_num_threads(threads)
    cuda = packs[0][0].train["device"] == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if interleave:
        records = [r for pack in run_interleaved(packs, graphs) for r in pack]
    else:
        records = [record for pack in packs for record in run_pack(pack, graphs=graphs)]
    return records, torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0


def run(specs, size, workers, threads, graphs, interleave) -> tuple[float, list, float]:
    """Wall seconds, records and the largest peak GPU MiB of a process, training `specs` in
    packs of `size` (1: run_trial each). With workers, each takes the next pack when it is free
    (as Ray schedules trials; a line reports progress every 4 packs), or with `interleave` a
    share of the packs (two shares per worker), all interleaved."""
    packs = make_packs(specs, size)
    start = time.perf_counter()
    if workers == 1:
        records, memory = train_packs(packs, threads, graphs, interleave)
        return time.perf_counter() - start, records, memory
    records, memory = [], 0.0
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        jobs = [([pack], threads, graphs, False) for pack in packs]
        if interleave:  # two jobs per worker, each a share of the packs trained at once
            jobs = [(packs[i :: 2 * workers], threads, graphs, True) for i in range(2 * workers)]
            jobs = [job for job in jobs if job[0]]
        for i, (part, peak) in enumerate(pool.imap_unordered(train_star, jobs), 1):
            records += part
            memory = max(memory, peak)
            if i % 4 == 0 or interleave:  # partial rates survive a time limit
                seconds = time.perf_counter() - start
                print(f"#   {seconds:.0f} s: {len(records)} trials done", flush=True)
    return time.perf_counter() - start, records, memory


def train_star(job):
    return train_packs(*job)


def alone(record) -> bool:
    """Whether a record asked to train in a pack ran alone (`packed.run_pack`'s note)."""
    return any(n.startswith("ran unpacked") for n in record.get("notes", []))


def fp32_peak(device: str) -> float:
    """FLOP/s of the FP32 peak: a GPU's datasheet figure, or on CPU a measured 1024² matmul."""
    if device == "cuda":
        name = torch.cuda.get_device_name()
        return next((v for k, v in FP32_PEAK.items() if k in name), float("nan"))
    a = torch.randn(1024, 1024)
    a @ a
    start, n = time.perf_counter(), 10
    for _ in range(n):
        a @ a
    return n * 2 * 1024**3 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: all)")
    parser.add_argument("--pack", type=int, nargs="+", default=[1, 4, 8], help="1 = unpacked")
    parser.add_argument("--steps", type=int, default=None, help="default: the suite's")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--workers", type=int, default=1, help="processes training packs")
    parser.add_argument(
        "--unpacked-trials",
        type=int,
        default=None,
        help="train only this many trials at pack 1 (a sample; rates compare)",
    )
    parser.add_argument("--graphs", action="store_true", help="replay packed steps as CUDA graphs")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="each process trains its packs at once, a step of each in turn (CUDA streams)",
    )
    args = parser.parse_args()
    specs = core_specs(args.trials, args.steps, args.device, args.seeds)
    if args.device == "cuda":
        what = f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPU cores"
    else:
        what = f"{cpu_model()}, {os.cpu_count()} cores"
    print(
        f"machine: {what}; torch {torch.__version__}, Python {platform.python_version()}; "
        f"{args.workers} worker(s) x {args.threads} thread(s)"
    )
    peak = fp32_peak(args.device)
    print(
        f"{len(specs)} trials of core.yaml, steps {args.steps or 'as the suite'}; FP32 peak "
        f"{peak / 1e12:.2f} TFLOP/s{' (1024² matmul)' if args.device == 'cpu' else ''}"
    )
    print(
        "| pack | trials | wall s | trials/min | steps trained | achieved GFLOP/s | of FP32 peak "
        "| peak GPU MiB | failed | ran alone |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rates = {}
    for size in args.pack:
        chosen = specs[: args.unpacked_trials] if size == 1 and args.unpacked_trials else specs
        graphs = args.graphs and size > 1
        interleave = args.interleave and size > 1
        wall, records, memory = run(chosen, size, args.workers, args.threads, graphs, interleave)
        ok = [r for r in records if r["status"] == "ok"]
        flops = sum(r["metrics"]["train_flops"] for r in ok)
        steps = sum(r["metrics"]["steps_trained"] for r in ok)
        rates[size] = len(chosen) / wall * 60
        label = f"{size}{' graphs' if graphs else ''}{' interleaved' if interleave else ''}"
        print(
            f"| {label} | {len(chosen)} | {wall:.1f} | {rates[size]:.1f} | {steps:,} | "
            f"{flops / wall / 1e9:.1f} | {flops / wall / peak:.2%} | {memory:,.0f} | "
            f"{len(records) - len(ok)} | {sum(alone(r) for r in records) if size > 1 else '-'} |",
            flush=True,
        )
    base = rates.get(1)
    best = max(rates, key=rates.get)
    print(
        f"summary: {args.device}, {len(specs)} core trials; best pack {best}: "
        f"{rates[best]:.1f} trials/min"
        + (f", {rates[best] / base:.2f}x unpacked ({base:.1f} trials/min)" if base else "")
    )


if __name__ == "__main__":
    main()
