"""x-transformers' encoder with memory tokens behind membench's model contract (README: "Your
own model"), so a suite can set another library's memory tokens beside membench's own.

Why: the same idea implemented independently is a check on membench's variants. The model reads
`[memory; src; slot x tgt_len]` (x-transformers prepends the memory and drops it from the
output) and predicts each target token at its own answer slot, as membench's encoder does. Its
Encoder is bidirectional, where membench's encoder is causal by default.

    pip install x-transformers
    membench run examples/xtransformers.yaml --results runs/xtransformers
"""

import torch
from torch import nn


class XTransformersMemory(nn.Module):
    """x_transformers.TransformerWrapper(Encoder, num_memory_tokens) read at the answer slots."""

    def __init__(self, config: dict, vocab_size: int, src_len: int, tgt_len: int):
        from x_transformers import Encoder, TransformerWrapper

        super().__init__()
        d_model, heads = config.get("d_model", 64), config.get("n_heads", 4)
        self.net = TransformerWrapper(
            num_tokens=vocab_size + 1,  # the task's ids, then the slot id
            max_seq_len=src_len + tgt_len,
            logits_dim=vocab_size,
            num_memory_tokens=config.get("mem_tokens", 10),
            attn_layers=Encoder(
                dim=d_model,
                depth=config.get("n_layers", 2),
                heads=heads,
                attn_dim_head=d_model // heads,
                ff_mult=config.get("d_ff", 4 * d_model) / d_model,
            ),
        )
        # one slot per target token, all with the free id vocab_size: positions tell them apart
        self.register_buffer("slots", torch.full((1, tgt_len), vocab_size), persistent=False)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Logits [B, Lt, V] at the slots; only tgt's length is used, never its tokens."""
        x = torch.cat([src, self.slots.expand(len(src), -1)], dim=1)
        return self.net(x)[:, -tgt.shape[1] :]

    def predict(self, src: torch.Tensor, tgt_len: int) -> torch.Tensor:
        """All answers at once: forward with placeholder targets, then argmax."""
        placeholder = torch.zeros(len(src), tgt_len, dtype=torch.long, device=src.device)
        return self.forward(src, placeholder).argmax(-1)


def build(config: dict, vocab_size: int, src_len: int, tgt_len: int) -> nn.Module:
    """membench's factory: `d_model`, `n_layers`, `n_heads`, `d_ff` and `mem_tokens` from the
    suite. x-transformers is imported here, so this module imports without it and the trial
    fails with one line saying what to install."""
    try:
        import x_transformers  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "examples/xtransformers_memory.py needs x-transformers: pip install x-transformers"
        ) from err
    return XTransformersMemory(config, vocab_size, src_len, tgt_len)
