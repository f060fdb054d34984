"""Step time: one training step of membench's model against x-transformers' at identical shapes.

Why: the suite's trials are small and compute-bound, so trials per hour follow the step time.
Both models train through membench's own step (`membench.train.train_step`: cross-entropy on the
answer positions, backward, gradient clipping, the trial loop's AdamW), so the ratio compares the
models. Contenders and a large fp32 matmul (the peak) are timed round-robin, round after round,
so load from other processes falls on all of them alike; the table gives medians, the median of
the per-round ratios, and achieved FLOP/s (FlopCounterMode, forward + backward) against the peak.

    pip install -e '.[bench]'
    python bench/step_time.py [--rounds 15] [--steps 10] [--threads 1 2] [--configs small medium]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

import torch
from torch import nn
from torch.optim import Optimizer
from torch.utils.flop_counter import FlopCounterMode

from membench.models import build_model
from membench.run.train import make_optimizer, train_step

CONFIGS = {
    "small": {"d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256},
    "medium": {"d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 512},
}
TRAIN = {"lr": 1e-3, "weight_decay": 0.01}
MATMUL = 1024  # the peak: FLOP/s of a square fp32 matmul of this size


class XTransformer(nn.Module):
    """x-transformers' memory-token encoder behind membench's model contract: it reads the same
    `src; SEP; answer slots` sequence plus `num_memory_tokens`, and answers from the slots."""

    def __init__(self, cfg: dict, vocab: int, src_len: int, tgt_len: int, flash: bool = False):
        from x_transformers import Encoder, TransformerWrapper

        super().__init__()
        d = cfg["d_model"]
        self.net = TransformerWrapper(
            num_tokens=vocab + 2,
            max_seq_len=src_len + 1 + tgt_len,
            logits_dim=vocab,
            num_memory_tokens=cfg["mem_tokens"],
            attn_layers=Encoder(
                dim=d,
                depth=cfg["n_layers"],
                heads=cfg["n_heads"],
                attn_dim_head=d // cfg["n_heads"],
                ff_mult=cfg["d_ff"] / d,
                attn_flash=flash,
            ),
        )
        self.register_buffer("fill", torch.tensor([vocab] + [vocab + 1] * tgt_len))

    def forward(self, src, tgt):
        x = torch.cat([src, self.fill.expand(src.size(0), -1)], dim=1)
        return self.net(x)[:, -tgt.size(1) :]


def contenders(cfg: dict, vocab: int, length: int) -> dict[str, tuple[nn.Module, Optimizer]]:
    """membench and x-transformers with the trial loop's optimizer (the ratio compares models),
    and x-transformers with torch's default AdamW, as its README trains it."""
    torch.manual_seed(0)
    models = {
        "membench": build_model(cfg, vocab, length, length),
        "x-transformers": XTransformer(cfg, vocab, length, length),
        "x-transformers flash": XTransformer(cfg, vocab, length, length, flash=True),
        "x-transformers AdamW": XTransformer(cfg, vocab, length, length),
    }
    return {
        name: (model, torch.optim.AdamW(model.parameters(), **TRAIN))
        if name.endswith("AdamW")
        else (model, make_optimizer(model, TRAIN))
        for name, model in models.items()
    }


def step_flops(model, optimizer, src, tgt) -> float:
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimizer, src, tgt, grad_clip=1.0)
    return float(counter.get_total_flops())


def timed(fn, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call over `repeats` calls. CPU time is the process's, all threads:
    other processes' load stretches wall time but hardly CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def median_ratio(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios: each round's pair ran back to back, under the same load."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def bench(name: str, cfg: dict, threads: int, args) -> list[dict]:
    """Interleaved rounds for one configuration and thread count; one row per contender."""
    torch.set_num_threads(threads)
    cfg = {**cfg, "mem_tokens": args.mem_tokens}
    runs = contenders(cfg, args.vocab, args.length)
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(0, args.vocab, (args.batch, args.length), generator=generator)
    tgt = src.clone()  # copy task: only the shapes matter here
    flops = {k: step_flops(m, opt, src, tgt) for k, (m, opt) in runs.items()}
    steps = {k: partial(train_step, m, opt, src, tgt, 1.0) for k, (m, opt) in runs.items()}
    a, b = torch.randn(MATMUL, MATMUL), torch.randn(MATMUL, MATMUL)
    matmul = partial(torch.mm, a, b)
    for step in steps.values():  # warm-up: allocator, kernels' first-call setup
        timed(step, args.steps)
    wall: dict[str, list[float]] = {k: [] for k in [*steps, "matmul"]}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for k, fn in [*steps.items(), ("matmul", matmul)]:
            w, c = timed(fn, args.steps)
            wall[k].append(w)
            cpu[k].append(c)
    peak = 2 * MATMUL**3 / statistics.median(wall["matmul"])
    peak_cpu = 2 * MATMUL**3 / statistics.median(cpu["matmul"])
    rows = []
    for k in steps:
        seconds, cpu_seconds = statistics.median(wall[k]), statistics.median(cpu[k])
        rows.append(
            {
                "config": name,
                "threads": threads,
                "model": k,
                "ms": 1e3 * seconds,
                "cpu_ms": 1e3 * cpu_seconds,
                "ratio": median_ratio(wall["membench"], wall[k]),
                "cpu_ratio": median_ratio(cpu["membench"], cpu[k]),
                "gflops": flops[k] / 1e9,
                "gflop_s": flops[k] / seconds / 1e9,
                "peak": peak / 1e9,
                "of_peak": flops[k] / seconds / peak,
                "of_peak_cpu": flops[k] / cpu_seconds / peak_cpu * threads,
                "load": statistics.median(loads),
            }
        )
    return rows


COLUMNS = [  # (title, key, format)
    ("config", "config", "<7s"),
    ("thr", "threads", ">3d"),
    ("model", "model", "<20s"),
    ("ms/step", "ms", ">8.2f"),
    ("CPU ms", "cpu_ms", ">8.2f"),
    ("mb/this", "ratio", ">7.2f"),
    ("(CPU)", "cpu_ratio", ">6.2f"),
    ("GFLOP", "gflops", ">6.3f"),
    ("GFLOP/s", "gflop_s", ">7.1f"),
    ("peak", "peak", ">6.1f"),
    ("of peak", "of_peak", ">7.0%"),
    ("(CPU)", "of_peak_cpu", ">6.0%"),
    ("load", "load", ">5.1f"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="steps timed per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=16, help="copy task length L")
    parser.add_argument("--vocab", type=int, default=8)
    parser.add_argument("--mem-tokens", type=int, default=10)
    args = parser.parse_args()

    positions = args.mem_tokens + 2 * args.length + 1
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"batch {args.batch}, copy L={args.length}, {args.mem_tokens} memory tokens ({positions} "
        f"positions); {args.rounds} interleaved rounds x {args.steps} steps; peak: "
        f"{MATMUL}^3 fp32 matmul in the same rounds"
    )
    print(" ".join(f"{title:{fmt[:-1].split('.')[0]}}" for title, _, fmt in COLUMNS))
    summary = []
    for threads in args.threads:
        for name in args.configs:
            rows = bench(name, CONFIGS[name], threads, args)
            for row in rows:
                print(" ".join(f"{row[key]:{fmt}}" for _, key, fmt in COLUMNS), flush=True)
            fastest = max(rows[1:], key=lambda r: r["ratio"])  # the fastest x-transformers
            summary.append(
                f"{name}/{threads}t {fastest['ratio']:.2f} (CPU {fastest['cpu_ratio']:.2f}), "
                f"{rows[0]['of_peak']:.0%} of peak (CPU {rows[0]['of_peak_cpu']:.0%})"
            )
    print("summary: membench/fastest x-transformers step time, " + "; ".join(summary))


if __name__ == "__main__":
    main()
