"""The stacked program of a pack: its members' parameters as rows of one tensor, trained by one
set of kernels. `Pack` holds the stacked state (parameters and AdamW's moments [K, N]), steps it
under `torch.func.vmap` with each member's own learning rate, clipping and weight decay (plainly
or by replaying a CUDA graph), evaluates members on their own held-out sets, and hands each
member back as an ordinary model for its record. `membench.run.packed` decides what trains as a
pack and falls back to lone runs; this module is only the arithmetic and its bookkeeping.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap
from torch.utils.flop_counter import FlopCounterMode

import membench
from membench.config.identity import TrialSpec
from membench.run.evaluation import EVAL_SEED, correct_tokens, scores
from membench.run.record import fail_record, finish_record, now
from membench.run.train import Stopping, check_loss, loop_result, lr_factor, training_batches
from membench.tasks import IGNORE

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.AdamW's defaults, which make_optimizer keeps
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s
GRAPH_DEVICES = ("cuda",)  # where `graphs` replays steps as CUDA graphs (tests fake one on CPU)


@dataclass
class Member:
    """One trial of a pack: its record and its training state outside the stacked tensors."""

    index: int
    spec: TrialSpec
    record: dict[str, Any]
    model: torch.nn.Module | None = None
    done: bool = False
    seconds: float = 0.0  # its share of the pack's wall time, its own evaluations in full
    eval_seconds: float = 0.0
    stopping: Stopping | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def end(self, done: Callable | None) -> None:
        self.record["end_time"] = now()
        self.done = True
        if done:
            done(self.index, self.record)


class Pack:
    """The stacked training state of a pack's active members. All parameters of a member live
    in one row of `flat` [K, N] (AdamW's moments alike), so AdamW and the clipping norm are a
    few kernels over the whole pack whatever the number of parameter tensors."""

    def __init__(self, members: list[Member], task, device, progress, graphs: bool, done):
        self.members, self.task, self.device, self.progress = members, task, device, progress
        self.done = done
        self.base = members[0].model  # runs every member's parameters through functional_call
        named = list(self.base.named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.buffers = dict(self.base.named_buffers())
        with torch.no_grad():
            self.flat = torch.stack([flatten(m.model) for m in members])
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.slots: list[Member | None] = list(members)  # row i is slots[i]; None: left
        for m in members:
            cfg = m.spec.training
            m.stopping = Stopping(cfg)
            m.extra["data"] = torch.Generator(device=device).manual_seed(m.spec.seed)
            held_out = torch.Generator(device=device).manual_seed(EVAL_SEED)
            m.extra["eval"] = task.generate_held_out(cfg.eval_size, held_out, **m.spec.task_params)
            m.extra["batches"] = training_batches(m.spec, task, m.extra["data"])
        self.rows()
        self.graphs = graphs and device.type in GRAPH_DEVICES
        self.graph = None  # (replay, losses) of the captured step

    @property
    def active(self) -> list[Member]:
        return [m for m in self.slots if m is not None]

    def rows(self) -> None:
        """Per-member constants as columns [K, 1] over the rows (all live after `compact`)."""
        cfgs = [m.spec.training for m in self.slots]

        def column(values):
            return torch.tensor(values, dtype=self.flat.dtype, device=self.device)[:, None]

        self.lr = column([c.lr for c in cfgs]).cpu()  # scaled on the host each step
        self.weight_decay = column([c.weight_decay for c in cfgs])
        self.clip = column([c.grad_clip for c in cfgs])

    def params(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of one member's parameters in a row of `flat` (under vmap: the row)."""
        views = flat.split(self.sizes, dim=-1)
        return {n: v.view(s) for n, v, s in zip(self.names, views, self.shapes, strict=True)}

    def loss(self, flat, src, tgt):
        logits = functional_call(self.base, (self.params(flat), self.buffers), (src, tgt))
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE
        )

    def step_math(self, src, tgt, lr, bias1, bias2_sqrt) -> torch.Tensor:
        """One stacked step, in place on `flat` and AdamW's moments: per-member loss, gradients,
        clipping by each member's own gradient norm, and torch.optim.AdamW's update (decoupled
        weight decay) at each member's learning rate `lr` [K, 1]. Returns the losses [K]. No
        host sync and no Python value that changes between steps: a CUDA graph can replay it."""
        flat = self.flat.detach().requires_grad_(True)  # shares storage with self.flat
        losses = vmap(self.loss)(flat, src, tgt)
        (grad,) = torch.autograd.grad(losses.sum(), flat)  # members share no parameter
        with torch.no_grad():
            norm = grad.norm(dim=1, keepdim=True)
            coef = (self.clip / (norm + CLIP_EPS)).clamp(max=1.0)
            grad.mul_(torch.where(self.clip > 0, coef, 1.0))
            self.flat.mul_(1 - lr * self.weight_decay)
            self.exp_avg.lerp_(grad, 1 - BETAS[0])
            self.exp_avg_sq.mul_(BETAS[1]).addcmul_(grad, grad, value=1 - BETAS[1])
            denom = (self.exp_avg_sq.sqrt() / bias2_sqrt).add_(EPS)
            self.flat.sub_((lr / bias1) * self.exp_avg / denom)
        return losses.detach()

    def step(self, step: int, src, tgt) -> torch.Tensor:
        """`step_math` at this step's learning rates: directly, or by replaying a CUDA graph
        captured for the current members (captured again when one leaves)."""
        factors = [  # a row whose member left: learning rate 0, its row stays as it is
            0.0 if m is None else lr_factor(step - 1, m.spec.training.warmup, m.spec.training.steps)
            for m in self.slots
        ]
        scale = torch.tensor(factors, dtype=self.flat.dtype)[:, None]
        lr = (self.lr * scale).to(self.device, non_blocking=True)
        bias = torch.tensor([1 - BETAS[0] ** step, math.sqrt(1 - BETAS[1] ** step)])
        if not self.graphs:
            return self.step_math(src, tgt, lr, *bias.tolist())
        if self.graph is None:
            self.capture(src, tgt, lr, bias)
        for name, value in (("src", src), ("tgt", tgt), ("lr", lr), ("bias", bias)):
            self.static[name].copy_(value)
        replay, losses = self.graph
        replay()
        return losses.clone()

    def capture(self, src, tgt, lr, bias) -> None:
        """Record `step_math` on static inputs (`record_graph`). Its warm-up steps change the
        state, which is put back, so capturing changes no member's training."""
        state = [t.clone() for t in (self.flat, self.exp_avg, self.exp_avg_sq)]
        static = {"src": src.clone(), "tgt": tgt.clone(), "lr": lr.clone(),
                  "bias": bias.to(self.device)}  # fmt: skip
        args = (static["src"], static["tgt"], static["lr"], static["bias"][0], static["bias"][1])
        self.graph = record_graph(lambda: self.step_math(*args))
        for t, saved in zip((self.flat, self.exp_avg, self.exp_avg_sq), state, strict=True):
            t.copy_(saved)
        self.static = static

    def batch(self):
        """Each member's next batch from its own stream, stacked [K, B, ...] (a row whose member
        left gets another row's batch: it trains at learning rate 0)."""
        pairs = {row: next(m.extra["batches"]) for row, m in enumerate(self.slots) if m is not None}
        spare = next(iter(pairs.values()))
        rows = [pairs.get(row, spare) for row in range(len(self.slots))]
        return torch.stack([s for s, _ in rows]), torch.stack([t for _, t in rows])

    def run(self):
        """Train every member to its end, yielding after each step."""
        step = 0
        while self.active:
            step += 1
            tick = time.perf_counter()
            src, tgt = self.batch()
            if step == 1:
                self.count_flops(src[0], tgt[0])
            losses = self.step(step, src, tgt)
            due = [row for row, m in enumerate(self.slots) if m and m.stopping.due(step)]
            share = (time.perf_counter() - tick) / len(self.active)
            for m in self.active:
                m.seconds += share
            if due:
                self.evaluate(step, due, losses[due].tolist())
            yield step

    def count_flops(self, src, tgt) -> None:
        """A lone trial's `train_flops` per step: one member's forward and backward, counted on
        a copy as `train_loop` counts its first step (every member has the same shapes)."""
        model = copy.deepcopy(self.base)
        counter = FlopCounterMode(display=False)
        with counter:
            logits = model(src, tgt)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE
            )
            loss.backward()
        self.step_flops = float(counter.get_total_flops())

    def evaluate(self, step: int, due: list[int], losses: list[float]) -> None:
        """Evaluate the members in rows `due` on their held-out sets; those that solve, plateau,
        reach their budget or fail leave the pack."""
        leaving = set()
        for row, loss_value in zip(due, losses, strict=True):
            m = self.slots[row]
            try:
                check_loss(loss_value, step)
            except FloatingPointError as err:
                fail_record(m.record, m.spec, err)
                m.end(self.done)
                leaving.add(row)
                continue
            tick = time.perf_counter()
            unflatten(self.flat[row], m.model)
            correct = correct_tokens(m.model, *m.extra["eval"])
            point = {"step": step, "loss": loss_value, **scores(correct, m.extra["eval"][1])}
            seconds = time.perf_counter() - tick
            m.eval_seconds += seconds
            m.seconds += seconds
            if self.progress:
                self.progress(m.index, {**point, "steps": m.spec.training.steps})
            if m.stopping.add(point) or step == m.spec.training.steps:
                self.finish(m, step, correct)
                leaving.add(row)
        for row in leaving:
            self.slots[row] = None
        # Drop the rows that left. A CUDA graph is captured again for the new shapes (capture
        # synchronises and collects garbage), so it keeps them until half have left.
        if leaving and self.active and (not self.graphs or 2 * len(self.active) <= len(self.slots)):
            self.compact()

    def compact(self) -> None:
        keep = [row for row, m in enumerate(self.slots) if m is not None]
        index = torch.tensor(keep, device=self.device)
        self.flat, self.exp_avg, self.exp_avg_sq = (
            t.index_select(0, index) for t in (self.flat, self.exp_avg, self.exp_avg_sq)
        )
        self.slots = [self.slots[row] for row in keep]
        self.rows()
        self.graph = None  # other shapes: capture again

    def finish(self, m: Member, step: int, correct: torch.Tensor) -> None:
        """A member's record, from its own model (already holding its final parameters)."""
        spec = m.spec
        result = loop_result(
            spec,
            self.task,
            m.stopping,
            step,
            self.step_flops,
            m.seconds,
            m.eval_seconds,
            correct,
            m.extra["eval"][1],
        )
        try:
            finish_record(m.record, spec, m.model, self.task, self.device, result)
        except membench.errors.MembenchError:
            raise
        except Exception as err:
            fail_record(m.record, spec, err)
        m.end(self.done)


def record_graph(step: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
    """`step` captured as a CUDA graph after three warm-up calls on a side stream (as torch's
    docs do it): (replay, the tensor that each replay fills with `step`'s output)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    return graph.replay, out


def flatten(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@torch.no_grad()
def unflatten(row: torch.Tensor, model: torch.nn.Module) -> None:
    """Copy one member's row of the stacked parameters into its own model."""
    sizes = [p.numel() for p in model.parameters()]
    for p, values in zip(model.parameters(), row.split(sizes), strict=True):
        p.copy_(values.view_as(p))


with contextlib.suppress(AttributeError):  # quiet: vmap falls back to a loop for CPU attention
    torch._C._functorch._set_vmap_fallback_warning_enabled(False)
