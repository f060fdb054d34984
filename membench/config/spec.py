"""The model and training configs: pydantic models whose fields, ranges and cross-field rules
are the one definition of what is valid, for `membench run`, `membench train` and the JSON
Schema of `membench schema` alike. `model_config` / `train_config` load a dict and turn
pydantic's report into one line naming the key path and the fix (`validation.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from membench.config.validation import check_fields, one_line

STRICT = ConfigDict(extra="forbid", strict=True)


def rule(key: str, message: str) -> PydanticCustomError:
    """A cross-field rule broken at `key`: reported as `where.key: message`."""
    return PydanticCustomError("membench_rule", "{message}", {"message": message, "key": key})


class ModelConfig(BaseModel):
    """The memory Transformer family; see the variant table in docs/variants.md."""

    model_config = STRICT

    arch: Literal["encoder", "encoder_decoder", "recurrent"] = "encoder"
    d_model: int = Field(64, ge=1)
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(4, ge=1)
    d_ff: int = Field(256, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    mem_tokens: int = Field(0, ge=0)  # m learned memory vectors prepended to the sequence
    controller: Literal["shared", "dedicated", "dedicated_shared"] = "shared"
    bottleneck: bool = False  # sequence positions attend to memory only
    causal: bool = True  # a sequence position reads memory and earlier positions (zoology's MQAR)
    segment: int = Field(0, ge=0)  # arch recurrent: source tokens per segment
    bptt: int = Field(0, ge=0)  # arch recurrent: segments gradients flow back through (0: all)
    mem_reads: Literal["all", "memory", "context"] = "all"  # what memory rows attend to

    @model_validator(mode="after")
    def combinations(self) -> ModelConfig:
        """Options that are valid alone but not together (checked in this order)."""
        if self.d_model % self.n_heads:
            raise rule(
                "", f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        if self.bottleneck and self.mem_tokens == 0:
            raise rule(
                "bottleneck",
                "needs mem_tokens >= 1 (with no memory the sequence has no path for "
                "information); set mem_tokens",
            )
        if self.controller != "shared" and self.mem_tokens == 0:
            raise rule("controller", f"'{self.controller}' needs mem_tokens >= 1; set mem_tokens")
        if self.arch == "recurrent" and self.segment < 1:
            raise rule(
                "segment",
                "arch 'recurrent' needs segment >= 1 (source tokens per segment), got "
                f"{self.segment}; set segment",
            )
        why = mem_reads_problem(self)
        if why:
            raise rule("mem_reads", why)
        for key in ("segment", "bptt"):  # a value the other archs would silently ignore
            if self.arch != "recurrent" and getattr(self, key):
                raise rule(
                    key,
                    f"only arch 'recurrent' has segments, got {key} {getattr(self, key)} with "
                    f"arch '{self.arch}'; set arch: recurrent or drop it",
                )
        return self


def mem_reads_problem(config: ModelConfig) -> str | None:
    """Combinations of `mem_reads` that carry nothing, or mean what another value means."""
    reads = config.mem_reads
    if reads == "all":
        return None
    if config.mem_tokens == 0:
        return "needs mem_tokens >= 1 (there is no memory to restrict); set mem_tokens"
    if reads == "memory" and config.bottleneck:
        return (
            "'memory' with bottleneck: true leaves no path for information (the sequence reads "
            "only memory, and memory reads nothing of the sequence); use 'context' or 'all'"
        )
    if config.arch == "recurrent":
        return (
            f"'{reads}' is not available for arch 'recurrent' (memory is the only path across "
            "its segments and reads each one whole); use 'all'"
        )
    if reads == "context" and config.arch == "encoder_decoder":
        return (
            "'context' is 'all' for arch 'encoder_decoder' (its encoder reads only the source, "
            "never an answer); use 'all'"
        )
    return None


class TrainConfig(BaseModel):
    model_config = STRICT

    steps: int = Field(2000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: int = Field(100, ge=0)
    grad_clip: float = Field(1.0, ge=0)  # max gradient norm; 0: no clipping
    eval_every: int = Field(100, ge=1)
    eval_size: int = Field(512, ge=1)
    solve_threshold: float = Field(0.99, gt=0, le=1)  # exact match that counts as solved
    patience: int = Field(0, ge=0)  # stop after this many evaluations without improvement
    attention: bool = True  # store the attention summary in the record
    device: Literal["auto", "cpu", "cuda"] = "auto"


def model_config(values: dict[str, Any] | None, where: str = "model") -> ModelConfig:
    """A validated ModelConfig from a dict; a problem is one MembenchError line."""
    try:
        return ModelConfig.model_validate(dict(values or {}))
    except ValidationError as err:
        raise one_line(err, where, ModelConfig) from None


def train_config(values: dict[str, Any] | None, where: str = "train") -> TrainConfig:
    """A validated TrainConfig from a dict; a problem is one MembenchError line."""
    try:
        return TrainConfig.model_validate(dict(values or {}))
    except ValidationError as err:
        raise one_line(err, where, TrainConfig) from None


def check_model_fields(values: dict[str, Any], where: str) -> None:
    """Each model option on its own (name, type, range, choice), not the combinations: a
    suite's base model may need a variant's options to be whole."""
    check_fields(ModelConfig, values, where)
