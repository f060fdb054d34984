"""Which change lets the plain 2-layer d64 encoder solve assoc_recall on every seed?

Trains `bench.recall_models:build` (the plain encoder plus one option at a time; `--builtin` uses
membench's own `build_model` instead, as a control) with a training loop that is membench's
(`membench.train.train_loop`: same data stream from the trial seed, same held-out set from
EVAL_SEED, same `evaluate`, early stop at the solve threshold, init from `torch.manual_seed(seed)`)
except that the schedule and optimizer options below can be changed:

    python bench/recall_sweep.py --seeds 0 1 2 3 4 [--model pos=rope] [--train steps=3000]
        [--train schedule=cosine0] [--train lr=3e-3] [--builtin] [--jobs 2] [--curve]

train options (membench's defaults): steps 2000, batch_size 32, lr 1e-3, warmup 100,
weight_decay 0.01, grad_clip 1.0 (0: none), beta1 0.9, beta2 0.999, schedule `membench` (linear
warmup, cosine to 10% of peak) | `cosine0` (warmup, cosine to 0) | `constant` (warmup, then flat),
eval_every 100, eval_size 512, threshold 0.99; plus task parameters with --set.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from membench import tasks  # noqa: E402
from membench.config.identity import parse_assignment
from membench.models import build_model  # noqa: E402
from membench.run.evaluation import EVAL_SEED, evaluate

TRAIN = {
    "steps": 2000,
    "batch_size": 32,
    "lr": 1e-3,
    "warmup": 100,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "beta1": 0.9,
    "beta2": 0.999,
    "schedule": "membench",
    "eval_every": 100,
    "eval_size": 512,
    "threshold": 0.99,
}


def factor(step: int, t: dict) -> float:
    if step < t["warmup"]:
        return (step + 1) / t["warmup"]
    if t["schedule"] == "constant":
        return 1.0
    progress = min(1.0, (step - t["warmup"]) / max(1, t["steps"] - t["warmup"]))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    if t["schedule"] == "cosine0":
        return cosine
    if t["schedule"] == "membench":
        return 0.1 + 0.9 * cosine
    raise ValueError(f"schedule {t['schedule']!r}")


def trial(seed: int, model_cfg: dict, train: dict, task_params: dict, builtin: bool) -> dict:
    torch.set_num_threads(1)
    t = {**TRAIN, **train}
    task = tasks.get("assoc_recall")
    params = task.resolve(task_params)
    src_len, tgt_len = task.lengths(**params)
    vocab = task.vocab_size(**params)
    positions = task.answer_positions(**params)
    torch.manual_seed(seed)
    if builtin:
        model = build_model(model_cfg or None, vocab, src_len, tgt_len, answer_positions=positions)
    else:
        from bench.recall_models import build

        model = build(model_cfg, vocab, src_len, tgt_len, answer_positions=positions)
    data = torch.Generator().manual_seed(seed)
    eval_src, eval_tgt = task.generate(
        t["eval_size"], torch.Generator().manual_seed(EVAL_SEED), **params
    )
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=t["lr"],
        weight_decay=t["weight_decay"],
        betas=(t["beta1"], t["beta2"]),
        fused=True,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factor(s, t))
    start = time.perf_counter()
    curve, solved = [], None
    for step in range(1, t["steps"] + 1):
        src, tgt = task.generate(t["batch_size"], data, **params)
        logits = model(src, tgt)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if t["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"], foreach=True)
        opt.step()
        sched.step()
        if step % t["eval_every"] == 0 or step == t["steps"]:
            s = evaluate(model, eval_src, eval_tgt)
            curve.append((step, loss.item(), s["token_accuracy"], s["exact_match"]))
            if s["exact_match"] >= t["threshold"]:
                solved = step
                break
    return {
        "seed": seed,
        "solved": solved,
        "steps": step,
        "exact": curve[-1][3],
        "token": curve[-1][2],
        "seconds": time.perf_counter() - start,
        "curve": curve,
        "params": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--model", action="append", default=[], help="model option k=v")
    parser.add_argument("--train", action="append", default=[], help="train option k=v")
    parser.add_argument("--set", action="append", default=[], help="task parameter k=v")
    parser.add_argument("--builtin", action="store_true", help="membench's build_model")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--curve", action="store_true", help="print each trial's eval curve")
    args = parser.parse_args()
    model_cfg = dict(map(parse_assignment, args.model))
    train = dict(map(parse_assignment, args.train))
    unknown = set(train) - set(TRAIN)
    if unknown:
        parser.error(f"unknown train options {sorted(unknown)}")
    task_params = dict(map(parse_assignment, args.set))
    t = {**TRAIN, **train}
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"model {'builtin ' if args.builtin else ''}{model_cfg or 'plain'}; "
        f"task {task_params or 'default'}; " + ", ".join(f"{k} {v}" for k, v in t.items()),
        flush=True,
    )
    print(f"{'seed':>4} {'exact>=thr at':>13} {'stopped':>7} {'exact':>6} {'token':>6} {'sec':>6}")
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(trial, s, model_cfg, train, task_params, args.builtin) for s in args.seeds
        ]
        rows = []
        for f in futures:
            r = f.result()
            rows.append(r)
            at = "-" if r["solved"] is None else str(r["solved"])
            print(
                f"{r['seed']:>4} {at:>13} {r['steps']:>7} {r['exact']:>6.3f} {r['token']:>6.3f} "
                f"{r['seconds']:>6.1f}",
                flush=True,
            )
            if args.curve:
                print(
                    "     " + " ".join(f"{s}:{tok:.2f}" for s, _, tok, _ in r["curve"]), flush=True
                )
    n = sum(r["solved"] is not None for r in rows)
    steps = ", ".join("-" if r["solved"] is None else str(r["solved"]) for r in rows)
    print(f"summary: solved {n}/{len(rows)} (steps: {steps}); params {rows[0]['params']:,}")


if __name__ == "__main__":
    main()
