"""`mem_reads`: what memory rows attend to (all, memory only, the context before the answers),
and the errors for combinations that carry nothing or repeat another value."""

import pytest
import torch

from membench.config.identity import make_spec
from membench.config.spec import model_config
from membench.errors import MembenchError
from membench.models import build_model
from tests.test_causal import POSITIONS, SMALL, outputs_after_changing_the_last_token


def model(**options):
    torch.manual_seed(0)
    return build_model({**SMALL, **options}, 10, 8, 3, answer_positions=POSITIONS).eval()


def outputs_after_changing(m, position):
    g = torch.Generator().manual_seed(1)
    src = torch.randint(0, 10, (4, 8), generator=g)
    tgt = torch.zeros(4, 3, dtype=torch.long)
    other = src.clone()
    other[:, position] = (other[:, position] + 1) % 10
    with torch.no_grad():
        return m(src, tgt), m(other, tgt)


@pytest.mark.parametrize("reads", ["memory", "context"])
@pytest.mark.parametrize("controller", ["shared", "dedicated"])
def test_memory_that_does_not_read_the_answers_leaks_no_future(reads, controller):
    # memory reading everything lets row 5 see row 7 (test_causal); these masks close that
    m = model(mem_tokens=3, mem_reads=reads, controller=controller)
    before, after = outputs_after_changing_the_last_token(m)
    assert torch.allclose(before[:, :2], after[:, :2], atol=1e-6)
    assert not torch.allclose(before[:, 2], after[:, 2], atol=1e-4)


def encoder_row(m, src, row):
    """The encoder's output at source position `row` (memory rows come first)."""
    x = torch.cat([m.mem.expand(len(src), -1, -1), m.tok(src) + m.pos.weight], dim=1)
    with torch.no_grad():
        return m.encoder(x, context=m.context)[0][:, m.mem.size(0) + row]


@pytest.mark.parametrize("reads, blind", [("memory", True), ("context", False)])
def test_context_memory_reads_the_context_and_register_memory_reads_nothing(reads, blind):
    # source position 0 reads only itself and memory (causal): a later context token reaches
    # it through memory that reads the context, never through register memory
    m = model(mem_tokens=3, mem_reads=reads)
    src = torch.randint(0, 10, (4, 8), generator=torch.Generator().manual_seed(2))
    changed = src.clone()
    changed[:, 4] = (changed[:, 4] + 1) % 10  # context (the answers start at position 5)
    same = torch.allclose(encoder_row(m, src, 0), encoder_row(m, changed, 0), atol=1e-6)
    assert same == blind


def test_default_is_all_and_keeps_every_id():
    assert model_config({"mem_tokens": 3}).mem_reads == "all"
    spec = make_spec("copy", model={"mem_tokens": 3})
    assert "mem_reads" not in spec.identity()["model"]
    other = make_spec("copy", model={"mem_tokens": 3, "mem_reads": "memory"})
    assert other.identity()["model"]["mem_reads"] == "memory"
    assert other.trial_id() != spec.trial_id()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mem_reads": "memory"}, "needs mem_tokens >= 1"),
        ({"mem_tokens": 2, "bottleneck": True, "mem_reads": "memory"}, "leaves no path"),
        ({"mem_tokens": 2, "arch": "recurrent", "segment": 4, "mem_reads": "context"}, "not av"),
        ({"mem_tokens": 2, "arch": "encoder_decoder", "mem_reads": "context"}, "is 'all' for"),
        ({"mem_tokens": 2, "mem_reads": "registers"}, "not one of all, memory, context"),
    ],
)
def test_combinations_that_carry_nothing_are_one_line_errors(options, message):
    with pytest.raises(MembenchError, match=message) as err:
        model_config(options, "variants.x")
    assert "\n" not in str(err.value) and "variants.x" in str(err.value)


@pytest.mark.parametrize(
    "options",
    [
        {"mem_tokens": 2, "bottleneck": True, "mem_reads": "context"},
        {"mem_tokens": 2, "arch": "encoder_decoder", "mem_reads": "memory"},
        {"mem_tokens": 2, "mem_reads": "memory", "causal": False},
    ],
)
def test_combinations_that_compose_build_and_run(options):
    torch.manual_seed(0)
    m = build_model({**SMALL, **options}, 10, 8, 3)
    assert m.predict(torch.randint(0, 10, (2, 8)), 3).shape == (2, 3)
