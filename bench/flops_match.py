"""Training FLOPs per step of plain models against a memory variant, per ladder level: which
width or depth matches a memory variant's compute (issue 31's compute-matched baseline).

    python bench/flops_match.py suites/core.yaml --against mem10

Counts one training step (forward, backward) with torch's FlopCounterMode, as a trial's
`train_flops` does, for every variant of the suite on every task of its ladders, and prints each
variant's FLOPs per step relative to `--against`'s, so a reader sees where a plain model is
within 10% of it."""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from membench.config.identity import make_spec
from membench.run.train import build
from membench.suite.load import load_suite


def step_flops(spec) -> float:
    task, model = build(spec, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    src, tgt = task.generate(spec.training.batch_size, gen, **spec.task_params)
    with FlopCounterMode(display=False) as counter:
        logits = model(src, tgt)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        loss.backward()
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite")
    parser.add_argument("--against", required=True, help="the variant others are measured by")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    names = [v.name for v in suite.variants]
    print("task".ljust(40), *[n[:12].rjust(12) for n in names])
    for task in suite.tasks:
        flops = {}
        for variant in suite.variants:
            model, train = suite.setup(task, variant)
            spec = make_spec(task.name, task.overrides, model, train, 0, None, suite.near)
            flops[variant.name] = step_flops(spec)
        ref = flops[args.against]
        print(task.label[:40].ljust(40), *[f"{flops[n] / ref:12.2f}" for n in names])


if __name__ == "__main__":
    main()
