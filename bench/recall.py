"""Recall: does the plain baseline learn assoc_recall, answers at separate slots or at the queries?

Why: with each answer read at a separate answer slot after `SEP` (the old layout), the plain
2-layer d_model-64 encoder plateaus at 0.41 token accuracy on assoc_recall; read at each query's
own source position (the `new` layout, zoology's MQAR, what `Task.answer_positions` gives the
built-in encoder) it should solve it. Each trial is membench's own training loop
(`membench.run.train.train_loop`: same data stream, held-out set, schedule and early stop at the
solve threshold as `membench train`), the model built from the trial's seed either by
`membench.run.train.build` (new: the task's answer positions) or by `build_model` without them
(old).
Prints, per layout and seed, the step at which held-out exact match first reached the threshold
('-' if never), the exact match and token accuracy where training stopped, and wall seconds.

    python bench/recall.py [--layout new|old|both] [--seeds 0 1 2] [--steps N] [--batch-size N]
        [--lr X] [--warmup N] [--train weight_decay=0.1] [--set pairs=8 --set key_vocab=32]
        [--jobs 2]

Unset training options are membench's defaults (`membench/config/spec.py`); one torch thread per
trial, `--jobs` trials at once.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from membench.config.identity import make_spec, parse_assignment
from membench.models import build_model
from membench.run.train import build, train_loop


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(layout: str, seed: int, task_params: dict, train: dict, model: dict) -> dict:
    """One trial of the plain baseline; returns its row."""
    torch.set_num_threads(1)
    spec = make_spec("assoc_recall", task_params, model, train, seed=seed)
    device = torch.device("cpu")
    task, model = build(spec, device)  # the new layout: the task's answer positions
    if layout == "old":  # the same model, answers at separate slots (the same init stream)
        src_len, tgt_len = task.lengths(**spec.task_params)
        torch.manual_seed(spec.seed)
        model = build_model(spec.model, task.vocab_size(**spec.task_params), src_len, tgt_len)
    start = time.perf_counter()
    result = train_loop(spec, model, task, device, None)
    return {
        "layout": layout,
        "seed": seed,
        "solved_at": result["steps_to_solve"] if result["solved"] else None,
        "steps": result["steps_trained"],
        "exact": result["exact_match"],
        "token": result["token_accuracy"],
        "seconds": time.perf_counter() - start,
        "spec": spec,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=["new", "old", "both"], default="new")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--set", action="append", default=[], help="task parameter key=value")
    parser.add_argument("--train", action="append", default=[], help="other train option k=v")
    parser.add_argument(
        "--bidirectional",
        action="store_true",
        help="the bidirectional encoder (causal: false), as every run before causal became the "
        "default",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()

    task_params = dict(parse_assignment(text) for text in args.set)
    train = {"device": "cpu", "attention": False, **dict(map(parse_assignment, args.train))}
    for key in ("steps", "batch_size", "lr", "warmup"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    layouts = ["new", "old"] if args.layout == "both" else [args.layout]
    jobs = [(layout, seed) for layout in layouts for seed in args.seeds]

    model = {"causal": False} if args.bidirectional else {}
    spec = make_spec("assoc_recall", task_params, model, train)
    t, kind = spec.train, "causal" if spec.model["causal"] else "bidirectional"
    print(
        f"{cpu_name()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}; {args.jobs} trial(s) at once, "
        "1 thread each"
    )
    print(
        f"assoc_recall {spec.task_params}; plain {kind} encoder d_model {spec.model['d_model']}, "
        f"{spec.model['n_layers']} layers; steps {t['steps']}, batch {t['batch_size']}, "
        f"lr {t['lr']:g}, warmup {t['warmup']}, eval every {t['eval_every']} on {t['eval_size']}, "
        f"threshold {t['solve_threshold']}"
    )
    print(
        f"{'layout':<7} {'seed':>4} {'exact>=thr at':>13} {'stopped at':>10} {'exact':>6} "
        f"{'token acc':>9} {'seconds':>8}"
    )
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(run, layout, seed, task_params, train, model) for layout, seed in jobs
        ]
        rows = []
        for future in futures:
            row = future.result()
            rows.append(row)
            solved = "-" if row["solved_at"] is None else str(row["solved_at"])
            print(
                f"{row['layout']:<7} {row['seed']:>4} {solved:>13} {row['steps']:>10} "
                f"{row['exact']:>6.3f} {row['token']:>9.3f} {row['seconds']:>8.1f}",
                flush=True,
            )
    parts = []
    for layout in layouts:
        own = [r for r in rows if r["layout"] == layout]
        solved = [r["solved_at"] for r in own if r["solved_at"] is not None]
        steps = ", ".join("-" if r["solved_at"] is None else str(r["solved_at"]) for r in own)
        parts.append(f"{layout} layout solved {len(solved)}/{len(own)} seeds (steps: {steps})")
    print("summary: " + "; ".join(parts))


if __name__ == "__main__":
    main()
