"""FLOPs of attention on the CPU. torch's FlopCounterMode has formulas for the GPU's fused
attention kernels but none for the CPU's (`_scaled_dot_product_flash_attention_for_cpu`), so
a CPU count left out every attention score and weighted sum: for the core's models 10-40% of a
step, and most of what memory tokens add. Registered here with torch's own formulas (the
scores and the weighted values, the backward's four products), so a step costs the same
counted on either device."""

from __future__ import annotations

import torch
from torch.utils import flop_counter

aten = torch.ops.aten

FLOPS_COUNT = 2
"""How a record's `train_flops` was counted (its `flops_count`): 2, attention counted on every
device and logits as the trial computed them; 1 (records without the field, trained before
2026-12-06): attention left out on the CPU. `python -m membench.store.recount RESULTS` counts
version-1 records again (bench/RESULTS.md)."""

CPU_FORWARD = aten._scaled_dot_product_flash_attention_for_cpu
CPU_BACKWARD = aten._scaled_dot_product_flash_attention_for_cpu_backward


def _forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


def _backward(grad, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_backward_flop_count(grad, query_shape, key_shape, value_shape)


for op, formula in ((CPU_FORWARD, _forward), (CPU_BACKWARD, _backward)):
    if op not in flop_counter.flop_registry:  # a later torch may count it itself
        flop_counter.register_flop_formula(op)(formula)
