"""The model and training configs, and their strict loading from YAML or dicts: every
problem is one line naming the key path and the fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from membench.errors import MembenchError
from membench.registry import did_you_mean


@dataclass
class ModelConfig:
    """The memory Transformer family; see the README's variant table."""

    arch: str = "encoder"  # encoder | encoder_decoder | recurrent
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.0
    mem_tokens: int = 0  # m learned memory vectors prepended to the sequence
    controller: str = "shared"  # shared | dedicated | dedicated_shared
    bottleneck: bool = False  # sequence positions attend to memory only
    causal: bool = True  # a sequence position reads memory and earlier positions (zoology's MQAR)
    segment: int = 0  # arch recurrent: source tokens per segment (memory alone crosses segments)
    bptt: int = 0  # arch recurrent: segments gradients flow back through (0: all)
    mem_reads: str = "all"  # what memory rows attend to: all | memory | context (README)


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    grad_clip: float = 1.0  # max gradient norm; 0: no clipping
    eval_every: int = 100
    eval_size: int = 512
    solve_threshold: float = 0.99  # exact match that counts as solved; training stops there
    patience: int = 0  # stop after this many evaluations without improvement (0: never)
    attention: bool = True  # store the attention summary in the record
    device: str = "auto"  # auto | cpu | cuda


CHOICES = {
    "arch": ("encoder", "encoder_decoder", "recurrent"),
    "controller": ("shared", "dedicated", "dedicated_shared"),
    "mem_reads": ("all", "memory", "context"),
    "device": ("auto", "cpu", "cuda"),
}
POSITIVE = {"lr": "a learning rate of 0 never updates the model"}  # key: why 0 is wrong


def build(cls, values: dict[str, Any] | None, where: str):
    """A dataclass from a dict, strictly: unknown keys, wrong types and bad choices fail."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise MembenchError(
                f"{where}: unknown key '{key}': {did_you_mean(key, list(fields))}"
                f"known: {', '.join(fields)}"
            )
        values[key] = check_value(f"{where}.{key}", value, type(fields[key].default), key)
    return cls(**values)


def check_value(where: str, value: Any, kind: type, key: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise MembenchError(f"{where}: expected {kind.__name__}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise MembenchError(
            f"{where}: '{value}' is not one of {', '.join(CHOICES[key])}: "
            f"{did_you_mean(value, list(CHOICES[key]))}".rstrip(": ")
        )
    if key in POSITIVE and value <= 0:
        raise MembenchError(f"{where}: must be > 0 ({POSITIVE[key]}), got {value}")
    if key in COUNTS and value < 1:  # one message for -5 and for 0
        raise MembenchError(f"{where}: must be >= 1, got {value}")
    if kind in (int, float) and value < 0:
        raise MembenchError(f"{where}: must be >= 0, got {value}")
    return value


COUNTS = {"d_model", "n_layers", "n_heads", "d_ff", "steps", "batch_size", "eval_every"}
COUNTS |= {"eval_size"}  # sizes and counts of at least 1


def model_config(values: dict[str, Any] | None, where: str = "model") -> ModelConfig:
    config = build(ModelConfig, values, where)
    if config.d_model % config.n_heads:
        raise MembenchError(
            f"{where}: d_model ({config.d_model}) must be divisible by n_heads ({config.n_heads})"
        )
    if config.bottleneck and config.mem_tokens == 0:
        raise MembenchError(
            f"{where}.bottleneck: needs mem_tokens >= 1 (with no memory the sequence has no "
            "path for information); set mem_tokens"
        )
    if config.controller != "shared" and config.mem_tokens == 0:
        raise MembenchError(
            f"{where}.controller: '{config.controller}' needs mem_tokens >= 1; set mem_tokens"
        )
    if not 0 <= config.dropout < 1:
        raise MembenchError(f"{where}.dropout: must be in [0, 1), got {config.dropout}")
    if config.arch == "recurrent" and config.segment < 1:
        raise MembenchError(
            f"{where}.segment: arch 'recurrent' needs segment >= 1 (source tokens per segment), "
            f"got {config.segment}; set segment"
        )
    check_mem_reads(config, where)
    for key in ("segment", "bptt"):  # a value the other archs would silently ignore
        if config.arch != "recurrent" and getattr(config, key):
            raise MembenchError(
                f"{where}.{key}: only arch 'recurrent' has segments, got {key} "
                f"{getattr(config, key)} with arch '{config.arch}'; set arch: recurrent or drop it"
            )
    return config


def check_mem_reads(config: ModelConfig, where: str) -> None:
    """Combinations of `mem_reads` that carry nothing, or mean what another value means."""
    reads, why = config.mem_reads, None
    if reads == "all":
        return
    if config.mem_tokens == 0:
        why = "needs mem_tokens >= 1 (there is no memory to restrict); set mem_tokens"
    elif reads == "memory" and config.bottleneck:
        why = (
            "'memory' with bottleneck: true leaves no path for information (the sequence reads "
            "only memory, and memory reads nothing of the sequence); use 'context' or 'all'"
        )
    elif config.arch == "recurrent":
        why = (
            f"'{reads}' is not available for arch 'recurrent' (memory is the only path across "
            "its segments and reads each one whole); use 'all'"
        )
    elif reads == "context" and config.arch == "encoder_decoder":
        why = (
            "'context' is 'all' for arch 'encoder_decoder' (its encoder reads only the source, "
            "never an answer); use 'all'"
        )
    if why:
        raise MembenchError(f"{where}.mem_reads: {why}")


def train_config(values: dict[str, Any] | None, where: str = "train") -> TrainConfig:
    config = build(TrainConfig, values, where)
    if not 0 < config.solve_threshold <= 1:
        raise MembenchError(f"{where}.solve_threshold: must be in (0, 1]")
    return config
