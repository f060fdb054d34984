"""Data: examples per second of each task generator against what training consumes.

Why: tasks draw every batch on the fly, on the training device, inside the step loop, so a slow
generator would show up as step time. Each named task instance is generated at the training
batch size (the trial loop's call) and at the held-out size (once per trial); consumption is the
batch size over the training step time of the suite's model on that task, timed in the same
interleaved rounds. Target: generation >= 10x consumption, for every task.

    python bench/data.py [--suite suites/core.yaml] [--rounds 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

import torch

from membench.run.train import build, make_optimizer, train_step
from membench.suite.load import load_suite


def per_call(fn, repeats: int) -> float:
    """Seconds per call: the median over `repeats` calls (each call is short, so a median
    filters out the ones another process preempted)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="suites/core.yaml")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a trial's share)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    suite = load_suite(args.suite)
    train = suite.trials()[0].spec.train  # one train config per suite
    batch, eval_size = train["batch_size"], train["eval_size"]
    model_cfg = suite.trials()[0].spec.model  # each task's first variant trains
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {time.strftime('%Y-%m-%d %H:%M')}; "
        f"suite {suite.name}: batch {batch}, held-out {eval_size}, model d_model "
        f"{model_cfg['d_model']}, {model_cfg['n_layers']} layers; {args.rounds} interleaved rounds"
    )
    print(
        f"{'task':<16} {'gen/s (batch)':>14} {'gen/s (held-out)':>17} {'consumed/s':>11} "
        f"{'ratio':>7} {'load':>5}"
    )
    ratios = {}
    seen = set()
    for trial in suite.trials():
        spec = trial.spec
        if (spec.task, str(spec.task_params)) in seen:
            continue
        seen.add((spec.task, str(spec.task_params)))
        task, model = build(spec, torch.device("cpu"))
        optimizer = make_optimizer(model, spec.train)
        generator = torch.Generator().manual_seed(0)
        src, tgt = task.generate(batch, generator, **spec.task_params)
        calls = {
            "batch": partial(task.generate, batch, generator, **spec.task_params),
            "held_out": partial(task.generate, eval_size, generator, **spec.task_params),
            "step": partial(train_step, model, optimizer, src, tgt, spec.train["grad_clip"]),
        }
        times: dict[str, list[float]] = {k: [] for k in calls}
        loads = []
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for k, fn in calls.items():
                times[k].append(per_call(fn, 20 if k != "step" else 3))
        seconds = {k: statistics.median(v) for k, v in times.items()}
        made, made_eval = batch / seconds["batch"], eval_size / seconds["held_out"]
        consumed = batch / seconds["step"]
        ratios[trial.task] = made / consumed
        print(
            f"{trial.task:<16} {made:>14,.0f} {made_eval:>17,.0f} {consumed:>11,.0f} "
            f"{made / consumed:>6,.0f}x {statistics.median(loads):>5.1f}",
            flush=True,
        )
    worst = min(ratios, key=ratios.get)
    print(
        f"summary: generation is >= {ratios[worst]:,.0f}x faster than training consumes "
        f"(slowest relative to training: {worst})"
    )


if __name__ == "__main__":
    main()
