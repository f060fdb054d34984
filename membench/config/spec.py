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

    arch: Literal["encoder", "encoder_decoder", "recurrent"] = Field(
        "encoder", description="the model family: one encoder, encoder and decoder, or recurrent"
    )
    d_model: int = Field(64, ge=1, description="width")
    n_layers: int = Field(2, ge=1, description="layers")
    n_heads: int = Field(4, ge=1, description="attention heads (they divide d_model)")
    d_ff: int = Field(256, ge=1, description="feed-forward width")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout rate")
    mem_tokens: int = Field(0, ge=0, description="memory tokens m (0: a plain Transformer)")
    controller: Literal["shared", "dedicated", "dedicated_shared"] = Field(
        "shared", description="what updates memory: the layer's block, or a dedicated one"
    )
    bottleneck: bool = Field(False, description="the sequence reads memory only")
    causal: bool = Field(
        True, description="a sequence position reads memory and earlier positions only"
    )
    segment: int = Field(
        0, ge=0, description="arch recurrent: source tokens per segment (memory alone crosses)"
    )
    bptt: int = Field(
        0, ge=0, description="arch recurrent: segments gradients flow back through (0: all)"
    )
    mem_reads: Literal["all", "memory", "context"] = Field(
        "all",
        description="what memory rows read: everything, memory only, or the input before the "
        "first answer row",
    )
    mem_kv: int = Field(
        0,
        ge=0,
        description="persistent memory: learned key-value pairs every attention can read, at no "
        "sequence position (Sukhbaatar et al. 2019)",
    )
    pause_tokens: int = Field(
        0,
        ge=0,
        description="arch encoder: learned tokens between the input and the answers, never "
        "scored (Goyal et al. 2023)",
    )
    mem_every: int = Field(
        0,
        ge=0,
        description="arch encoder: the memory tokens again before every this many sequence "
        "positions, so causal memory reads what came before it (0: once, first)",
    )
    sink: bool = Field(
        False, description="arch encoder: one learned first token attention can rest on"
    )

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
        for key, why in token_options_problems(self):
            raise rule(key, why)
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


def token_options_problems(config: ModelConfig) -> list[tuple[str, str]]:
    """Pause tokens, sink and interspersed memory: where they mean nothing or cannot work."""
    out = []
    for key in ("pause_tokens", "sink", "mem_every"):
        if getattr(config, key) and config.arch != "encoder":
            out.append((key, f"arch 'encoder' only (it places its tokens in one sequence), got "
                             f"arch '{config.arch}'; set arch: encoder or drop it"))  # fmt: skip
    if config.mem_every:
        if not config.mem_tokens:
            out.append(("mem_every", "needs mem_tokens >= 1 (the memory it repeats)"))
        elif config.controller != "shared" or config.bottleneck or config.mem_reads != "all":
            out.append(("mem_every", "works with memory updated by the layer's own block only "
                        "(controller: shared, no bottleneck, mem_reads: all): interspersed "
                        "memory has no block of its own to route"))  # fmt: skip
        elif config.pause_tokens or config.sink:
            out.append(("mem_every", "one placement at a time: drop pause_tokens and sink"))
    return out


class TrainConfig(BaseModel):
    model_config = STRICT

    steps: int = Field(2000, ge=1, description="training steps (the budget)")
    batch_size: int = Field(32, ge=1, description="examples per step")
    lr: float = Field(1e-3, gt=0, description="peak learning rate (AdamW, warmup, cosine decay)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup: int = Field(100, ge=0, description="steps of linear warmup")
    grad_clip: float = Field(1.0, ge=0, description="largest gradient norm (0: no clipping)")
    train_examples: int = Field(
        0,
        ge=0,
        description="a finite training set of this many examples, sampled with replacement "
        "(0: fresh examples every step)",
    )
    eval_every: int = Field(100, ge=1, description="steps between held-out evaluations")
    eval_size: int = Field(512, ge=1, description="held-out examples")
    solve_threshold: float = Field(
        0.99, gt=0, le=1, description="exact match that counts as solved; training stops there"
    )
    patience: int = Field(
        0,
        ge=0,
        description="stop after this many evaluations without a rise in held-out "
        "token accuracy or exact match (0: never)",
    )
    attention: bool = Field(True, description="keep an attention summary in the record")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where to train")


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
