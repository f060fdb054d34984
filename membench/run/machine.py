"""Which machine a trial ran on, in the words its record and its checkpoints use: results are
bitwise identical only on one machine type (the same processor or GPU, the same threads)."""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The processor's model name ('AMD EPYC', 'Intel Xeon ...'), or the platform's word."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> str:
    """'cpu: AMD EPYC ..., 1 thread' or 'cuda: NVIDIA H100 ...': what a bitwise resume needs."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"cpu: {cpu_model()}, {threads} thread{'s' if threads > 1 else ''}"
