"""Scored rows only: on a task with IGNORE targets, a step computes logits where targets are
scored, with the same loss and gradients as the full logits, fewer FLOPs, and the same trial."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from membench import tasks
from membench.config.identity import make_spec
from membench.models import build_model
from membench.models.flops import step_flops
from membench.models.loss import scored_only, step_loss
from membench.run.train import run_trial
from membench.tasks import IGNORE

MQAR = {"vocab": 64, "seq_len": 32, "pairs": 4}
SMALL = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64, "causal": True}


def model_and_batch(arch_options, task="mqar", params=MQAR, seed=0):
    spec = tasks.get(task)
    kwargs = spec.resolve(params)
    src_len, tgt_len = spec.lengths(**kwargs)
    torch.manual_seed(seed)
    model = build_model(
        {**SMALL, **arch_options},
        spec.vocab_size(**kwargs),
        src_len,
        tgt_len,
        answer_positions=spec.answer_positions(**kwargs),
    )
    src, tgt = spec.generate(16, torch.Generator().manual_seed(seed), **kwargs)
    return spec, model, src, tgt


@pytest.mark.parametrize(
    "arch_options",
    [{}, {"mem_tokens": 4, "mem_reads": "memory"}, {"arch": "recurrent", "segment": 8}],
    ids=["encoder", "encoder-registers", "recurrent"],
)
def test_scored_loss_and_gradients_equal_the_full_ones(arch_options):
    spec, model, src, tgt = model_and_batch(arch_options)
    assert (tgt == IGNORE).any() and (tgt != IGNORE).any()  # a task that scores some rows
    assert scored_only(model, spec)
    keep = tgt != IGNORE
    assert torch.allclose(model.forward_scored(src, tgt, keep), model(src, tgt)[keep], atol=1e-6)
    grads = []
    for scored in (False, True):
        model.zero_grad()
        loss = step_loss(model, src, tgt, scored)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    (full, g_full), (part, g_part) = grads
    assert part == pytest.approx(full, abs=1e-6)
    for a, b in zip(g_full, g_part, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_scored_rows_cost_fewer_flops_on_mqar():
    spec, model, src, tgt = model_and_batch({})
    counts = []
    for scored in (False, True):
        with FlopCounterMode(display=False) as counter:
            step_loss(model, src, tgt, scored).backward()
        counts.append(counter.get_total_flops())
    assert counts[1] < counts[0]
    # the compute-matched control counts what a trial computes: scored rows only
    kwargs = spec.resolve(MQAR)
    assert step_flops(SMALL, "mqar", kwargs, 16) == pytest.approx(counts[1], rel=1e-6)


def test_tasks_that_score_every_row_and_users_models_keep_full_logits():
    spec, model, _, _ = model_and_batch({}, task="copy", params={"length": 4})
    assert not scored_only(model, spec)  # copy scores every target token

    class Plain(nn.Module):  # a user's model with the plain contract only
        pass

    assert not scored_only(Plain(), tasks.get("mqar"))


def test_a_trial_on_mqar_trains_from_scored_rows_and_records_their_flops():
    train = {"steps": 20, "eval_every": 10, "eval_size": 32, "attention": False, "device": "cpu"}
    spec = make_spec(task="mqar", task_overrides=MQAR, model=SMALL, train=train)
    record = run_trial(spec)
    assert record["status"] == "ok", record.get("error")
    kwargs = tasks.get("mqar").resolve(MQAR)
    per_step = step_flops(SMALL, "mqar", kwargs, spec.training.batch_size)
    assert record["metrics"]["train_flops"] == pytest.approx(20 * per_step, rel=1e-6)
