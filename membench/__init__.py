"""membench: ablation benchmark suite for memory-token Transformers on synthetic tasks."""

__version__ = "0.1.0"
