"""The causal encoder (the default): a sequence position reads memory and earlier positions,
memory reads everything; `causal: false` is the bidirectional encoder."""

import pytest
import torch

from membench.analysis.attention_roles import even_memory_share
from membench.models import build_model

SMALL = dict(d_model=32, n_layers=2, n_heads=2, d_ff=64)
POSITIONS = [5, 6, 7]  # answers read at the last three source positions (as assoc_recall's)


def model(**options):
    torch.manual_seed(0)
    return build_model({**SMALL, **options}, 10, 8, 3, answer_positions=POSITIONS).eval()


def outputs_after_changing_the_last_token(m):
    g = torch.Generator().manual_seed(1)
    src = torch.randint(0, 10, (4, 8), generator=g)
    tgt = torch.zeros(4, 3, dtype=torch.long)
    other = src.clone()
    other[:, -1] = (other[:, -1] + 1) % 10
    with torch.no_grad():
        return m(src, tgt), m(other, tgt)


@pytest.mark.parametrize("options", [{}, {"mem_tokens": 3, "n_layers": 1}])
def test_earlier_positions_do_not_see_later_ones(options):
    before, after = outputs_after_changing_the_last_token(model(**options))
    assert torch.allclose(before[:, :2], after[:, :2], atol=1e-6)  # rows 5, 6: blind to 7
    assert not torch.allclose(before[:, 2], after[:, 2], atol=1e-4)


def test_bidirectional_and_memory_let_the_future_in():
    before, after = outputs_after_changing_the_last_token(model(causal=False))
    assert not torch.allclose(before[:, 0], after[:, 0], atol=1e-4)
    # with memory and 2 layers, memory reads position 7 in layer 1; row 5 reads memory in layer 2
    before, after = outputs_after_changing_the_last_token(model(mem_tokens=3))
    assert not torch.allclose(before[:, 0], after[:, 0], atol=1e-4)


@pytest.mark.parametrize(
    "options", [{"mem_tokens": 3}, {"mem_tokens": 3, "controller": "dedicated"}]
)
def test_memory_reads_everything_and_the_sequence_its_past(options):
    m = model(**options)
    src = torch.randint(0, 10, (2, 8))
    with torch.no_grad():
        _, maps = m(src, torch.zeros(2, 3, dtype=torch.long), return_attention=True)
    for w in maps["self"]:
        seq = w[..., 3:, 3:]
        assert torch.count_nonzero(seq.triu(1)) == 0  # no sequence row reads a later position
        assert (w[..., :3, 3:] > 0).all()  # memory rows read every position
        assert (w[..., 3:, :3] > 0).all()  # every sequence row may read memory


def test_even_share_counts_only_the_keys_a_causal_row_may_read():
    layout = {"mem": [0, 2], "src": [2, 6], "answer": [6, 8]}
    assert even_memory_share(layout) == pytest.approx(2 / 8)
    # answer rows at positions 6 and 7 read 7 and 8 keys, 2 of them memory
    assert even_memory_share(layout, causal=True) == pytest.approx((2 / 7 + 2 / 8) / 2)
