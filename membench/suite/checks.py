"""The shape checks a suite file's parts share (a mapping, a type, a safe name, seeds,
resources) and building one variant, each failing with one line naming the key path.
"""

from __future__ import annotations

import re
from typing import Any

from membench.config.spec import ModelConfig, check_model_fields, model_config
from membench.config.validation import check_keys
from membench.errors import MembenchError
from membench.suite.trials import Resources, Variant

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")  # names become file and dir names
MODEL_KEYS = [*ModelConfig.model_fields, "factory"]


def mapping(value: Any, where: str) -> dict:
    """An optional mapping: absent or empty (null) is {}, anything but a mapping is an error."""
    return {} if value is None else expect(value, dict, where, "a mapping")


def expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise MembenchError(f"{where}: expected {what}, got {value!r}")
    return value


def parse_resources(data: Any, train: dict, where: str) -> Resources:
    data = mapping(data, where)
    check_keys(data, ("cpu", "gpu"), where)
    cpu = expect(data.get("cpu", 1), (int, float), f"{where}.cpu", "a number")
    gpu = expect(data.get("gpu", 0), (int, float), f"{where}.gpu", "a number")
    if cpu <= 0:
        raise MembenchError(f"{where}.cpu: must be > 0, got {cpu}")
    if gpu < 0 or gpu > 1 and gpu != int(gpu):
        raise MembenchError(f"{where}.gpu: must be a fraction in [0, 1] or a whole number")
    device = train.get("device", "auto")
    if device == "cuda" and gpu == 0 or device == "cpu" and gpu > 0:
        raise MembenchError(
            f"{where}.gpu: train.device is '{device}' but resources.gpu is {gpu}: set gpu > 0 "
            "to train on GPUs (Ray assigns them), or leave train.device out"
        )
    return Resources(float(cpu), float(gpu))


def check_model_keys(model: dict, where: str) -> None:
    """Types and choices of each key; combinations are checked per variant."""
    if model.get("factory") is not None:  # a user's model takes its own options
        expect(model["factory"], str, f"{where}.factory", "'module:function'")
    else:
        check_model_fields({k: v for k, v in model.items() if k != "factory"}, where)


def check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise MembenchError(f"{where}: bad variant name {name!r}: use letters, digits, _ . + = -")


def make_variant(name: str, model: dict, where: str) -> Variant:
    """A variant from its full model dict, validated strictly unless it is a user's model."""
    model = dict(model)
    factory = model.pop("factory", None)
    if factory is None:
        model_config(model, where)
    else:
        expect(factory, str, f"{where}.factory", "'module:function'")
    return Variant(name, model, factory)


def parse_seeds(raw: Any, where: str) -> list[int]:
    """A count n (seeds 0..n-1) or an explicit list of distinct non-negative integers."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 1:
            raise MembenchError(f"{where}: must be >= 1, got {raw}")
        return list(range(raw))
    expect(raw, list, where, "a count or a list of integers")
    if not raw:
        raise MembenchError(f"{where}: empty list; give a count or at least one seed")
    for seed in raw:
        expect(seed, int, where, "integers")
        if seed < 0:
            raise MembenchError(f"{where}: seeds must be >= 0, got {seed}")
    if len(set(raw)) < len(raw):
        raise MembenchError(f"{where}: repeated seed in {raw}")
    return list(raw)
