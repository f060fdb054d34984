"""pydantic's validation report -> membench's one-line errors: the file or key path, what is
wrong, and what to do (did you mean, the known keys, the allowed range). One formatter for every
config model, so every message reads the same.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from membench.errors import MembenchError
from membench.registry import did_you_mean

TYPES = {"int_type": "int", "float_type": "float", "bool_type": "bool", "string_type": "str"}
WHY = {"lr": "a learning rate of 0 never updates the model"}  # why a bound holds, by key


def unknown_key(where: str, key: Any, known: list[str]) -> MembenchError:
    """The one message for a key that is not one of `known`: did you mean, and what is known."""
    text = f"unknown key '{key}': {did_you_mean(str(key), known)}known: {', '.join(known)}"
    return MembenchError(f"{where}: {text}" if where else text)


def check_keys(data: dict, known: list[str] | tuple[str, ...], where: str) -> None:
    """Raise `unknown_key` for the first key of `data` that is not one of `known`."""
    for key in data:
        if key not in known:
            raise unknown_key(where, key, list(known))


def one_line(err: ValidationError, where: str, cls: type[BaseModel]) -> MembenchError:
    """The first problem of `err` as one MembenchError line, paths starting at `where`."""
    first = err.errors()[0]
    return MembenchError(describe(first, where, cls))


def describe(error: dict[str, Any], where: str, cls: type[BaseModel]) -> str:
    """One pydantic error as `where.key.path: what is wrong`, read against the model class
    that owns the key (`cls` or one nested in it), for its known keys, choices and bounds."""
    loc = [str(part) for part in error["loc"]]
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = loc[-1] if loc else ""
    path = ".".join(filter(None, [where, *loc]))
    owner = owner_of(cls, loc[:-1])
    if kind == "membench_line":  # a message that already names its key path
        return ": ".join(filter(None, [where, ctx["message"]]))
    if kind == "membench_rule":  # a cross-field rule names the key it is about
        return f"{'.'.join(filter(None, [where, *loc, ctx['key']]))}: {ctx['message']}"
    if kind == "extra_forbidden":
        parent = ".".join(filter(None, [where, *loc[:-1]]))
        return str(unknown_key(parent, key, list(owner.model_fields)))
    if kind == "missing":
        field = owner.model_fields.get(key)
        hint = f": {field.description}" if field and field.description else ""
        parent = ".".join(filter(None, [where, *loc[:-1]]))
        return ": ".join(filter(None, [parent, f"missing key '{key}'{hint}"]))
    if kind in ("model_type", "dict_type"):
        return f"{path}: expected a mapping, got {value!r}"
    if kind in TYPES:
        return f"{path}: expected {TYPES[kind]}, got {value!r}"
    if kind == "literal_error":
        choices = [str(c) for c in typing.get_args(owner.model_fields[key].annotation)]
        if not isinstance(value, str):
            return f"{path}: expected str, got {value!r}"
        text = f"{path}: '{value}' is not one of {', '.join(choices)}: "
        return (text + did_you_mean(value, choices)).rstrip(": ")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{path}: {bounds_text(owner, key, kind, ctx)}, got {value}"
    return f"{path}: {error['msg']}"


def owner_of(cls: type[BaseModel], loc: list[str]) -> type[BaseModel]:
    """The model class whose field the last key of a path is: `cls`, or a model nested in it
    through fields typed (optionally) as that model."""
    for part in loc:
        field = cls.model_fields.get(part)
        nested = [t for t in flatten(field.annotation) if is_model(t)] if field else []
        if not nested:
            return cls
        cls = nested[0]
    return cls


def flatten(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation] if not args else [t for a in args for t in flatten(a)]


def is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def bounds_text(cls: type[BaseModel], key: str, kind: str, ctx: dict[str, Any]) -> str:
    """'must be >= 1', 'must be > 0 (why)', or 'must be in [0, 1)' for a field with two bounds."""
    field = cls.model_fields.get(key)
    marks = {type(m): m for m in (field.metadata if field else [])}
    low = marks.get(Ge) or marks.get(Gt)
    high = marks.get(Le) or marks.get(Lt)
    if low is not None and high is not None:
        lo = f"[{low.ge:g}" if isinstance(low, Ge) else f"({low.gt:g}"
        hi = f"{high.le:g}]" if isinstance(high, Le) else f"{high.lt:g})"
        return f"must be in {lo}, {hi}"
    sign = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
    bound = next(iter(ctx.values()))
    why = f" ({WHY[key]})" if key in WHY else ""
    return f"must be {sign} {bound:g}{why}"


@functools.cache
def field_adapter(cls: type[BaseModel], key: str) -> TypeAdapter:
    field = cls.model_fields[key]
    return TypeAdapter(Annotated[field.annotation, field], config=ConfigDict(strict=True))


def check_fields(cls: type[BaseModel], values: dict[str, Any], where: str) -> None:
    """Each of `values` on its own against `cls`'s fields (name, type, range, choice), without
    the rules between fields: for a partial config that other parts complete."""
    check_keys(values, list(cls.model_fields), where)
    for key, value in values.items():
        try:
            field_adapter(cls, key).validate_python(value)
        except ValidationError as err:
            first = err.errors()[0]
            raise MembenchError(describe({**first, "loc": (key,)}, where, cls)) from None
