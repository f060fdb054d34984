"""membench: ablation benchmark suite for memory-token Transformers on synthetic tasks."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`membench.load_results` without importing pandas on `import membench`."""
    if name == "load_results":
        from membench.store.results import load_results

        return load_results
    raise AttributeError(f"module 'membench' has no attribute {name!r}")
