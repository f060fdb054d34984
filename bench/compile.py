"""Compile: does `torch.compile` pay back within a trial?

Why: a trial is 200 to 2000 steps of a small model, tens of seconds on one CPU thread, so a
compiled model must win back its compile time inside that budget. The same model and step as the
trial loop (`membench.train.train_step`), eager and compiled: the first step (compile included),
then the median step time over interleaved rounds, and the steps a trial would need to break even.
The compile is cold (a fresh inductor cache, as on a new node) unless --warm-cache.

    python bench/compile.py [--config medium] [--threads 1] [--rounds 10] [--warm-cache]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from membench.models import build_model
from membench.run.train import make_optimizer, train_step

CONFIGS = {
    "small": {"d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256, "mem_tokens": 10},
    "medium": {"d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 512, "mem_tokens": 10},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="medium", choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5, help="steps timed per round")
    parser.add_argument("--warm-cache", action="store_true", help="keep inductor's usual cache")
    args = parser.parse_args()
    if not args.warm_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="membench-inductor-")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {time.strftime('%Y-%m-%d %H:%M')}; "
        f"{args.config} {CONFIGS[args.config]}, batch 32, copy L=16; "
        f"{'warm' if args.warm_cache else 'cold'} compile cache"
    )
    src = torch.randint(0, 8, (32, 16), generator=torch.Generator().manual_seed(0))
    steps, first = {}, {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        model = build_model(CONFIGS[args.config], 8, 16, 16)
        optimizer = make_optimizer(model, {"lr": 1e-3, "weight_decay": 0.01})
        run = torch.compile(model) if name == "compiled" else model
        start = time.perf_counter()
        train_step(run, optimizer, src, src, 1.0)
        first[name] = time.perf_counter() - start
        steps[name] = (run, optimizer)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, (run, optimizer) in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                train_step(run, optimizer, src, src, 1.0)
            times[name].append((time.perf_counter() - start) / args.steps)
    median = {name: statistics.median(t) for name, t in times.items()}
    for name in steps:
        ms = 1e3 * median[name]
        print(f"{name:<9} first step {first[name]:6.1f} s  median step {ms:6.1f} ms")
    saved = median["eager"] - median["compiled"]
    cost = first["compiled"] - first["eager"]
    verdict = f"pays back after {cost / saved:,.0f} steps" if saved > 0 else "never pays back"
    print(
        f"summary: compiling costs {cost:.1f} s and changes the step by "
        f"{-1e3 * saved:+.1f} ms ({median['compiled'] / median['eager']:.2f}x): {verdict}"
    )


if __name__ == "__main__":
    main()
