"""What a mid-trial checkpoint costs (membench.run.checkpoint): its size and the time to write it
for the largest model a shipped suite trains on the CPU, zoology's MQAR at (64, 4) (vocabulary
8,192, d_model 64, 2 layers; weights and AdamW's two moments).

    python bench/checkpoint_cost.py
"""

import tempfile
import time
from pathlib import Path

import torch

from membench.run.checkpoint import Checkpoints, Resumable
from membench.run.train import Stopping, build, make_optimizer, train_step, training_batches
from membench.suite.load import load_suite

torch.set_num_threads(1)
suite = load_suite(Path(__file__).parent.parent / "suites" / "published.yaml")
spec = next(t.spec for t in suite.trials() if t.task == "mqar_64_4" and t.variant == "baseline")
task, model = build(spec, torch.device("cpu"))
optimizer = make_optimizer(model, spec.training)
schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
data = torch.Generator().manual_seed(spec.seed)
src, tgt = next(training_batches(spec, task, data))
train_step(model, optimizer, src, tgt, spec.training.grad_clip)  # AdamW's moments exist
checkpoints = Checkpoints(Path(tempfile.mkdtemp()), every_s=0)
stopping = Stopping(spec.training)
loop = Resumable(spec, torch.device("cpu"), model, optimizer, schedule, data, stopping, checkpoints)
times = []
for step in (500, 1000, 1500):
    start = time.perf_counter()
    loop.maybe_save(step, 0.0, 1.0, 0.0)
    times.append(time.perf_counter() - start)
size = checkpoints.path(spec.trial_id()).stat().st_size
params = sum(p.numel() for p in model.parameters())
print(f"MQAR (64, 4): {params:,} parameters, checkpoint {size / 1e6:.1f} MB, written in "
      f"{min(times):.3f}-{max(times):.3f} s (3 writes)")  # fmt: skip
