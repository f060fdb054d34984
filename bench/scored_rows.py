"""Scored rows only: a training step's time with logits at every target token against logits at
the scored ones only (`membench.models.loss.step_loss`), on a task whose targets are mostly
IGNORE. Default: zoology's MQAR point of results/published (length 64, 4 pairs, vocabulary
8,192, d_model 64, 2 layers, one head, batch 512), where the head and loss over 56 target rows
were most of a CPU step although 4 are scored.

    python bench/scored_rows.py [--task mqar_64_4] [--batch 512] [--rounds 5] [--threads 1]

Prints seconds per step (median over interleaved rounds, after warm-up), the ratio, the losses
of both on the same batch and the FLOPs each counts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from membench.config.identity import make_spec
from membench.models.loss import scored_only, step_loss
from membench.run.train import build, make_optimizer

MODEL = {"d_model": 64, "n_layers": 2, "n_heads": 1, "d_ff": 256, "dropout": 0.1, "causal": True}


def step_seconds(model, optimizer, src, tgt, scored: bool, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        loss = step_loss(model, src, tgt, scored)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="mqar_64_4")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps per round and kind")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = make_spec(task=args.task, model=MODEL, train={"batch_size": args.batch, "device": "cpu"})
    task, model = build(spec, torch.device("cpu"))
    if not scored_only(model, task):
        raise SystemExit(f"{args.task}: every target token is scored; nothing to compare")
    src, tgt = task.generate(args.batch, torch.Generator().manual_seed(0), **spec.task_params)
    model.eval()  # the same loss from both: no dropout draw between them
    with torch.no_grad():
        losses = [step_loss(model, src, tgt, s).item() for s in (False, True)]
    flops = []
    for scored in (False, True):
        with FlopCounterMode(display=False) as counter:
            step_loss(model, src, tgt, scored).backward()
        flops.append(counter.get_total_flops())
    model.train()
    optimizer = make_optimizer(model, spec.training)
    times = {False: [], True: []}
    step_seconds(model, optimizer, src, tgt, True, 1)  # warm-up
    step_seconds(model, optimizer, src, tgt, False, 1)
    for _ in range(args.rounds):
        for scored in (False, True):
            times[scored].append(step_seconds(model, optimizer, src, tgt, scored, args.steps))
    full, part = (statistics.median(times[s]) for s in (False, True))
    scored_share = (tgt != -100).float().mean().item()
    print(f"{args.task}, batch {args.batch}, {args.threads} thread(s), {scored_share:.1%} scored")
    print(f"  full logits:   {full:.3f} s/step, {flops[0] / 1e9:.1f} GFLOP, loss {losses[0]:.6f}")
    print(f"  scored rows:   {part:.3f} s/step, {flops[1] / 1e9:.1f} GFLOP, loss {losses[1]:.6f}")
    print(f"  speed-up: {full / part:.2f}x (median of {args.rounds} rounds of {args.steps} steps)")


if __name__ == "__main__":
    main()
