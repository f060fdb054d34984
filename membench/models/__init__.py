"""The model interface: the memory Transformer family and users' own models.

A model is an `nn.Module` with `forward(src, tgt) -> logits [B, Lt, V]` (teacher forcing allowed)
and `predict(src, tgt_len) -> tokens [B, Lt]` (never sees targets), made by a factory
`(model config, vocab size, src len, tgt len) -> model`. A factory that also takes the keyword
`answer_positions` receives the task's (`Task.answer_positions`: one source index per target
token, or None for separate answer slots); one that does not is called as before
(`factory_keywords`). `build_model` is the built-in factory; `load_factory("module:function")`
finds a user's.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from membench.config.spec import ModelConfig, model_config
from membench.errors import MembenchError
from membench.models import attention_flops  # noqa: F401  (attention FLOPs counted on the CPU)
from membench.models.encoder_decoder import MemoryEncoderDecoder
from membench.models.masks import KNOCKOUTS
from membench.models.recurrent import RecurrentMemoryTransformer
from membench.models.transformer import MemoryTransformer
from membench.registry import did_you_mean

ARCHS = {
    "encoder": MemoryTransformer,
    "encoder_decoder": MemoryEncoderDecoder,
    "recurrent": RecurrentMemoryTransformer,
}


def build_model(
    config: ModelConfig | dict[str, Any] | None,
    vocab_size: int,
    src_len: int,
    tgt_len: int,
    answer_positions: list[int] | None = None,
) -> nn.Module:
    """A model of the family for a task with these sizes; a dict is validated strictly first.
    `answer_positions`: the task's (see `Task.answer_positions`); arch `encoder` predicts each
    target token at that source position, `encoder_decoder` decodes as always, `recurrent` reads
    them in its last segment. Raises MembenchError for a recurrent model without memory whose
    source spans more than one segment (the segment count needs the lengths)."""
    if not isinstance(config, ModelConfig):
        config = model_config(config)
    return ARCHS[config.arch](
        config, vocab_size, src_len, tgt_len, answer_positions=answer_positions
    )


def factory_keywords(factory: Callable[..., nn.Module], **available: Any) -> dict[str, Any]:
    """The keyword arguments of `available` that `factory` names in its signature (a parameter
    of that name, positional-or-keyword or keyword-only; `**kwargs` alone does not count), so a
    factory written for the four-argument contract is called exactly as before."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no introspectable signature: the plain contract
        return {}
    accepted = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {
        name: value
        for name, value in available.items()
        if name in parameters and parameters[name].kind in accepted
    }


@contextlib.contextmanager
def knockout(model: nn.Module, kind: str | None, segment: int | None = None):
    """Evaluate `model` with memory reads ("read": no sequence position attends to memory, in
    any layer; the decoder's cross-attention included) or writes ("write": memory attends to
    memory only) cut off; a causal test of what the attention maps only suggest. Built-in models
    only (a model without a `knockout` attribute raises ValueError). `segment`: a recurrent
    model's segment index (0 first, -1 last) to cut in that segment only (None: in every one),
    so writes cut early and reads cut at the end can be told apart."""
    if not hasattr(model, "knockout"):
        raise ValueError(f"{type(model).__name__} has no memory knockouts (built-in models only)")
    if kind not in (None, *KNOCKOUTS):
        raise ValueError(f"unknown knockout {kind!r}: use {' or '.join(KNOCKOUTS)}")
    if segment is not None:
        if not hasattr(model, "knockout_segment"):
            raise ValueError(f"{type(model).__name__} has no segments (arch 'recurrent' has)")
        n = len(model.bounds)
        if not -n <= segment < n:
            raise ValueError(f"segment {segment} is out of range: the model has {n} segments")
        segment %= n
    before = model.knockout, getattr(model, "knockout_segment", None)
    model.knockout = kind
    if hasattr(model, "knockout_segment"):
        model.knockout_segment = segment
    try:
        yield model
    finally:
        model.knockout = before[0]
        if hasattr(model, "knockout_segment"):
            model.knockout_segment = before[1]


def count_parameters(model: nn.Module) -> int:
    """Number of parameter values; a module used in several places (a shared controller) counts
    once."""
    return sum(p.numel() for p in model.parameters())


def load_factory(target: str) -> Callable[..., nn.Module]:
    """The function named by 'module:function', with build_model's signature."""
    module_name, _, function_name = target.partition(":") if isinstance(target, str) else ("",) * 3
    if not module_name or not function_name or ":" in function_name:
        raise MembenchError(
            f"factory {target!r}: expected 'module:function', e.g. 'my_models:build'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name or module_name.startswith(f"{err.name}."):
            raise MembenchError(
                f"factory '{target}': no module named '{err.name}' "
                "(install it, or put its directory on PYTHONPATH)"
            ) from None
        raise MembenchError(f"factory '{target}': importing '{module_name}' failed: {err}") from err
    except Exception as err:
        raise MembenchError(
            f"factory '{target}': importing '{module_name}' failed: {type(err).__name__}: {err}"
        ) from err
    function = getattr(module, function_name, None)
    if function is None:
        hint = did_you_mean(function_name, [n for n, o in vars(module).items() if callable(o)])
        raise MembenchError(
            f"factory '{target}': module '{module_name}' has no '{function_name}'"
            + (f"; {hint.strip()}" if hint else "")
        )
    if not callable(function):
        raise MembenchError(f"factory '{target}': '{function_name}' is not callable")
    return function


__all__ = [
    "MemoryEncoderDecoder",
    "MemoryTransformer",
    "RecurrentMemoryTransformer",
    "build_model",
    "count_parameters",
    "factory_keywords",
    "knockout",
    "load_factory",
]
